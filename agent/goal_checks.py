"""Checks that a goal states itself, run on what an attempt left in its workspace (agent/attempts.py).

- a test file the goal names that was in the workspace at the start (`test_stats.py`): it must pass (exit
  0) and be unchanged;
- a command the goal quotes, `python greet.py`: it must exit 0;
- an example the goal gives for a function it asks for, `to_roman(1994) == 'MCMXCIV'` (or "returns"):
  the function, imported from the Python file the goal asks for, must give that value;
- a JSON file the goal asks for must parse;
- a Python file the goal names whose docstrings held examples at the start (`>>> add(2, 3)` then `5`):
  those examples, as they were, must hold for the attempt's file.

Every check runs in the sandbox, since the code it runs is the model's. `goal_checks` is pure.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.deliverables import FILE_NAME, requested_files
from sandbox.base import Sandbox

CHECK_SECONDS = 10.0
TEST_FILE = re.compile(r"(?<![\w./-])((?:[\w-]+/)*(?:test_[\w-]*|[\w-]+_test)\.py)\b")
QUOTED_COMMAND = re.compile(r"`python3? ((?:[\w-]+/)*[\w-]+\.py)`")
EXAMPLE_LINK = re.compile(r"\s*(?:==|returns|should return|gives|->|→)\s*")
LONGEST_LITERAL = 300


@dataclass(frozen=True)
class GoalCheck:
    description: str  # what passing means, for the user: "python test_stats.py exits 0"
    command: tuple[str, ...]  # argv run in the workspace, in the sandbox
    unchanged: str = ""  # a workspace file the attempt must have left as it was (the test that is run)


def goal_checks(goal: str, files_at_start: Iterable[str], original: Path | None = None) -> tuple[GoalCheck, ...]:
    """The checks `goal` states, in goal order (none when it states none); `original`, the workspace as it
    was at the start, is where the docstring examples of the files the goal names are read."""
    present = set(files_at_start)
    checks: list[GoalCheck] = []
    scripts = [m.group(1) for m in TEST_FILE.finditer(goal) if m.group(1) in present]
    scripts += [m.group(1) for m in QUOTED_COMMAND.finditer(goal) if m.group(1) in present]
    for script in dict.fromkeys(scripts):
        is_test = TEST_FILE.fullmatch(script) is not None
        checks.append(GoalCheck(f"python {script} exits 0", ("python3", script), script if is_test else ""))
    asked = requested_files(goal, present)
    modules = [name[:-3].replace("/", ".") for name in asked if name.endswith(".py")]
    for call, expected in examples(goal):
        if modules:
            checks.append(GoalCheck(f"{call} == {expected}", ("python3", "-c", _example_code(modules, call, expected))))
    for name in asked:
        if name.endswith(".json"):
            code = f"import json; json.load(open({name!r}))"
            checks.append(GoalCheck(f"{name} is valid JSON", ("python3", "-c", code)))
    for name in dict.fromkeys(m.group(1) for m in FILE_NAME.finditer(goal)) if original is not None else ():
        if name.endswith(".py") and name in present and (docs := docstring_examples(_read(original / name))):
            checks.append(GoalCheck(f"the examples in {name}'s docstrings hold",
                                    ("python3", "-c", _doctest_code(name[:-3].replace("/", "."), docs))))
    return tuple(checks)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def docstring_examples(source: str) -> list[str]:
    """The docstrings of a Python source (module, classes, functions) that hold `>>>` examples."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]
    docs = [ast.get_docstring(n, clean=False) for n in nodes]
    return [d for d in docs if d and ">>>" in d]


def _doctest_code(module: str, docstrings: list[str]) -> str:
    return ("import doctest, importlib, sys\nsys.path.insert(0, '.')\n"
            f"module = importlib.import_module({module!r})\n"
            "runner = doctest.DocTestRunner(verbose=False)\n"
            f"for text in {docstrings!r}:\n"
            f"    runner.run(doctest.DocTestParser().get_doctest(text, dict(vars(module)), {module!r}, None, 0),"
            " out=lambda _: None)\n"
            "sys.exit(1 if runner.failures else 0)\n")


def examples(goal: str) -> list[tuple[str, str]]:
    """(call, expected value) for each `name(literals) == literal` the goal gives, as Python source."""
    found: list[tuple[str, str]] = []
    for match in re.finditer(r"(?<![\w.])[A-Za-z_]\w*\(", goal):
        end = _closing(goal, match.end() - 1)
        if end is None:
            continue
        call = goal[match.start():end + 1]
        link = EXAMPLE_LINK.match(goal, end + 1)
        if link is None or not _literal_call(call):
            continue
        expected = _leading_literal(goal[link.end():link.end() + LONGEST_LITERAL])
        if expected is not None:
            found.append((call, expected))
    return found


def _closing(text: str, start: int) -> int | None:
    depth, quote = 0, ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _literal_call(source: str) -> bool:
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        return False
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.keywords:
        return False
    try:
        for arg in node.args:
            ast.literal_eval(arg)
    except ValueError:
        return False
    return True


def _leading_literal(text: str) -> str | None:
    """The longest start of `text` that is a Python literal (the example's value), or None."""
    for end in range(len(text), 0, -1):
        candidate = text[:end].strip()
        if not candidate or candidate[-1] in ".,;:" and end < len(text):
            continue
        try:
            ast.literal_eval(candidate)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        return candidate
    return None


def _example_code(modules: list[str], call: str, expected: str) -> str:
    name = call[:call.index("(")]
    return ("import importlib, sys\nsys.path.insert(0, '.')\n"
            f"found = [m for m in map(importlib.import_module, {modules!r}) if hasattr(m, {name!r})]\n"
            f"assert found, 'no {name} in ' + ', '.join({modules!r})\n"
            f"{name} = getattr(found[0], {name!r})\n"
            f"got = {call}\n"
            f"assert got == {expected}, f'{call} gave {{got!r}}'\n")


def run_checks(checks: Iterable[GoalCheck], sandbox: Sandbox, original: Path) -> tuple[bool, ...]:
    """Whether each check passes in `sandbox`'s workspace; `original` is the workspace as it was at the
    start, against which a file that must be unchanged is compared."""
    passed: list[bool] = []
    for check in checks:
        if check.unchanged and not _same_file(sandbox.workspace / check.unchanged, original / check.unchanged):
            passed.append(False)
            continue
        passed.append(sandbox.exec(list(check.command), timeout_s=CHECK_SECONDS).ok)
    return tuple(passed)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False
