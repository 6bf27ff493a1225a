"""Multi-step goals: two or three tool calls that build on each other, then the answer."""

from __future__ import annotations

import json
from collections.abc import Callable

from agent.tune.families import content as c
from agent.tune.families.base import Draw, Plan, all_of, answer_has, call, finish, last_output, python_check
from agent.tune.families.functions import SPECS
from agent.tune.families.nlp import review
from agent.tune.families.tables import random_table
from agent.tune.families.writing import MODULES


def group_report(d: Draw) -> Plan:
    t = random_table(d)
    dst = d.name(("report.json", "totals.json", "summary.json", "by_group.json"))
    totals: dict[str, float] = {}
    for r in t.rows:
        totals[r[t.group]] = round(totals.get(r[t.group], 0.0) + float(r[t.value]), 2)
    goal = d.wording([
        "Compute the total {v} per {g} in {f} and save it to {t} as a JSON object like {{\"{x}\": 12.5}}.",
        "Sum {v} for each {g} of {f}; write the totals to {t} as a JSON object.",
        "Write {t}: a JSON object mapping each {g} in {f} to its total {v}.",
        "Group {f} by {g}, add up {v}, and store the result in {t} (JSON).",
        "Make {t} with the sum of {v} for every {g} found in {f}.",
        "For each {g} in {f}, total the {v}; save the totals in {t} as JSON.",
        "Build a JSON report {t} of total {v} by {g} from {f}.",
        "Save the per-{g} totals of {v} from {f} to {t}, as a JSON object.",
    ], v=t.value, g=t.group, f=t.path, t=dst, x=t.rows[0][t.group])
    code = (f"import csv, json\ntotals = {{}}\nfor r in csv.DictReader(open('{t.path}')):\n"
            f"    key = r['{t.group}']\n    totals[key] = round(totals.get(key, 0) + float(r['{t.value}']), 2)\n"
            f"json.dump(totals, open('{dst}', 'w'))\nprint(totals)")
    check = python_check(f"got = json.load(open('{dst}'))\nwant = {totals!r}\n"
                         "assert set(got) == set(want) and all(abs(got[k] - want[k]) < 0.01 for k in want), got")
    steps = (call("run_python", code=code), finish(lambda seen: f"Wrote the totals to {dst}: {last_output(seen)}"))
    return Plan(goal, {t.path: t.text()}, check, steps, max_steps=8)


def extract_and_count(d: Draw) -> Plan:
    src = d.name(("app.log", "events.log", "jobs.log", "worker.log", "system.log", "audit.log", "sync.log",
                  "daemon.log"))
    dst = d.name(("errors.txt", "selected.txt", "matches.txt", "found.txt", "subset.txt", "picked.txt",
                  "filtered.txt", "only.txt"))
    level = d.choice(["ERROR", "WARN"])
    lines = [f"{8 + i}:{d.randint(10, 59)} {d.choice(c.LOG_LEVELS)} {d.pick(c.WORDS)} {d.randint(1, 99)}"
             for i in range(d.randint(6, 16))]
    lines.append(f"{23}:00 {level} {d.pick(c.WORDS)} 1")
    kept = [line for line in lines if f" {level} " in line]
    goal = d.wording([
        "Save every {l} line of {s} in {t} and report the number of such lines.",
        "Write just the {l} entries of {s} to {t} and report their number.",
        "Put every line of {s} that has {l} in {t}; how many lines is that?",
        "Extract the {l} entries of {s} into {t} and count them.",
        "Save the lines of {s} containing {l} as {t}, and give me the count.",
        "Filter {s} down to its {l} lines, write them to {t}, and say how many.",
        "Make {t} with the {l} lines from {s}. How many are there?",
        "Collect the {l} lines of {s} in {t} and tell me their count.",
    ], l=level, s=src, t=dst)
    code = (f"lines = [l for l in open('{src}').read().splitlines() if ' {level} ' in l]\n"
            f"open('{dst}', 'w').write('\\n'.join(lines) + '\\n')\nprint(len(lines))")
    check = all_of(answer_has(str(len(kept))),
                   python_check(f"assert open('{dst}').read().splitlines() == {kept!r}"))
    return Plan(goal, {src: "\n".join(lines) + "\n"}, check, (call("run_python", code=code), finish(last_output)),
                max_steps=8)


def concatenate(d: Draw) -> Plan:
    count = d.randint(2, 4)
    stem = d.pick(("piece_", "chunk", "page", "section", "piece", "chapter", "block", "segment"))
    names = [f"{stem}{i}.txt" for i in range(1, count + 1)]
    dst = d.name(("combined.txt", "joined.txt", "full.txt", "merged.txt"))
    files = {n: " ".join(d.pick(c.WORDS) for _ in range(d.randint(2, 5))) + "\n" for n in names}
    listed = ", ".join(names[:-1]) + " and " + names[-1]
    goal = d.wording([
        "Join {n} into {t}, first to last.", "Concatenate {n} into a single file {t}, keeping the order given.",
        "Merge {n} into {t}, keeping their order.", "Write {t} with the contents of {n}, one after another.",
        "Combine {n} in this order and save them as {t}.", "Put {n} together into {t}.",
        "Create {t} from {n}, concatenated in order.", "Append {n} one after the other into {t}.",
    ], n=listed, t=dst)
    code = (f"names = {names!r}\nwith open('{dst}', 'w') as out:\n    for name in names:\n"
            "        out.write(open(name).read())\nprint(len(open('" + dst + "').read().split()))")
    want = "".join(files.values()).split()
    check = python_check(f"assert open('{dst}').read().split() == {want!r}")
    steps = (call("run_python", code=code), finish(f"Wrote {', '.join(names)} into {dst}."))
    return Plan(goal, files, check, steps, max_steps=8)


def function_then_use(d: Draw) -> Plan:
    """Write a function, then use it over many inputs: the count the goal asks for."""
    module = d.name(MODULES)
    if d.chance(0.5):
        spec = next(s for s in SPECS if s.name == "is_leap_year")
        low = d.randint(1800, 2000)
        high = low + d.randint(30, 300)
        want = sum(1 for y in range(low, high + 1) if spec.run(spec.body, (y,)))
        goal = d.wording([
            "Write {m}.py with is_leap_year(year); with its help, count the leap years from {a} to {b}, both in.",
            "Create {m}.py defining is_leap_year(year) and tell me how many leap years lie between {a} and {b}.",
            "Define is_leap_year(year) in {m}.py; with it, count the leap years in {a}..{b}.",
            "Put is_leap_year(year) in {m}.py and report how many years from {a} to {b} are leap years.",
        ], m=module, a=low, b=high)
        code = (f"from {module} import is_leap_year\n"
                f"print(sum(1 for y in range({low}, {high} + 1) if is_leap_year(y)))")
    else:
        spec = next(s for s in SPECS if s.name == "count_vowels")
        words = [d.pick(c.WORDS) for _ in range(d.randint(4, 12))]
        want = sum(spec.run(spec.body, (w,)) for w in words)
        source = d.name(("words.txt", "list.txt", "terms.txt", "vocab.txt"))
        goal = d.wording([
            "Write {m}.py with count_vowels(text) and apply it to {f}: how many vowels are there?",
            "Create {m}.py defining count_vowels(text) and tell me how many vowels {f} has in total.",
            "Define count_vowels(text) in {m}.py; use it on {f} and report the total.",
            "Put count_vowels(text) in {m}.py, then give me the number of vowels in {f}.",
        ], m=module, f=source)
        code = f"from {module} import count_vowels\nprint(count_vowels(open('{source}').read()))"
    steps = (call("write_file", path=f"{module}.py", content=spec.body), call("run_python", code=code),
             finish(last_output))
    check = all_of(answer_has(str(want)), python_check(f"import {module}\nassert callable({module}.{spec.name})"))
    files = {} if spec.name == "is_leap_year" else {source: "\n".join(words) + "\n"}
    return Plan(goal, files, check, steps, max_steps=8)


def positive_lines(d: Draw) -> Plan:
    src = d.name(("reviews.txt", "comments.txt", "feedback.txt", "opinions.txt"))
    dst = d.name(("positive.txt", "good.txt", "happy.txt", "praise.txt"))
    labels = _some_positive(d)
    texts = [review(d, p) for p in labels]
    goal = d.wording([
        "Keep only the upbeat reviews from {s}: save them in {t}, a line each.",
        "Copy the positive lines of {s} into {t}.", "Save just the positive comments from {s} as {t}.",
        "Keep the reviews of {s} that are positive and store them in {t}, a line each.",
        "Write {t} with only the positive feedback lines of {s}.",
        "Put every positive review from {s} into {t}, one per line.",
        "Select the positive opinions in {s} and write them to {t}.",
        "Create {t} holding the positive reviews of {s}.",
    ], s=src, t=dst)
    code = ("import json\nrows = [json.loads(l) for l in open('sentiment.jsonl')]\n"
            "good = [r['text'] for r in rows if r['label'] == 'positive']\n"
            f"open('{dst}', 'w').write('\\n'.join(good) + '\\n')\nprint(len(good))")
    want = [t for t, p in zip(texts, labels, strict=True) if p]
    steps = (call("classify_sentiment", input_path=src, output_path="sentiment.jsonl"),
             call("run_python", code=code),
             finish(lambda seen: f"Wrote {last_output(seen)} positive reviews to {dst}."))
    check = python_check(f"assert [l.strip() for l in open('{dst}') if l.strip()] == {want!r}")
    return Plan(goal, {src: "\n".join(texts) + "\n"}, check, steps, max_steps=8)


def _some_positive(d: Draw) -> list[bool]:
    labels = [d.chance(0.5) for _ in range(d.randint(3, 7))]
    return labels if any(labels) else [True, *labels]


def update_json(d: Draw) -> Plan:
    src = d.name(("larder.json", "stock.json", "pantry.json", "store.json"))
    dst = d.name(("larder_updated.json", "stock_new.json", "pantry_next.json", "store_v2.json"))
    items = [{"item": g, "qty": d.randint(0, 60)} for g in d.sample(c.GOODS, d.randint(3, 6))]
    add = d.randint(2, 25)
    goal = d.wording([
        "Every item in {s} gets {n} more qty; write the updated list to {t}.",
        "Increase each qty in {s} by {n}; write the new list to {t}.",
        "Raise every item's qty in {s} by {n} and store it in {t}.",
        "Write {t}: the items of {s} with {n} more of each.",
        "Bump the qty of all items in {s} by {n}, saving to {t}.",
        "Make {t} from {s} with every qty increased by {n}.",
        "Update {s} so that each qty grows by {n}, and save it as {t} (leave {s} as it is).",
        "Put the items of {s} in {t} with qty + {n} each.",
    ], n=add, s=src, t=dst)
    code = (f"import json\nitems = json.load(open('{src}'))\nfor item in items:\n    item['qty'] += {add}\n"
            f"json.dump(items, open('{dst}', 'w'), indent=2)\nprint(len(items))")
    want = [{"item": i["item"], "qty": i["qty"] + add} for i in items]
    check = python_check(f"assert json.load(open('{dst}')) == {want!r}\nassert json.load(open('{src}')) == {items!r}")
    steps = (call("run_python", code=code), finish(lambda seen: f"Saved {last_output(seen)} updated items to {dst}."))
    return Plan(goal, {src: json.dumps(items, indent=2) + "\n"}, check, steps, max_steps=8)


KINDS: dict[str, Callable[[Draw], Plan]] = {
    "group_report": group_report, "extract_and_count": extract_and_count, "concatenate": concatenate,
    "function_then_use": function_then_use, "positive_lines": positive_lines, "update_json": update_json,
}
