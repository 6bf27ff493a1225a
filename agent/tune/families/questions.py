"""Questions about a table or a JSON document that do not name its columns or keys ("which driver in
trips.csv drove the furthest?"): the file is read first, and the code uses the names it shows.

The csv_json family's goals name the column they ask about, so a model trained on them writes code at once
and guesses the names when a goal does not give them. Here the first step is always the look."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from agent.tune.families import content as c
from agent.tune.families.base import Draw, Plan, answer_has, call, finish, last_output, number
from agent.tune.families.tables import Table, random_table, single_extreme


@dataclass(frozen=True)
class RowWords:
    """How a goal speaks of one kind of table without naming its columns."""

    thing: str  # what one row is
    things: str
    member: str  # rows in one group of the group column, `{x}` the group's value
    heldout_member: str  # the same, in words that training draws never use
    values: dict[str, tuple[str, str, str]]  # value column -> (its noun, the most, the least)


ROW_WORDS = {  # keyed by the table's key column (agent.tune.families.tables.random_table)
    "item": RowWords("item", "items", "belong to the {x} category", "are filed under {x}", {
        "price": ("price", "costs the most", "is the cheapest"),
        "stock": ("stock level", "has the most units in stock", "has the fewest units in stock")}),
    "name": RowWords("person", "people", "work in the {x} team", "are part of {x}", {
        "salary": ("salary", "earns the most", "earns the least"),
        "age": ("age", "is the oldest", "is the youngest")}),
    "city": RowWords("city", "cities", "were measured in the month {x}", "have readings for {x}", {
        "temp": ("temperature", "was the warmest", "was the coldest"),
        "rain_mm": ("rainfall", "had the most rain", "had the least rain")}),
    "student": RowWords("student", "students", "take {x}", "are enrolled in {x}", {
        "score": ("score", "scored the best", "scored the worst")}),
    "order": RowWords("order", "orders", "are {x}", "are flagged {x}", {
        "total": ("order amount", "is the biggest", "is the smallest")}),
    "driver": RowWords("driver", "drivers", "drove in the {x} area", "worked the {x} zone", {
        "km": ("distance", "drove the furthest", "drove the shortest distance"),
        "fare": ("fare", "took the highest fare", "took the lowest fare")}),
}


def _look_then_compute(table: Table, goal: str, code: str, expected: str) -> Plan:
    steps = (call("read_file", path=table.path), call("run_python", code=code), finish(last_output))
    return Plan(goal, {table.path: table.text()}, answer_has(expected), steps, max_steps=8)


def _member(d: Draw, words: RowWords, group: str) -> str:
    return (words.heldout_member if d.split == "heldout" else words.member).format(x=group)


def _reader(path: str) -> str:
    return f"import csv\nrows = list(csv.DictReader(open('{path}')))\n"


def ask_count(d: Draw) -> Plan:
    t = random_table(d)
    words = ROW_WORDS[t.key]
    group = d.choice([r[t.group] for r in t.rows])
    goal = d.wording([
        "How many {ts} in {f} {m}?", "In {f}, how many of the {ts} {m}?", "Count the {ts} in {f} that {m}.",
        "Tell me how many {ts} listed in {f} {m}.", "Of the {ts} in {f}, how many {m}?",
        "I need the number of {ts} in {f} that {m}.", "Check {f}: how many {ts} {m}?",
        "Find out how many {ts} from {f} {m}.",
    ], ts=words.things, f=t.path, m=_member(d, words, group))
    code = _reader(t.path) + f"print(sum(1 for r in rows if r['{t.group}'] == '{group}'))"
    return _look_then_compute(t, goal, code, str(sum(r[t.group] == group for r in t.rows)))


def ask_extreme(d: Draw) -> Plan:
    t = random_table(d)
    words = ROW_WORDS[t.key]
    noun, most, least = words.values[t.value]
    highest = d.chance(0.6)
    pick = single_extreme(t, highest)
    goal = d.wording([
        "Which {t} in {f} {w}?", "In {f}, which {t} {w}?", "Name the {t} from {f} that {w}.",
        "Look at {f} and tell me which {t} {w}.", "Tell me the {t} in {f} that {w}.",
        "Who or what {w} in {f}? Give the {t}.", "Find the {t} that {w}, using {f}.",
        "From {f}: which {t} {w}?",
    ], t=words.thing, f=t.path, w=most if highest else least)
    best = "max" if highest else "min"
    code = _reader(t.path) + f"print({best}(rows, key=lambda r: float(r['{t.value}']))['{t.key}'])"
    return _look_then_compute(t, goal, code, pick[t.key])


def ask_average(d: Draw) -> Plan:
    t = random_table(d)
    words = ROW_WORDS[t.key]
    noun = words.values[t.value][0]
    values = [float(r[t.value]) for r in t.rows]
    goal = d.wording([
        "What is the average {n} of the {ts} in {f}? One decimal place.",
        "Give me the mean {n} over the {ts} in {f}, to one decimal.",
        "On average, what {n} do the {ts} in {f} have? Round to a tenth.",
        "Work out the average {n} in {f} (one decimal).",
        "Tell me the mean {n} of all {ts} listed in {f}, to one decimal place.",
        "How high, on average, is the {n} in {f}? One decimal, please.",
        "Compute the average {n} across {f}, rounded to a tenth.",
        "What mean {n} does {f} show for its {ts}? Use one decimal.",
    ], n=noun, ts=words.things, f=t.path)
    code = _reader(t.path) + (f"values = [float(r['{t.value}']) for r in rows]\n"
                              "print(round(sum(values) / len(values), 1))")
    return _look_then_compute(t, goal, code, number(round(sum(values) / len(values), 1)))


def ask_total(d: Draw) -> Plan:
    t = random_table(d)
    words = ROW_WORDS[t.key]
    noun = words.values[t.value][0]
    total = round(sum(float(r[t.value]) for r in t.rows), 2)
    goal = d.wording([
        "What is the combined {n} of all the {ts} in {f}?", "Add up the {n} of every {t} in {f}.",
        "What do the {ts} in {f} come to in {n}, all together?", "Tell me the total {n} over the {ts} of {f}.",
        "Summing over {f}, what {n} do the {ts} reach?", "How much {n} is there in {f} in total?",
        "Give me the overall {n} of the {ts} in {f}.", "Total up the {n} across all {ts} of {f}.",
    ], n=noun, ts=words.things, t=words.thing, f=t.path)
    code = _reader(t.path) + f"print(round(sum(float(r['{t.value}']) for r in rows), 2))"
    return _look_then_compute(t, goal, code, number(total))


# -- JSON whose shape the goal does not give ---------------------------------------------------------------

FLAGS = (  # how a document marks an account active: (key, value when active, value when not)
    ("active", True, False), ("enabled", True, False), ("is_active", True, False),
    ("status", "active", "inactive"), ("state", "on", "off"),
)


def ask_json_count(d: Draw) -> Plan:
    path = d.name(("accounts.json", "members.json", "logins.json", "staff.json", "clients.json",
                   "players.json", "subscribers.json", "contacts.json"))
    key, on, off = d.choice(FLAGS)
    people = [{"name": n.lower(), key: on if d.chance(0.55) else off, "role": d.choice(["admin", "editor", "viewer"])}
              for n in d.sample(c.FIRST_NAMES, d.randint(4, 9))]
    wrapper = d.choice([None, "users", "members", "accounts", "items", "records"])
    doc = people if wrapper is None else {"updated": f"2026-0{d.randint(1, 9)}-1{d.randint(0, 9)}", wrapper: people}
    active = d.chance(0.6)
    subject = d.choice(["accounts", "users", "members", "entries"])
    state = "active" if active else "inactive"
    goal = d.wording([
        "How many {s} listed in {f} are {a}?", "Count the {a} {s} in {f}.", "In {f}, how many {s} are {a}?",
        "Tell me the number of {a} {s} listed in {f}.", "How many of the {s} in {f} are {a}?",
        "What is the count of {a} {s} in {f}?", "Check {f}: how many {s} are {a}?",
        "Find how many {s} {f} marks as {a}.",
    ], s=subject, f=path, a=state)
    load = f"import json\ndata = json.load(open('{path}'))\n"
    load += "people = data\n" if wrapper is None else f"people = data['{wrapper}']\n"
    code = load + f"print(sum(1 for p in people if p['{key}'] == {(on if active else off)!r}))"
    expected = sum(p[key] == (on if active else off) for p in people)
    steps = (call("read_file", path=path), call("run_python", code=code), finish(last_output))
    return Plan(goal, {path: json.dumps(doc, indent=2) + "\n"}, answer_has(str(expected)), steps, max_steps=8)


SECTION_KEYS = {  # a key several sections of one document share -> how a goal says it
    "timeout_s": "timeout in seconds", "retries": "number of retries", "port": "port",
    "max_items": "maximum number of items", "interval_ms": "interval in milliseconds",
}
SECTIONS = ("upload", "download", "cache", "search", "billing", "reports", "login", "export", "sync",
            "alerts", "backup", "import")


def ask_json_setting(d: Draw) -> Plan:
    """The same key in several sections; the goal names the section in words, the answer is read off."""
    path = d.name(("service.json", "pipeline.json", "deploy.json", "worker.json", "app.json", "daemon.json",
                   "gateway.json", "scheduler.json"))
    key = d.choice(list(SECTION_KEYS))
    sections = d.sample(SECTIONS, 3)
    doc: dict = {"name": d.pick(c.WORDS)}
    for section in sections:
        others = [k for k in SECTION_KEYS if k != key]
        inner = {k: d.randint(1, 9000) for k in [key, d.choice(others)]}
        doc[section] = inner
    values = [doc[s][key] for s in sections]
    if len(set(values)) < len(values):  # each section's value distinct, so the answer says which was read
        for i, section in enumerate(sections):
            doc[section][key] = values[0] + i * 7 + 1
    section = d.choice(sections)
    value = str(doc[section][key])
    goal = d.wording([
        "What {k} does the {s} part of {f} set?", "In {f}, which {k} is configured for {s}?",
        "Tell me the {k} that {f} gives the {s} section.", "Read {f}: what is the {k} of {s}?",
        "Which {k} applies to {s}, according to {f}?", "Find the {k} for {s} in {f}.",
        "For {s}, what {k} is set in {f}?", "Look in {f} and give me the {s} {k}.",
    ], k=SECTION_KEYS[key], s=section, f=path)
    steps = (call("read_file", path=path), finish(value))
    return Plan(goal, {path: json.dumps(doc, indent=2) + "\n"}, answer_has(value), steps, max_steps=5)


KINDS: dict[str, Callable[[Draw], Plan]] = {
    "ask_count": ask_count, "ask_extreme": ask_extreme, "ask_average": ask_average, "ask_total": ask_total,
    "ask_json_count": ask_json_count, "ask_json_setting": ask_json_setting,
}
