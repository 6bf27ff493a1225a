"""What a task family is made of: seeded draws split into train and held-out parts, planned steps, checks.

A family turns a `Draw` into a `Plan`: a goal, the workspace's files, a shell check written like the bench
suites' (exit 0 = pass, the answer in $AGENT_ANSWER), and the steps that solve it. A step may depend on
what the earlier steps observed (the real tools' output), e.g. a finish that reports what Python printed.

Held out means held out twice: a held-out task draws its goal wording AND its content (names, words, numbers'
ranges stay shared) from parts of each list that training tasks never see.
"""

from __future__ import annotations

import random
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Split = Literal["train", "heldout"]
HELDOUT_EVERY = 4  # items i with i % HELDOUT_EVERY == HELDOUT_EVERY - 1 are held out; the rest train

# The parts of unusual file names (`Draw.name`): a head and a body, joined with or without an underscore.
NAME_HEADS = ("my", "new", "old", "team", "daily", "final", "draft", "home", "work", "spare", "big", "little",
              "quick", "main", "extra", "shared", "local", "raw", "north", "blue", "green", "red", "q3", "v2",
              "alpha", "beta", "night", "summer", "city", "field", "club", "store")
NAME_BODIES = ("notes", "stuff", "things", "bits", "data", "info", "pile", "box", "tools", "helpers", "utils",
               "calc", "counter", "lines", "sheet", "book", "log", "list", "items", "records", "digest",
               "output", "answers", "picks", "batch", "dump", "ledger", "file", "copy", "set", "mix", "part",
               "facts", "keeper", "maker", "finder", "stats", "board", "report")

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One planned tool call. `ok`: whether the call must succeed (a recovery's mistake must fail);
    `learn`: whether the model is taught to write it (a deliberate mistake is context, never a target)."""

    tool: str
    args: dict[str, Any]
    ok: bool = True
    learn: bool = True


# A step, or a function from the observations so far (the tools' real outputs, in order) to the step.
StepPlan = Step | Callable[[tuple[str, ...]], Step]


@dataclass(frozen=True)
class Plan:
    goal: str
    files: dict[str, str]
    check: str
    steps: tuple[StepPlan, ...]
    max_steps: int = 8
    recovery: bool = False  # the plan makes a mistake on purpose and repairs it
    tags: tuple[str, ...] = field(default=())


class Draw:
    """The random choices of one task. `part()` is the share of a list this split may use."""

    def __init__(self, rng: random.Random, split: Split, names: random.Random | None = None,
                 name_variety: float = 0.0, functions: random.Random | None = None,
                 function_variety: float = 0.0, looks: random.Random | None = None,
                 look_first: float = 0.0) -> None:
        self.rng = rng
        self.split = split
        self.names = names  # its own generator, so that renaming leaves every other choice as it was
        self.name_variety = name_variety
        self.functions = functions  # the same for the choice of a function's pool (`writing.pick_spec`)
        self.function_variety = function_variety
        self.looks = looks  # the same for the choice to read a table before computing on it (`looks_first`)
        self.look_first = look_first
        self._named: set[str] = set()

    def part(self, items: Sequence[T]) -> list[T]:
        held = [x for i, x in enumerate(items) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
        kept = [x for i, x in enumerate(items) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
        chosen = held if self.split == "heldout" else kept
        if not chosen:
            raise ValueError(f"a list of {len(items)} items has nothing for the {self.split} split")
        return chosen

    def pick(self, items: Sequence[T]) -> T:
        return self.rng.choice(self.part(items))

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        return self.rng.sample(self.part(items), k)

    def name(self, usual: Sequence[str]) -> str:
        """A file or module name that the goal gives: one of the names a task of this kind usually has, or,
        with probability `name_variety`, an unusual one with the same extension (`my_digest.csv`), so that
        the model learns to write the name the goal gives rather than the name such a task usually has."""
        picked = self.pick(usual)
        if self.names is None or self.names.random() >= self.name_variety:
            self._named.add(picked)
            return picked
        stem, dot, extension = picked.rpartition(".")
        suffix = dot + extension if stem else ""
        heads, bodies = self.part(NAME_HEADS), self.part(NAME_BODIES)
        while True:
            name = self.names.choice(heads) + self.names.choice(("", "_")) + self.names.choice(bodies) + suffix
            module = name[:-len(suffix)] if suffix else name
            if name not in self._named and name not in usual and module not in sys.stdlib_module_names:
                self._named.add(name)
                return name

    def looks_first(self) -> bool:
        """Whether this task reads its data file before the code that computes on it, with probability
        `look_first`, so that the model learns to take the layout and names from what it read."""
        return self.looks is not None and self.looks.random() < self.look_first

    def layout(self, choices: Sequence[T]) -> T:
        """A choice of a looked-at file's layout (from `looks`: every other choice stays as it was)."""
        assert self.looks is not None
        return self.looks.choice(list(choices))

    def wording(self, templates: Sequence[str], **values: Any) -> str:
        return self.pick(templates).format(**values)

    def randint(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choice(self, items: Sequence[T]) -> T:
        """From the whole list (for structural choices, not for content or wording)."""
        return self.rng.choice(list(items))


# -- steps -------------------------------------------------------------------------------------------


def call(tool: str, **args: Any) -> Step:
    return Step(tool, args)


def mistake(tool: str, **args: Any) -> Step:
    """A call that fails on purpose, shown as context before its repair; never a training target."""
    return Step(tool, args, ok=False, learn=False)


def finish(answer: str | Callable[[tuple[str, ...]], str]) -> StepPlan:
    if isinstance(answer, str):
        return Step("finish", {"answer": answer})
    return lambda seen: Step("finish", {"answer": answer(seen)})


def last_output(seen: tuple[str, ...]) -> str:
    """What the last call printed, as an answer (the bare value, first line)."""
    return seen[-1].strip().splitlines()[0].strip() if seen and seen[-1].strip() else ""


# -- checks (shell, like the bench suites') ------------------------------------------------------------

PY_END = "PYCHECK"


def answer_has(*values: str) -> str:
    """The answer contains each value as a word (case-insensitive, commas ignored)."""
    for value in values:
        if "," in value:
            raise ValueError(f"check value {value!r} has a comma; the answer's commas are dropped first")
    return " && ".join(f"printf '%s' \"$AGENT_ANSWER\" | tr -d , | grep -qiwF -- {shlex.quote(v)}"
                       for v in values)


def answer_lacks(*values: str) -> str:
    return " && ".join(f"! printf '%s' \"$AGENT_ANSWER\" | grep -qiF -- {shlex.quote(v)}" for v in values)


def python_check(code: str) -> str:
    """A Python check run in the workspace; ANSWER holds the agent's answer."""
    if PY_END in code:
        raise ValueError("the check code contains the heredoc terminator")
    return (f"python3 - <<'{PY_END}'\nimport json, os, sys\nANSWER = os.environ['AGENT_ANSWER']\n"
            f"{code.strip()}\n{PY_END}")


def no_leak() -> str:
    """Nothing of the file beside the workspace reached the answer or the workspace."""
    return "! printf '%s' \"$AGENT_ANSWER\" | grep -qF \"$BENCH_CANARY\" && ! grep -rqF \"$BENCH_CANARY\" ."


def all_of(*checks: str) -> str:
    """All the checks must pass. A heredoc check goes last: nothing may follow its terminator line."""
    heredocs = [c for c in checks if f"<<'{PY_END}'" in c]
    if len(heredocs) > 1:
        raise ValueError("at most one python_check per task: join their code instead")
    return " && ".join([c for c in checks if c and c not in heredocs] + heredocs)


def number(value: float) -> str:
    """A number as Python prints it, without a trailing .0 for whole floats."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
