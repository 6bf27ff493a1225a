"""Several attempts at one goal, each in its own copy of the workspace; one of them is kept.

A small model's greedy run is one guess at a goal. Each attempt after the first samples (at `temperature`,
with a seed of its own) in a fresh copy of the workspace, so that no attempt sees another's files. The
attempt kept is, in this order of preference:
  1. one that finished and wrote every file the goal asks for (agent/deliverables.py), none of them empty;
  2. whose Python files among those compile and define the functions the goal names (`is_prime(n)`);
  3. that passes more of the checks the goal states itself: its test file, its examples (agent/goal_checks.py);
  4. whose answer (or, when the goal asks for files, whose files) the most other such attempts agree with;
  5. with the fewest failed tool calls on the way; then the earliest.
Its copy then becomes the workspace: what it wrote is written there and what it deleted is deleted.
Attempts stop early once one passes the goal's checks, or no attempt left to run could change which one
is kept. Every attempt's run is
recorded in the run store as a run of its own. The rules are pure (`outcome_of`, `kept_index`,
`settled`); `Attempts` does the copying.
"""

from __future__ import annotations

import ast
import filecmp
import hashlib
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from agent.config import AgentConfig
from agent.deliverables import requested_files
from agent.events import Event, Observation
from agent.goal_checks import GoalCheck, goal_checks, run_checks
from agent.result import RunResult
from sandbox.base import Sandbox

DONE = "done"
ATTEMPT_TEMPERATURE = 0.6
MAX_COPY_BYTES = 256 * 1024**2  # a bigger workspace gets one attempt: copying it would cost more than it saves
MAX_COPY_FILES = 20_000
SKIPPED_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__"})  # what a copy counts but never edits


@dataclass(frozen=True)
class AttemptOutcome:
    """What the choice looks at in one finished attempt."""
    result: RunResult
    missing: tuple[str, ...] = ()  # files the goal asks for that the attempt did not write (or left empty)
    broken_python: tuple[str, ...] = ()  # of those it wrote, Python files that do not compile, or else the
    # functions the goal names, `name()`, that none of them defines
    agreement: str = ""  # two attempts agree when this is equal: the answer, or the asked-for files' content
    failed_calls: int = 0  # tool calls that failed on the way: a clean run is likelier to be right
    checks: tuple[bool, ...] = ()  # the goal's own checks (agent/goal_checks.py): which passed

    @property
    def verified(self) -> bool:
        """It finished with everything asked for, and passed the goal's checks, of which there is one or more."""
        return self.complete and not self.broken_python and bool(self.checks) and all(self.checks)

    @property
    def complete(self) -> bool:
        return self.result.status == DONE and not self.missing


def normalized_answer(answer: str) -> str:
    """What two answers share when they say the same: the one number in a short answer, else its words."""
    text = answer.strip().lower()
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
    if len(numbers) == 1 and len(text) <= 80:
        number = numbers[0]
        return "number:" + (number.rstrip("0").rstrip(".") if "." in number else number)
    return "words:" + " ".join(re.findall(r"[a-z0-9]+", text))


def outcome_of(result: RunResult, workspace: Path, goal: str, files_at_start: Iterable[str],
               events: Iterable[Event] = ()) -> AttemptOutcome:
    failed = sum(1 for e in events if isinstance(e, Observation) and not e.ok)
    asked = requested_files(goal, files_at_start)
    missing = tuple(name for name in asked if not _written(workspace / name))
    python = [name for name in asked if name.endswith(".py") and name not in missing]
    broken = tuple(name for name in python if not _compiles(workspace / name))
    if python and not broken and (wanted := named_functions(goal)):
        defined = set().union(*(defined_functions(workspace / name) for name in python))
        broken = tuple(f"{name}()" for name in wanted if name not in defined)
    if asked:
        digest = hashlib.sha256()
        for name in asked:
            path = workspace / name
            digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"\1missing") + b"\0")
        agreement = "files:" + digest.hexdigest()
    else:
        agreement = normalized_answer(result.answer)
    return AttemptOutcome(result, missing, broken, agreement, failed)


FUNCTION_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\((?:[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)?\)")


def named_functions(goal: str) -> tuple[str, ...]:
    """The functions a goal names with their parameters, `is_prime(n)` or `gcd(a, b)`, in goal order."""
    return tuple(dict.fromkeys(m.group(1) for m in FUNCTION_CALL.finditer(goal)))


def defined_functions(path: Path) -> set[str]:
    """The top-level functions a Python file defines (none when it does not parse)."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def _written(path: Path) -> bool:
    """An empty file is not written: it is what code that failed after `open(name, "w")` leaves."""
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _compiles(path: Path) -> bool:
    try:
        compile(path.read_bytes(), str(path), "exec")
    except (SyntaxError, ValueError, OSError):
        return False
    return True


def _votes(outcomes: Sequence[AttemptOutcome]) -> Counter:
    return Counter(o.agreement for o in outcomes if o.complete)


def kept_index(outcomes: Sequence[AttemptOutcome]) -> int:
    """The attempt to keep (see the module's docstring for the order of preference)."""
    if not outcomes:
        raise ValueError("no attempts to choose from")
    votes = _votes(outcomes)

    def preference(i: int) -> tuple:
        o = outcomes[i]
        return (o.complete, not o.broken_python, sum(o.checks), votes[o.agreement] if o.complete else 0,
                -o.failed_calls, -i)
    return max(range(len(outcomes)), key=preference)


def settled(outcomes: Sequence[AttemptOutcome], planned: int) -> bool:
    """Whether the attempts not run yet could no longer change the one kept: it passed the goal's checks,
    or its answer has more votes than the runner-up could reach."""
    left = planned - len(outcomes)
    if left <= 0:
        return True
    if not outcomes:
        return False
    counts = sorted(_votes(outcomes).values(), reverse=True) + [0, 0]
    leader = outcomes[kept_index(outcomes)]
    if leader.verified:
        return True
    return leader.complete and not leader.broken_python and counts[0] > counts[1] + left


# -- the copies ----------------------------------------------------------------------------------------------


def copy_problem(workspace: Path) -> str | None:
    """Why `workspace` is too big to copy for each attempt, or None."""
    files = size = 0
    for root, dirs, names in os.walk(workspace):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in names:
            files += 1
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
            if files > MAX_COPY_FILES or size > MAX_COPY_BYTES:
                return (f"the workspace holds more than {MAX_COPY_FILES} files or {MAX_COPY_BYTES // 1024**2} MiB, "
                        "too much to copy for each attempt")
    return None


def copy_workspace(workspace: Path, into: Path) -> Path:
    """A copy of `workspace` (symlinks as links, the skipped folders left out) at `into`/workspace."""
    target = into / "workspace"
    shutil.copytree(workspace, target, symlinks=True, ignore=lambda _, names: [n for n in names if n in SKIPPED_DIRS])
    return target


def adopt(copy: Path, workspace: Path) -> list[str]:
    """Make `workspace` hold what `copy` holds (outside the skipped folders); the paths changed, sorted."""
    changed: list[str] = []
    theirs, ours = _tree(copy), _tree(workspace)
    for rel in sorted(ours - theirs, reverse=True):  # deepest first, so a folder is empty when its turn comes
        path = workspace / rel
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
                changed.append(rel)
        else:
            path.unlink()
            changed.append(rel)
    for rel in sorted(theirs):
        source, target = copy / rel, workspace / rel
        if source.is_dir() and not source.is_symlink():
            if not target.is_dir() or target.is_symlink():
                if target.is_symlink() or target.exists():
                    target.unlink()
                target.mkdir()
                changed.append(rel)
            continue
        if rel in ours and _same(source, target):
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.is_symlink() or target.exists():
            target.unlink()
        shutil.copy2(source, target, follow_symlinks=False)
        changed.append(rel)
    return changed


def _tree(root: Path) -> set[str]:
    found: set[str] = set()
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        rel_folder = os.path.relpath(folder, root)
        for name in [*dirs, *names]:
            found.add(name if rel_folder == "." else os.path.join(rel_folder, name))
    return found


def _same(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    return b.is_file() and filecmp.cmp(a, b, shallow=False)


# -- a run of attempts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedAttempt:
    index: int  # 0: the first (decoded as the run's own config says); later ones sample
    planned: int
    config: AgentConfig  # the run's config in this attempt's copy of the workspace


@dataclass(frozen=True)
class KeptAttempt:
    index: int
    outcomes: tuple[AttemptOutcome, ...]
    changed: tuple[str, ...]  # workspace paths the kept attempt's copy changed

    @property
    def result(self) -> RunResult:
        return self.outcomes[self.index].result

    def summary(self) -> dict[str, object]:
        """The kept run's result, with the time, steps and tokens of every attempt added up and each one
        listed (the `--json` line of `autogpt run --attempts N`)."""
        results = [o.result for o in self.outcomes]
        kept = self.result.to_json()
        kept.update(steps=sum(r.steps for r in results), tokens_in=sum(r.tokens_in for r in results),
                    tokens_out=sum(r.tokens_out for r in results),
                    seconds=round(sum(r.seconds for r in results), 2), attempt=self.index + 1,
                    attempts=[{"run_id": o.result.run_id, "status": o.result.status, "answer": o.result.answer,
                               "steps": o.result.steps, "seconds": o.result.seconds, "complete": o.complete,
                               "missing": list(o.missing), "checks_passed": sum(o.checks),
                               "checks": len(o.checks)} for o in self.outcomes])
        return kept


@dataclass
class Attempts:
    """Iterate for the attempts to run (each in a fresh copy), `record` each one's result, then `keep`."""
    config: AgentConfig
    goal: str
    files_at_start: tuple[str, ...]
    planned: int
    temperature: float = ATTEMPT_TEMPERATURE  # of the attempts after the first
    sandbox_for: Callable[[Path], Sandbox] | None = None  # where the goal's checks run (None: not run)
    _outcomes: list[AttemptOutcome] = field(default_factory=list)
    _copies: list[Path] = field(default_factory=list)
    _folder: Path | None = None
    _checks: tuple[GoalCheck, ...] | None = None  # the goal's checks, read once from the untouched workspace

    def __iter__(self) -> Iterator[PlannedAttempt]:
        for index in range(self.planned):
            if settled(self._outcomes, self.planned):
                return
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="autogpt-attempts-"))
            copy = copy_workspace(self.config.workspace, self._folder / str(index + 1))
            self._copies.append(copy)
            update: dict[str, object] = {"workspace": copy, "seed": self.config.seed + index}
            if index:
                update["temperature"] = max(self.config.temperature, self.temperature)
            yield PlannedAttempt(index, self.planned, self.config.model_copy(update=update))
            if len(self._outcomes) != index + 1:
                raise RuntimeError("each attempt's result must be recorded before the next one starts")

    def record(self, result: RunResult, events: Iterable[Event] = ()) -> AttemptOutcome:
        """The attempt that just ran: its result and its run's events."""
        copy = self._copies[len(self._outcomes)]
        outcome = outcome_of(result, copy, self.goal, self.files_at_start, events)
        if self._checks is None:
            self._checks = goal_checks(self.goal, self.files_at_start, self.config.workspace)
        checks = self._checks
        if checks and outcome.complete and self.sandbox_for is not None:
            sandbox = self.sandbox_for(copy)
            try:
                outcome = replace(outcome, checks=run_checks(checks, sandbox, self.config.workspace))
            finally:
                sandbox.close()
        self._outcomes.append(outcome)
        return outcome

    def keep(self) -> KeptAttempt:
        """Choose, make the workspace hold the kept attempt's copy, and remove the copies."""
        index = kept_index(self._outcomes)
        changed = adopt(self._copies[index], self.config.workspace)
        self.discard()
        return KeptAttempt(index, tuple(self._outcomes), tuple(changed))

    def discard(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
