"""Fix code so a test passes: a module with a bug, its test, and the repair checked by running the test."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from agent.tune.families import content as c
from agent.tune.families.base import Draw, Plan, Step, all_of, call, finish, python_check
from agent.tune.families.functions import FunctionSpec
from agent.tune.families.writing import MODULES, pick_spec

PASSED = "all tests passed"


def _failing_bug(d: Draw, spec: FunctionSpec) -> str | None:
    """A wrong version of the function that gets at least one test call wrong (or crashes on it)."""
    for bug in d.rng.sample(list(spec.bugs), len(spec.bugs)):
        for args, want in zip(spec.calls, spec.results(), strict=True):
            try:
                if spec.run(bug, args) != want:
                    return bug
            except Exception:
                return bug
    return None


def _test_file(module: str, spec: FunctionSpec) -> str:
    lines = [f"from {module} import {spec.name}", ""]
    lines += [f"assert {spec.name}{_args(args)} == {want!r}" for args, want in zip(spec.calls, spec.results(),
                                                                                  strict=True)]
    return "\n".join(lines + ["", f"print({PASSED!r})", ""])


def run_script(path: str) -> str:
    """Code that runs a script as `python path` would, with its source lines in a traceback. (run_path's
    return value, the script's globals, is assigned: as a last expression it would be printed.)"""
    return f"import runpy\n_ = runpy.run_path('{path}', run_name='__main__')"


def _args(args: tuple) -> str:
    return "(" + ", ".join(map(repr, args)) + ")"


def fix_to_pass(d: Draw) -> Plan:
    spec, module = pick_spec(d), d.name(MODULES)
    bug = _failing_bug(d, spec)
    if bug is None:
        raise ValueError(f"{spec.name}: no bug fails its tests")
    test = f"test_{module}.py"
    goal = d.wording([
        "{t} fails. Fix {m}.py so that the test passes; do not edit the test.",
        "The test in {t} does not pass. Repair {m}.py (leave {t} alone).",
        "Make `python {t}` pass by fixing the bug in {m}.py.",
        "There is a bug in {n} in {m}.py; {t} shows it. Fix the module.",
        "Fix {m}.py: {t} must pass afterwards, unchanged.",
        "{n} in {m}.py is wrong and {t} fails. Correct {m}.py.",
        "Please repair {m}.py so the assertions in {t} hold.",
        "Debug {m}.py until {t} runs without errors. Only change {m}.py.",
    ], t=test, m=module, n=spec.name)
    run_test = run_script(test)
    repair = [call("read_file", path=f"{module}.py"), call("write_file", path=f"{module}.py", content=spec.body),
              call("run_python", code=run_test),
              finish(f"Fixed {spec.name} in {module}.py; {test} passes now.")]
    shape = d.choice(["read_first", "test_first", "wrong_fix"])
    if shape == "test_first":
        repair.insert(0, Step("run_python", {"code": run_test}, ok=False))
    elif shape == "wrong_fix":  # a fix that is still wrong, the failing test, then the right one
        other = next((b for b in spec.bugs if b != bug), None) or _flip(bug)
        repair[1:1] = [Step("write_file", {"path": f"{module}.py", "content": other}, learn=False),
                       Step("run_python", {"code": run_test}, ok=False),
                       call("read_file", path=test)]
    files = {f"{module}.py": bug, test: _test_file(module, spec)}
    check = all_of(python_check(f"assert open('{test}').read() == {files[test]!r}"),
                   f"python3 {test} | grep -qF {shlex.quote(PASSED)}")
    return Plan(goal, files, check, tuple(repair), max_steps=10, recovery=shape == "wrong_fix")


def _flip(bug: str) -> str:
    """A second wrong version when a spec lists one bug: the same bug with an off-by-one on top."""
    return bug.replace("return ", "return 1 + ", 1) if "return " in bug else bug + "\n"


def fix_crash(d: Draw) -> Plan:
    """A script that crashes (a misspelt name, a str + int), fixed so it prints what the goal says."""
    script = d.name(("report.py", "main.py", "summary.py", "hello.py", "receipt.py", "banner.py", "label.py",
                     "invoice.py"))
    name, count = d.pick(c.FIRST_NAMES), d.randint(2, 40)
    good = f"name = {name!r}\ncount = {count}\nprint('Total for ' + name + ': ' + str(count))\n"
    expected = f"Total for {name}: {count}"
    bug, error = d.choice([
        (good.replace("+ name +", "+ nmae +"), "NameError"),
        (good.replace("str(count)", "count"), "TypeError"),
        (good.replace("print('Total for ' + name", "print('Total for ' + name.upper"), "TypeError"),
    ])
    goal = d.wording([
        "When I run {s} I get a {e}. Repair it so the output is '{x}'.",
        "{s} stops with a {e}. Repair it; it should print {x}.",
        "Running {s} gives a {e}. Make it print '{x}' instead.",
        "Fix the {e} in {s}; the expected output is '{x}'.",
        "{s} is broken ({e}). Correct it so that it prints: {x}",
        "Please fix {s}: it raises a {e} but should print '{x}'.",
        "Repair the crash in {s} ({e}). Its output must be '{x}'.",
        "Debug {s}, which fails with {e}, so it outputs '{x}'.",
    ], s=script, e=error, x=expected)
    run = run_script(script)
    steps = (call("read_file", path=script), call("write_file", path=script, content=good),
             call("run_python", code=run), finish(f"Fixed {script}; it prints '{expected}' now."))
    if d.chance(0.4):
        steps = (Step("run_python", {"code": run}, ok=False), *steps)
    check = f"python3 {script} | grep -qxF {shlex.quote(expected)}"
    return Plan(goal, {script: bug}, check, steps, max_steps=8)


KINDS: dict[str, Callable[[Draw], Plan]] = {"fix_to_pass": fix_to_pass, "fix_crash": fix_crash}
