"""CSV and JSON questions: a table or a document of invented records, and a question Python answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from agent.tune.families import content as c
from agent.tune.families.base import Draw, Plan, answer_has, call, finish, last_output, mistake, number


@dataclass(frozen=True)
class Table:
    path: str
    key: str  # the column that names a row
    group: str  # a column with a few repeated values
    value: str  # a numeric column
    rows: list[dict[str, str]]

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0])

    def text(self) -> str:
        lines = [",".join(self.columns)] + [",".join(r[col] for col in self.columns) for r in self.rows]
        return "\n".join(lines) + "\n"


def random_table(d: Draw) -> Table:
    kind = d.choice(["stock", "staff", "weather", "grades", "orders", "trips"])
    count = d.randint(5, 10)
    if kind == "stock":
        rows = [{"item": p.replace(" ", "_"), "category": d.choice(["home", "garden", "office", "travel"]),
                 "price": f"{d.randint(2, 300)}.{d.choice(['0', '5', '25', '75'])}", "stock": str(d.randint(0, 90))}
                for p in d.sample(c.PRODUCTS, count)]
        return Table(d.name(("stock.csv", "catalog.csv", "shop.csv", "products.csv")), "item", "category",
                     d.choice(["price", "stock"]), rows)
    if kind == "staff":
        rows = [{"name": n, "team": d.pick(c.TEAMS), "salary": str(d.randint(28, 95) * 1000),
                 "age": str(d.randint(21, 64))} for n in d.sample(c.FIRST_NAMES, count)]
        return Table(d.name(("staff.csv", "team.csv", "employees.csv", "crew.csv")), "name", "team",
                     d.choice(["salary", "age"]), rows)
    if kind == "weather":
        rows = [{"city": city, "month": d.choice(["jan", "apr", "jul", "oct"]), "temp": str(d.randint(-8, 36)),
                 "rain_mm": str(d.randint(0, 240))} for city in d.sample(c.CITIES, count)]
        return Table(d.name(("weather.csv", "climate.csv", "readings.csv", "temps.csv")), "city", "month",
                     d.choice(["temp", "rain_mm"]), rows)
    if kind == "grades":
        rows = [{"student": n, "subject": d.pick(c.SUBJECTS), "score": str(d.randint(35, 100)),
                 "year": str(d.randint(1, 4))} for n in d.sample(c.FIRST_NAMES, count)]
        return Table(d.name(("grades.csv", "scores.csv", "results.csv", "marks.csv")), "student", "subject",
                     "score", rows)
    if kind == "orders":
        rows = [{"order": f"A{d.randint(100, 999)}{i}", "customer": d.pick(c.LAST_NAMES),
                 "status": d.choice(c.STATUSES[:4]), "total": f"{d.randint(5, 900)}.{d.choice(['0', '5', '25'])}"}
                for i in range(count)]
        return Table(d.name(("orders.csv", "sales.csv", "invoices.csv", "purchases.csv")), "order", "status",
                     "total", rows)
    rows = [{"driver": n, "region": d.pick(c.REGIONS).replace(" ", "_"), "km": str(d.randint(3, 400)),
             "fare": str(d.randint(4, 250))} for n in d.sample(c.FIRST_NAMES, count)]
    return Table(d.name(("trips.csv", "rides.csv", "routes.csv", "fares.csv")), "driver", "region",
                 d.choice(["km", "fare"]), rows)


def _reader(path: str) -> str:
    return f"import csv\nrows = list(csv.DictReader(open('{path}')))\n"


def _csv_plan(d: Draw, table: Table, goal: str, code: str, expected: str) -> Plan:
    """run_python over the table; sometimes a first try with the column misspelt, then a look at the header.
    Looking first (`Draw.looks_first`): read the table, then the code."""
    if d.looks_first():
        looked = (call("read_file", path=table.path), call("run_python", code=code), finish(last_output))
        return Plan(goal, {table.path: table.text()}, answer_has(expected), looked, max_steps=8)
    steps = [call("run_python", code=code), finish(last_output)]
    wrong = table.value.capitalize()
    if d.chance(0.2) and f"'{table.value}'" in code:
        steps[:0] = [mistake("run_python", code=code.replace(f"'{table.value}'", f"'{wrong}'")),
                     call("run_python", code=f"print(open('{table.path}').readline())")]
    return Plan(goal, {table.path: table.text()}, answer_has(expected), tuple(steps), max_steps=8,
                recovery=len(steps) > 2)


def csv_total(d: Draw) -> Plan:
    t = random_table(d)
    total = round(sum(float(r[t.value]) for r in t.rows), 2)
    goal = d.wording([
        "Add all the {v} values of {f} together.", "Add up the {v} values in {f}.",
        "Compute the total {v} over all rows of {f}.", "What do the {v} numbers in {f} add up to?",
        "Give me the total of {v} in {f}.", "Sum the column {v} of {f}.",
        "How much is the {v} column of {f} in total?", "Tell me the overall {v} in {f}, summed over the rows.",
    ], v=t.value, f=t.path)
    code = _reader(t.path) + f"print(round(sum(float(r['{t.value}']) for r in rows), 2))"
    return _csv_plan(d, t, goal, code, number(total))


def csv_average(d: Draw) -> Plan:
    t = random_table(d)
    values = [float(r[t.value]) for r in t.rows]
    goal = d.wording([
        "Give me the mean {v} of {f} with a single decimal.", "Compute the mean of {v} in {f} (1 decimal).",
        "Find the average value of the {v} column of {f}, to one decimal place.",
        "Across {f}, what is the mean {v}? One decimal place, please.", "Average the {v} column of {f} (one decimal).",
        "Give the mean {v} of the rows in {f}, rounded to a tenth.",
        "Tell me the average {v} in {f} with one decimal.", "Work out the mean of {v} in {f}, one decimal place.",
    ], v=t.value, f=t.path)
    code = _reader(t.path) + (f"values = [float(r['{t.value}']) for r in rows]\n"
                              "print(round(sum(values) / len(values), 1))")
    return _csv_plan(d, t, goal, code, number(round(sum(values) / len(values), 1)))


def single_extreme(t: Table, highest: bool) -> dict[str, str]:
    """The row with the highest (or lowest) value; on a tie, its value is moved by one so that it alone is."""
    pick = (max if highest else min)(t.rows, key=lambda r: float(r[t.value]))
    if sum(float(r[t.value]) == float(pick[t.value]) for r in t.rows) > 1:
        pick = dict(pick)
        pick[t.value] = number(float(pick[t.value]) + (1 if highest else -1))
        t.rows[[r[t.key] for r in t.rows].index(pick[t.key])] = pick
    return pick


def csv_argmax(d: Draw) -> Plan:
    t = random_table(d)
    highest = d.chance(0.6)
    pick = single_extreme(t, highest)
    word = "highest" if highest else "lowest"
    goal = d.wording([
        "Which {k} has the {w} {v} in {f}?", "In {f}, find the {k} with the {w} {v}.",
        "Who or what has the {w} {v} in {f}? Give the {k}.", "Tell me the {k} whose {v} is the {w} in {f}.",
        "Look at {f}: which row has the {w} {v}? Answer with its {k}.", "Name the {k} with the {w} {v} in {f}.",
        "What {k} in {f} has the {w} value of {v}?", "Find the row of {f} with the {w} {v} and give me its {k}.",
    ], k=t.key, w=word, v=t.value, f=t.path)
    best = "max" if highest else "min"
    code = _reader(t.path) + f"print({best}(rows, key=lambda r: float(r['{t.value}']))['{t.key}'])"
    return _csv_plan(d, t, goal, code, pick[t.key])


def csv_count(d: Draw) -> Plan:
    t = random_table(d)
    group = d.choice([r[t.group] for r in t.rows])
    expected = sum(r[t.group] == group for r in t.rows)
    goal = d.wording([
        "How many rows of {f} have {g} equal to {x}?", "Count the entries in {f} whose {g} is {x}.",
        "In {f}, how many rows are in the {g} {x}?", "Tell me how many lines of {f} have {g} = {x}.",
        "How many records in {f} list {x} as their {g}?", "Count the rows where {g} is {x} in {f}.",
        "What number of rows in {f} have the {g} {x}?", "Find how many {x} rows there are in {f} (column {g}).",
    ], f=t.path, g=t.group, x=group)
    code = _reader(t.path) + f"print(sum(1 for r in rows if r['{t.group}'] == '{group}'))"
    return _csv_plan(d, t, goal, code, str(expected))


def csv_above(d: Draw) -> Plan:
    t = random_table(d)
    values = sorted(float(r[t.value]) for r in t.rows)
    limit = number(values[len(values) // 2])
    expected = sum(float(r[t.value]) > float(limit) for r in t.rows)
    goal = d.wording([
        "How many rows of {f} have a {v} above {n}?", "Count the entries in {f} with {v} greater than {n}.",
        "In {f}, how many rows have {v} > {n}?", "Tell me how many records in {f} exceed {n} in {v}.",
        "How many lines of {f} show a {v} higher than {n}?", "Count rows where {v} is more than {n} in {f}.",
        "What number of rows in {f} have {v} over {n}?", "Find how many rows of {f} have a {v} bigger than {n}.",
    ], f=t.path, v=t.value, n=limit)
    code = _reader(t.path) + f"print(sum(1 for r in rows if float(r['{t.value}']) > {limit}))"
    return _csv_plan(d, t, goal, code, str(expected))


def csv_group_total(d: Draw) -> Plan:
    t = random_table(d)
    group = d.choice([r[t.group] for r in t.rows])
    total = round(sum(float(r[t.value]) for r in t.rows if r[t.group] == group), 2)
    goal = d.wording([
        "What is the total {v} for {g} {x} in {f}?", "Add up {v} over the rows of {f} where {g} is {x}.",
        "In {f}, sum the {v} of the {x} rows.", "How much {v} do the {x} rows of {f} have in total?",
        "Compute the sum of {v} for {x} in {f}.", "Total the {v} column of {f}, only rows with {g} {x}.",
        "Give me the {v} summed over {g} = {x} in {f}.", "What do the {x} rows of {f} add up to in {v}?",
    ], v=t.value, g=t.group, x=group, f=t.path)
    code = _reader(t.path) + (f"print(round(sum(float(r['{t.value}']) for r in rows\n"
                              f"                if r['{t.group}'] == '{group}'), 2))")
    return _csv_plan(d, t, goal, code, number(total))


# -- JSON --------------------------------------------------------------------------------------------


RECORD_KEYS = ("people", "users", "members", "accounts", "records", "entries", "team", "")  # "": a bare list


def _records_plan(d: Draw, path: str, people: list[dict], goal: str, code_tail: str, expected: str) -> Plan:
    """Code over the records of a JSON document: under "people", straight to the code; or, looking first
    (`Draw.looks_first`), under one of several keys or as a bare list, read before the code, which names the
    key it read. `code_tail` computes on `people`."""
    if not d.looks_first():
        code = f"import json\npeople = json.load(open('{path}'))['people']\n" + code_tail
        return Plan(goal, {path: json.dumps({"people": people}, indent=2) + "\n"}, answer_has(expected),
                    (call("run_python", code=code), finish(last_output)), max_steps=6)
    key = d.layout(RECORD_KEYS)
    doc: object = people
    if key:
        doc = {"version": d.layout((1, 2, 3)), key: people} if d.layout((False, True)) else {key: people}
    code = f"import json\npeople = json.load(open('{path}'))" + (f"['{key}']" if key else "") + "\n" + code_tail
    steps = (call("read_file", path=path), call("run_python", code=code), finish(last_output))
    return Plan(goal, {path: json.dumps(doc, indent=2) + "\n"}, answer_has(expected), steps, max_steps=8)


def _accounts(d: Draw) -> tuple[str, list[dict]]:
    people = [{"name": n.lower(), "active": d.chance(0.6), "role": d.choice(["admin", "editor", "viewer"]),
               "logins": d.randint(0, 300)} for n in d.sample(c.FIRST_NAMES, d.randint(4, 8))]
    return d.name(("accounts.json", "members.json", "team.json", "people.json")), people


def json_count(d: Draw) -> Plan:
    path, people = _accounts(d)
    field, value = d.choice([("active", True), ("active", False), ("role", "admin"), ("role", "editor")])
    expected = sum(p[field] == value for p in people)
    subject = {("active", True): "active", ("active", False): "inactive",
               ("role", "admin"): "admins", ("role", "editor"): "editors"}[(field, value)]
    goal = d.wording([
        "How many {s} are there in {f}?", "Count the {s} listed in {f}.", "In {f}, how many entries are {s}?",
        "Tell me the number of {s} in {f}.", "How many of the people in {f} are {s}?",
        "Find how many {s} {f} contains.", "What is the count of {s} in {f}?", "Count how many {s} {f} lists.",
    ], s=subject if field == "role" else f"{subject} users", f=path)
    return _records_plan(d, path, people, goal, f"print(sum(1 for p in people if p['{field}'] == {value!r}))",
                         str(expected))


def json_lookup(d: Draw) -> Plan:
    path = d.name(("service.json", "pipeline.json", "deploy.json", "job.json", "worker.json", "app.json",
                   "cluster.json", "bot.json"))
    inner = {"retries": d.randint(1, 9), "delay_ms": d.randint(50, 5000)}
    doc = {"name": d.pick(c.WORDS), "owner": d.pick(c.FIRST_NAMES),
           "limits": {"cpu": d.randint(1, 16), "memory_mb": d.randint(128, 8192)},
           "backoff": inner, "region": d.pick(c.CITIES).lower()}
    which = d.choice(["limits.cpu", "limits.memory_mb", "backoff.retries", "backoff.delay_ms", "owner", "region"])
    value = doc
    for part in which.split("."):
        value = value[part]
    goal = d.wording([
        "What is {p} in {f}?", "Find the value of {p} in {f}.", "Read {f} and tell me {p}.",
        "Which value does {f} give for {p}?", "Look up {p} in {f}.", "What does {f} set {p} to?",
        "Give me the {p} setting from {f}.", "In {f}, what is the value at {p}?",
    ], p=which, f=path)
    steps: tuple = (call("read_file", path=path), finish(str(value)))
    max_steps = 5
    if d.looks_first():  # read, then the value by its keys in code rather than by eye
        keys = "".join(f"['{part}']" for part in which.split("."))
        code = f"import json\ndoc = json.load(open('{path}'))\nprint(doc{keys})"
        steps, max_steps = (call("read_file", path=path), call("run_python", code=code), finish(last_output)), 6
    return Plan(goal, {path: json.dumps(doc, indent=2) + "\n"}, answer_has(str(value)), steps, max_steps=max_steps)


def json_max(d: Draw) -> Plan:
    path, people = _accounts(d)
    for i, p in enumerate(people):
        p["logins"] = p["logins"] * 10 + i  # distinct, so one person has the most
    best = max(people, key=lambda p: p["logins"])["name"]
    goal = d.wording([
        "Who has the most logins in {f}?", "Which person in {f} logged in the most times?",
        "Find the name with the highest logins count in {f}.", "In {f}, who has logged in most often?",
        "Tell me whose logins number is the largest in {f}.", "Which entry of {f} has the most logins?",
        "Give the name of the most frequent user in {f} (by logins).", "Who tops {f} by logins?",
    ], f=path)
    return _records_plan(d, path, people, goal, "print(max(people, key=lambda p: p['logins'])['name'])", best)


KINDS: dict[str, Callable[[Draw], Plan]] = {
    "csv_total": csv_total, "csv_average": csv_average, "csv_argmax": csv_argmax, "csv_count": csv_count,
    "csv_above": csv_above, "csv_group_total": csv_group_total, "json_count": json_count,
    "json_lookup": json_lookup, "json_max": json_max,
}
