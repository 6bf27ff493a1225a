"""Read and answer, count and search: questions about the workspace's files, answered from what the tools show."""

from __future__ import annotations

from collections.abc import Callable

from agent.tune.families import content as c
from agent.tune.families.base import (
    Draw,
    Plan,
    answer_has,
    call,
    finish,
    last_output,
    mistake,
)

NOTE_FILES = ("notes.txt", "memo.txt", "info.txt", "handover.md", "minutes.txt", "reminder.txt", "log.md",
              "brief.txt")
FILLER = (
    "Bring the signed forms to the front desk.", "The printer on floor two is out of toner.",
    "Lunch will be served at noon.", "Please water the plants on Fridays.", "Parking is free after six.",
    "The fire drill is planned for next week.", "Remember to lock the storage room.",
    "New chairs arrive on Tuesday.", "Coffee beans are in the top cupboard.", "Badges must be worn at all times.",
    "The elevator is being repaired.", "Visitors sign in at reception.", "The cafeteria closes early today.",
    "Recycling bins are now by the back door.", "Keep the meeting room tidy.", "The heating is off on weekends.",
)


def _read_then_answer(d: Draw, goal: str, files: dict[str, str], path: str, answer: str, check: str) -> Plan:
    """read_file, then finish with the value; sometimes a wrong name first, repaired from the error's file list."""
    steps = [call("read_file", path=path), finish(answer)]
    wrong = _near_miss(path) if d.chance(0.2) else None
    if wrong is not None and wrong not in files:
        steps.insert(0, mistake("read_file", path=wrong))
    return Plan(goal, files, check, tuple(steps), max_steps=5, recovery=len(steps) == 3)


def _near_miss(path: str) -> str | None:
    stem, dot, ext = path.rpartition(".")
    if not dot:
        return None
    return f"{stem[:-1]}.{ext}" if stem.endswith("s") else f"{stem}s.{ext}"


# -- read and answer ---------------------------------------------------------------------------------


NOTE_FACTS = {  # kind -> (line with the value, questions about it)
    "code": ("The door code word this month is {v}.", (
        "What is the code word in {f}?", "Which code word does {f} give for the door?",
        "Look in {f}: what is this month's door code word?", "Tell me the door code word written in {f}.")),
    "room": ("The workshop moved to room {v}.", (
        "Which room is the workshop in, according to {f}?", "What room number does {f} give for the workshop?",
        "Read {f} and tell me the workshop's room.", "Where is the workshop now? Check {f}.")),
    "time": ("The team call starts at {v} sharp.", (
        "At what time does the team call start, according to {f}?", "When is the team call? It's in {f}.",
        "What start time does {f} give for the team call?", "Check {f}: what time is the team call?")),
    "owner": ("{v} is in charge of the keys.", (
        "Who is in charge of the keys, according to {f}?", "Which person does {f} say holds the keys?",
        "Read {f}: who looks after the keys?", "Name the person responsible for the keys in {f}.")),
}


def fact_in_notes(d: Draw) -> Plan:
    path = d.pick(NOTE_FILES)
    kind = d.choice(list(NOTE_FACTS))
    value = {"code": lambda: d.pick(c.WORDS), "room": lambda: str(d.randint(100, 999)),
             "time": lambda: f"{d.randint(7, 18)}:{d.choice(['00', '15', '30', '45'])}",
             "owner": lambda: d.pick(c.FIRST_NAMES)}[kind]()
    line, questions = NOTE_FACTS[kind]
    lines = d.rng.sample(d.part(FILLER), d.randint(2, 4))
    lines.insert(d.randint(0, len(lines)), line.format(v=value))
    goal = d.wording(questions, f=path)
    return _read_then_answer(d, goal, {path: "\n".join(lines) + "\n"}, path, value, answer_has(value))


def config_value(d: Draw) -> Plan:
    path = d.name(("app.ini", "config.ini", "server.cfg", "deploy.ini", "service.conf", "settings.cfg",
                   "local.ini", "site.conf"))
    sections = d.rng.sample(["database", "cache", "mail", "queue", "api", "storage", "auth", "metrics"], 3)
    blocks, table = [], {}
    for section in sections:
        values = {"host": f"{d.pick(c.WORDS)}.internal", "port": str(d.randint(1025, 65000)),
                  "timeout": str(d.randint(2, 120)), "user": d.pick(c.FIRST_NAMES).lower()}
        keys = d.rng.sample(list(values), 3)
        table[section] = {k: values[k] for k in keys}
        blocks.append(f"[{section}]\n" + "\n".join(f"{k} = {values[k]}" for k in keys))
    section = d.choice(sections)
    key = d.choice(list(table[section]))
    value = table[section][key]
    goal = d.wording([
        "What is the {k} of the {s} section in {f}?", "In {f}, which {k} does [{s}] use?",
        "Find the {k} setting under [{s}] in {f}.", "Tell me the value of {k} in the {s} part of {f}.",
        "Look up {s}.{k} in {f}.", "Which value has {k} in section {s} of {f}?",
        "Read {f} and give me the {k} configured for {s}.", "What does {f} set as {k} for {s}?",
    ], k=key, s=section, f=path)
    return _read_then_answer(d, goal, {path: "\n\n".join(blocks) + "\n"}, path, value, answer_has(value))


def profile_field(d: Draw) -> Plan:
    path = d.name(("profile.txt", "contact.txt", "member.txt", "employee.txt", "card.txt", "person.txt",
                   "badge.txt", "account.txt"))
    first, last = d.pick(c.FIRST_NAMES), d.pick(c.LAST_NAMES)
    fields = {"City": d.pick(c.CITIES), "Team": d.pick(c.TEAMS), "Phone": f"555-{d.randint(1000, 9999)}",
              "Email": f"{first.lower()}.{last.lower()}@example.org", "Start year": str(d.randint(1995, 2026))}
    text = f"Name: {first} {last}\n" + "".join(f"{k}: {v}\n" for k, v in fields.items())
    key = d.choice(list(fields))
    questions = {
        "City": ["Which city does the person in {f} live in?", "What city is listed in {f}?",
                 "Where does {n} live? See {f}.", "Which town is given in {f}?"],
        "Team": ["Which team is {n} on, according to {f}?", "What team does {f} list?",
                 "Find the team named in {f}.", "Tell me the team of the person in {f}."],
        "Phone": ["What is the phone number in {f}?", "Give me {n}'s phone number from {f}.",
                  "Which phone number does {f} list?", "Read {f}: what is the phone number?"],
        "Email": ["What email address is in {f}?", "Give me the email of {n} from {f}.",
                  "Which email does {f} list?", "Find the email address written in {f}."],
        "Start year": ["In which year did {n} start, according to {f}?", "What start year does {f} give?",
                       "When did the person in {f} start? Give the year.", "Read {f}: which year is the start year?"],
    }[key]
    goal = d.wording(questions, f=path, n=first)
    value = fields[key]
    return _read_then_answer(d, goal, {path: text}, path, value, answer_has(value))


# -- count and search ----------------------------------------------------------------------------------


def _count_plan(goal: str, files: dict[str, str], code: str, expected: str) -> Plan:
    return Plan(goal, files, answer_has(expected), (call("run_python", code=code), finish(last_output)),
                max_steps=6)


def _log_lines(d: Draw, count: int) -> list[str]:
    day = d.randint(1, 20)
    return [f"2026-03-{day:02d} {8 + i // 6:02d}:{(i * 7) % 60:02d} {d.choice(c.LOG_LEVELS)} "
            f"{d.choice(['job', 'request', 'upload', 'backup', 'login', 'sync'])} {d.randint(1, 99)}"
            for i in range(count)]


def count_lines(d: Draw) -> Plan:
    path = d.name(("app.log", "events.log", "access.log", "jobs.log", "worker.log", "audit.log", "cron.log",
                   "sync.log"))
    lines = _log_lines(d, d.randint(5, 25))
    goal = d.wording([
        "How many lines are in {f}?", "Count the lines of {f}.", "Tell me the number of lines in {f}.",
        "What is the line count of {f}?", "How long is {f} in lines?", "Find out how many lines {f} has.",
        "Give me the number of lines that {f} contains.", "Count how many lines the file {f} has.",
    ], f=path)
    return _count_plan(goal, {path: "\n".join(lines) + "\n"},
                       f"print(len(open('{path}').read().splitlines()))", str(len(lines)))


def count_level(d: Draw) -> Plan:
    path = d.name(("app.log", "events.log", "service.log", "jobs.log", "worker.log", "system.log",
                   "batch.log", "daemon.log"))
    lines = _log_lines(d, d.randint(6, 22))
    level = d.choice(["WARN", "ERROR", "DEBUG"])
    expected = sum(f" {level} " in line for line in lines)
    goal = d.wording([
        "How many {l} lines does {f} have?", "Count the {l} entries in {f}.",
        "How many lines of {f} are at level {l}?", "Tell me how many {l} messages {f} contains.",
        "Count the lines in {f} that contain {l}.", "What is the number of {l} lines in {f}?",
        "How often does the level {l} appear in {f}?", "Give me the count of {l} log lines in {f}.",
    ], l=level, f=path)
    code = f"lines = open('{path}').read().splitlines()\nprint(sum(' {level} ' in line for line in lines))"
    return _count_plan(goal, {path: "\n".join(lines) + "\n"}, code, str(expected))


def count_words(d: Draw) -> Plan:
    path = d.name(("story.md", "essay.txt", "letter.txt", "speech.txt", "poem.txt", "draft.md", "review.txt",
                   "note.md"))
    words = [d.pick(c.WORDS) for _ in range(d.randint(12, 60))]
    text = "\n".join(" ".join(words[i:i + 7]) for i in range(0, len(words), 7)) + "\n"
    goal = d.wording([
        "How many words does {f} contain?", "Count the words in {f}.", "What is the word count of {f}?",
        "Tell me how many words are in {f}.", "Find the number of words in {f}.", "How long is {f} in words?",
        "Give me the total number of words in {f}.", "Count every word of {f}.",
    ], f=path)
    return _count_plan(goal, {path: text}, f"print(len(open('{path}').read().split()))", str(len(words)))


def count_word(d: Draw) -> Plan:
    path = d.name(("story.md", "essay.txt", "letter.txt", "speech.txt", "poem.txt", "draft.md", "chant.txt",
                   "song.txt"))
    vocabulary = d.sample(c.WORDS, 6)
    target = vocabulary[0]
    words = [d.choice(vocabulary) for _ in range(d.randint(15, 50))]
    words = [w.capitalize() if d.chance(0.2) else w for w in words]
    text = "\n".join(" ".join(words[i:i + 6]) for i in range(0, len(words), 6)) + "\n"
    expected = sum(w.lower() == target for w in words)
    goal = d.wording([
        "How many times does the word {w} appear in {f}?", "Count how often {w} occurs in {f} (any case).",
        "How often is {w} used in {f}?", "Tell me the number of times {f} says {w}.",
        "Count the occurrences of the word {w} in {f}, ignoring case.", "In {f}, how many times is {w} written?",
        "Find how many times {w} shows up in {f}.", "What is the count of the word {w} in {f}?",
    ], w=target, f=path)
    code = (f"import re\ntext = open('{path}').read().lower()\n"
            f"print(len(re.findall(r'\\b{target}\\b', text)))")
    return _count_plan(goal, {path: text}, code, str(expected))


def which_file(d: Draw) -> Plan:
    folders = d.rng.sample(["docs", "notes", "archive", "drafts", "inbox", "work"], 2)
    topics = d.sample(c.WORDS, 4)
    files: dict[str, str] = {}
    for i, topic in enumerate(topics):
        name = f"{d.choice(folders)}/{d.pick(c.WORDS)}_{i}.txt"
        files[name] = f"This page is about the {topic} project.\n{d.pick(FILLER)}\n"
    pick = d.randint(0, len(topics) - 1)
    target_path, target = list(files)[pick], topics[pick]
    goal = d.wording([
        "Which file in this workspace is about the {t} project? Give its path.",
        "One file mentions the {t} project. Which one is it?", "Find the file that talks about {t}.",
        "Tell me the path of the file about the {t} project.", "Search the files for {t} and name the file.",
        "Which of these files describes the {t} project?", "Locate the file that mentions {t}; answer with its path.",
        "What is the path of the file that is about {t}?",
    ], t=target)
    code = ("import os\nfor root, _, names in os.walk('.'):\n    for name in names:\n"
            "        path = os.path.join(root, name)\n"
            f"        if '{target}' in open(path, errors='ignore').read():\n            print(path[2:])")
    return Plan(goal, files, answer_has(target_path.rsplit("/", 1)[-1]),
                (call("run_python", code=code), finish(last_output)), max_steps=6)


def count_ext(d: Draw) -> Plan:
    folder = d.pick(("src", "docs", "data", "lib", "assets", "reports", "scripts", "pages"))
    ext = d.choice(["py", "md", "txt", "csv", "json"])
    files = {}
    for i in range(d.randint(4, 10)):
        name_ext = ext if d.chance(0.45) else d.choice(c.EXTENSIONS)
        files[f"{folder}/{d.pick(c.WORDS)}{i}.{name_ext}"] = "x\n"
    files[f"top.{ext}"] = "outside the folder\n"
    expected = sum(1 for p in files if p.startswith(folder + "/") and p.endswith("." + ext))
    goal = d.wording([
        "In {f}/, count the files whose names end in .{e}.", "Count the .{e} files inside {f}.",
        "How many files ending in .{e} does {f} hold?", "Tell me the number of .{e} files in {f}/.",
        "In the folder {f}, how many files have the extension .{e}?", "Count files with suffix .{e} in {f}.",
        "What is the number of .{e} files under {f}?", "How many {e} files are there in {f}?",
    ], e=ext, f=folder)
    code = f"import os\nprint(sum(1 for name in os.listdir('{folder}') if name.endswith('.{ext}')))"
    return _count_plan(goal, files, code, str(expected))


def line_of_word(d: Draw) -> Plan:
    path = d.name(("poem.txt", "list.txt", "names.txt", "items.md", "words.txt", "lines.txt", "entries.txt",
                   "rows.txt"))
    words = d.sample(c.WORDS, d.randint(5, 12))
    target_index = d.randint(0, len(words) - 1)
    goal = d.wording([
        "On which line of {f} is the word {w}? Lines count from 1.", "What line number holds {w} in {f}?",
        "Find the line of {f} that says {w} and give its number (first line = 1).",
        "Tell me the line number of {w} in {f}.", "Which line (1-based) of {f} contains {w}?",
        "Where in {f} is {w}? Give the line number.", "Search {f} for {w}; on what line is it?",
        "Give the 1-based line number of {w} in {f}.",
    ], f=path, w=words[target_index])
    code = (f"for number, line in enumerate(open('{path}'), start=1):\n"
            f"    if '{words[target_index]}' in line:\n        print(number)")
    return _count_plan(goal, {path: "\n".join(words) + "\n"}, code, str(target_index + 1))


READ_KINDS: dict[str, Callable[[Draw], Plan]] = {
    "fact_in_notes": fact_in_notes, "config_value": config_value, "profile_field": profile_field,
}
SEARCH_KINDS: dict[str, Callable[[Draw], Plan]] = {
    "count_lines": count_lines, "count_level": count_level, "count_words": count_words,
    "count_word": count_word, "which_file": which_file, "count_ext": count_ext, "line_of_word": line_of_word,
}
