"""Write a file, write a function (and call it), convert files: the file the goal names must really exist."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from agent.tune.families import content as c
from agent.tune.families.base import Draw, Plan, call, finish, last_output, python_check
from agent.tune.families.functions import SPECS, FunctionSpec
from agent.tune.families.more_functions import MORE_SPECS

MODULES = ("textkit", "numbers_lib", "calc", "wordplay", "listops", "mathbits", "strings_lib", "geometry",
           "timekit", "scorer", "formulas", "toolbox", "mini", "kit", "funcs", "ops")


def pick_spec(d: Draw) -> FunctionSpec:
    """A function to write or repair: from the original pool, or, with probability `d.function_variety`,
    from the larger one. The draw's own generator for this decides, so at 0 every other choice is as it was."""
    if d.functions is not None and d.functions.random() < d.function_variety:
        return d.functions.choice(d.part(MORE_SPECS))
    return d.pick(SPECS)


# -- write a file -------------------------------------------------------------------------------------


def write_lines(d: Draw) -> Plan:
    path = d.name(("names.txt", "guests.txt", "list.txt", "cities.txt", "team.txt", "words.txt", "plan.txt",
                   "shopping.txt"))
    pool = d.choice([c.FIRST_NAMES, c.CITIES, c.WORDS, c.GOODS])
    items = d.sample(pool, d.randint(3, 6))
    listed = ", ".join(items[:-1]) + " and " + items[-1]
    goal = d.wording([
        "Write {i} to {f}, one per line.", "Create {f} with these lines: {i}.",
        "Save {i} into {f}, each on its own line.", "Make a file {f} listing {i}, one item per line.",
        "Put {i} in {f}, one per line, in that order.", "Store the items {i} in {f}, a line each.",
        "I need {f} with {i} on separate lines.", "Write the list {i} to the file {f}, line by line.",
    ], i=listed, f=path)
    text = "\n".join(items) + "\n"
    check = python_check(f"assert open('{path}').read().split() == {items!r}")
    steps = (call("write_file", path=path, content=text), finish(f"Wrote {len(items)} lines to {path}."))
    return Plan(goal, {}, check, steps, max_steps=5)


def write_sentence(d: Draw) -> Plan:
    path = d.name(("hello.txt", "message.txt", "greeting.txt", "note.txt", "motto.txt", "sign.txt", "card.txt",
                   "banner.txt"))
    name, city = d.pick(c.FIRST_NAMES), d.pick(c.CITIES)
    sentence = d.choice([f"Welcome to {city}, {name}!", f"{name} arrives in {city} on {d.choice(c.WEEKDAYS)}.",
                         f"Meet {name} at the {city} station.", f"Greetings from {city}."])
    goal = d.wording([
        "Create {f} containing exactly this text: {s}", "Write the sentence \"{s}\" to {f}.",
        "Save \"{s}\" in a new file {f}.", "Make {f} with the single line: {s}",
        "Put the text \"{s}\" into {f}.", "Write {f}; its content should be: {s}",
        "Store this line in {f}: {s}", "Please create the file {f} that says \"{s}\"",
    ], f=path, s=sentence)
    check = python_check(f"assert open('{path}').read().strip() == {sentence!r}")
    steps = (call("write_file", path=path, content=sentence + "\n"), finish(f"{path} now says: {sentence}"))
    return Plan(goal, {}, check, steps, max_steps=5)


def write_json(d: Draw) -> Plan:
    path = d.name(("config.json", "profile.json", "settings.json", "user.json", "job.json", "device.json",
                   "entry.json", "record.json"))
    data = {"name": d.pick(c.FIRST_NAMES), "city": d.pick(c.CITIES), "age": d.randint(18, 80)}
    goal = d.wording([
        "Create {f} with the keys name = {name}, city = {city} and age = {age} (a number).",
        "Write a JSON object to {f}: name {name}, city {city}, age {age}.",
        "Save {f} as JSON with name \"{name}\", city \"{city}\" and the number {age} as age.",
        "Make {f} holding {{\"name\": \"{name}\", \"city\": \"{city}\", \"age\": {age}}}.",
        "Store name {name}, city {city} and age {age} in {f} as a JSON object.",
        "Write {f} containing a JSON object whose name is {name}, city is {city}, age is {age}.",
        "I need {f}: a JSON object with name={name}, city={city}, age={age}.",
        "Produce the JSON file {f} with fields name ({name}), city ({city}) and age ({age}).",
    ], f=path, **data)
    check = python_check(f"assert json.load(open('{path}')) == {data!r}")
    steps = (call("write_file", path=path, content=json.dumps(data) + "\n"), finish(f"Wrote {path}."))
    return Plan(goal, {}, check, steps, max_steps=5)


# -- write a function ----------------------------------------------------------------------------------


def _function_asserts(module: str, spec: FunctionSpec) -> str:
    asserts = "\n".join(f"assert {spec.name}(*{args!r}) == {want!r}, {spec.name}(*{args!r})"
                        for args, want in zip(spec.calls, spec.results(), strict=True))
    return f"from {module} import {spec.name}\n{asserts}"


def write_function(d: Draw) -> Plan:
    spec, module = pick_spec(d), d.name(MODULES)
    described = d.choice(spec.describe).format(f=spec.signature)  # the function itself is split
    goal = d.wording([
        "Put a function {d} into a new file {m}.py.", "Create {m}.py containing {d}.",
        "In a new file {m}.py, define {d}.", "Add a module {m}.py with {d}.",
        "Please write {m}.py: it needs {d}.", "Make {m}.py that defines {d}.",
        "I want a Python file {m}.py with {d}.", "Implement {d} in {m}.py.",
    ], m=module, d=described)
    args = spec.calls[0]
    test = f"from {module} import {spec.name}\nprint({spec.name}(*{args!r}))"
    steps = (call("write_file", path=f"{module}.py", content=spec.body), call("run_python", code=test),
             finish(lambda seen: f"Wrote {module}.py with {spec.signature}; {spec.name}{_args(args)} returns "
                                 f"{last_output(seen)}."))
    return Plan(goal, {}, python_check(_function_asserts(module, spec)), steps, max_steps=8)


def write_and_call(d: Draw) -> Plan:
    spec, module = pick_spec(d), d.name(MODULES)
    args = d.choice(spec.calls)
    want = spec.run(spec.body, args)
    described = d.choice(spec.describe).format(f=spec.signature)  # the function itself is split
    goal = d.wording([
        "Write {m}.py with {d}, then use it to compute {n}{a} and tell me the result.",
        "Create {m}.py containing {d}. What does {n}{a} return?",
        "Define {d} in {m}.py and report the value of {n}{a}.",
        "Put {d} in {m}.py, call {n}{a} and give me the answer.",
        "Make {m}.py with {d}; then run {n}{a} and tell me what it gives.",
        "Implement {d} in {m}.py and use it to find {n}{a}.",
        "Write {d} into {m}.py and tell me {n}{a}.",
        "Add {d} to a new {m}.py, then call it as {n}{a} and answer with the result.",
    ], m=module, d=described, n=spec.name, a=_args(args))
    test = f"from {module} import {spec.name}\nprint({spec.name}(*{args!r}))"
    steps = (call("write_file", path=f"{module}.py", content=spec.body), call("run_python", code=test),
             finish(last_output))
    stated = f"assert {str(want)!r} in ANSWER, ANSWER"  # the value as Python prints it
    return Plan(goal, {}, python_check(_function_asserts(module, spec) + "\n" + stated), steps, max_steps=8)


def _args(args: tuple) -> str:
    return "(" + ", ".join(map(repr, args)) + ")"


# -- convert files ---------------------------------------------------------------------------------------


def _people(d: Draw) -> list[dict]:
    return [{"name": n, "age": d.randint(18, 80), "city": d.pick(c.CITIES)}
            for n in d.sample(c.FIRST_NAMES, d.randint(3, 7))]


def csv_to_json(d: Draw) -> Plan:
    rows = _people(d)
    src, dst = d.name(("members.csv", "guests.csv", "crew.csv", "players.csv")), d.name(
        ("members.json", "guests.json", "crew.json", "players.json"))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["name", "age", "city"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    goal = d.wording([
        "Turn each row of {s} into an object in {t} (JSON array; keep name, city, and age as a number).",
        "Turn {s} into {t}, a list of JSON objects; age must be an integer.",
        "Read {s} and save its rows to {t} as JSON objects (name, age as int, city).",
        "Make {t} from {s}: one JSON object per row, with age as a number.",
        "Store the rows of {s} in {t} as JSON, one object each, age numeric.",
        "Export {s} as JSON to {t}, keeping name, age (integer) and city.",
        "Change {s} into JSON and store it in {t}; age should be a number.",
        "Create {t} holding the records of {s} as JSON, with integer ages.",
    ], s=src, t=dst)
    code = (f"import csv, json\nrows = list(csv.DictReader(open('{src}')))\n"
            "for r in rows:\n    r['age'] = int(r['age'])\n"
            f"json.dump(rows, open('{dst}', 'w'), indent=2)\nprint(len(rows))")
    check = python_check(f"assert json.load(open('{dst}')) == {rows!r}")
    steps = (call("run_python", code=code), finish(lambda seen: f"Wrote {last_output(seen)} records to {dst}."))
    return Plan(goal, {src: buffer.getvalue()}, check, steps, max_steps=6)


def json_to_csv(d: Draw) -> Plan:
    rows = _people(d)
    src, dst = d.name(("people.json", "staff.json", "visitors.json", "roster.json")), d.name(
        ("people.csv", "staff.csv", "visitors.csv", "roster.csv"))
    goal = d.wording([
        "Rewrite the JSON array in {s} as the CSV file {t} (columns name, age, city).",
        "Turn the records of {s} into a CSV file {t} with a header row.",
        "Write {t} from {s}: one row per object, columns name, age and city.",
        "Export {s} to CSV as {t} (header: name,age,city).",
        "Make a CSV {t} out of the JSON list in {s}.",
        "Save the objects in {s} as rows of {t}, with a header line.",
        "Change {s} into CSV format and store it as {t}.",
        "Create {t} containing the entries of {s} as comma-separated rows with a header.",
    ], s=src, t=dst)
    code = (f"import csv, json\nrows = json.load(open('{src}'))\nwith open('{dst}', 'w', newline='') as f:\n"
            "    writer = csv.DictWriter(f, fieldnames=['name', 'age', 'city'])\n    writer.writeheader()\n"
            "    writer.writerows(rows)\nprint(len(rows))")
    want = [{k: str(v) for k, v in r.items()} for r in rows]
    check = python_check(f"import csv\nassert [dict(r) for r in csv.DictReader(open('{dst}'))] == {want!r}")
    steps = (call("run_python", code=code), finish(lambda seen: f"Wrote {last_output(seen)} rows to {dst}."))
    return Plan(goal, {src: json.dumps(rows, indent=2) + "\n"}, check, steps, max_steps=6)


def transform_lines(d: Draw) -> Plan:
    src = d.name(("words.txt", "items.txt", "tags.txt", "names.txt", "list.txt", "entries.txt", "input.txt",
                  "raw.txt"))
    dst = d.name(("out.txt", "result.txt", "clean.txt", "sorted.txt", "final.txt", "output.txt", "done.txt",
                  "new.txt"))
    items = [d.pick(c.WORDS) for _ in range(d.randint(4, 9))]
    kind = d.choice(["sort", "upper", "unique", "number"])
    expected, code_expr, wording = {
        "sort": (sorted(items), "sorted(lines)", "sorted alphabetically"),
        "upper": ([w.upper() for w in items], "[line.upper() for line in lines]", "in upper case"),
        "unique": (list(dict.fromkeys(items)), "list(dict.fromkeys(lines))", "without duplicates (first ones kept)"),
        "number": ([f"{i}. {w}" for i, w in enumerate(items, 1)],
                   "[f'{i}. {line}' for i, line in enumerate(lines, 1)]", "numbered like '1. word'"),
    }[kind]
    goal = d.wording([
        "Write the lines of {s} to {t}, {w}.", "Copy {s} into {t} with its lines {w}.",
        "Make {t} from {s}: the same lines, {w}.", "Save {s} as {t} after putting its lines {w}.",
        "Create {t} containing the lines of {s} {w}.", "Produce {t}: every line of {s}, {w}.",
        "Take the lines in {s} and write them {w} to {t}.", "Put the lines of {s} into {t}, {w}.",
    ], s=src, t=dst, w=wording)
    code = (f"lines = open('{src}').read().splitlines()\nresult = {code_expr}\n"
            f"open('{dst}', 'w').write('\\n'.join(result) + '\\n')\nprint(len(result))")
    check = python_check(f"assert open('{dst}').read().splitlines() == {expected!r}")
    steps = (call("run_python", code=code), finish(lambda seen: f"Wrote {last_output(seen)} lines to {dst}."))
    return Plan(goal, {src: "\n".join(items) + "\n"}, check, steps, max_steps=6)


WRITE_KINDS: dict[str, Callable[[Draw], Plan]] = {
    "write_lines": write_lines, "write_sentence": write_sentence, "write_json": write_json,
}
FUNCTION_KINDS: dict[str, Callable[[Draw], Plan]] = {"write_function": write_function, "write_and_call": write_and_call}
CONVERT_KINDS: dict[str, Callable[[Draw], Plan]] = {
    "csv_to_json": csv_to_json, "json_to_csv": json_to_csv, "transform_lines": transform_lines,
}
