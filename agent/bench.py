"""Task suites: load a JSONL suite, run the agent on each task in a fresh workspace, check, report.

A task passes when its `check` shell command exits 0 in the task's workspace after the run. Running the
agent is injected (`RunTask`), so the runner's logic is tested without a model; the real one starts
`autogpt run ... --json` as a child process, so a run that crashes or hangs costs one task, never the bench.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.config import AgentConfig
from agent.result import RunResult
from agent.scale.runner import CRASHED, GoalOutcome, GoalRun
from sandbox.base import SandboxKind

# Beyond the agent's own done|failed|budget_exhausted, the statuses the bench gives a run that broke
# (CRASHED is shared with the worker pools).
TIMED_OUT = "timeout"
OUTSIDE_FILE = "outside.txt"  # beside (not in) each workspace, holding a canary: see `prepare_workspace`
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # where `python -m agent.cli` finds the package
Spec = TypeVar("Spec", bound="GoalSpec")


# -- the suite file --------------------------------------------------------------------------------------


class GoalSpec(BaseModel):
    """What a suite task and a batch goal share: an id, the goal, files to seed the workspace, a step limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    files: dict[str, str] = Field(default_factory=dict, description="workspace-relative path -> text")
    max_steps: int | None = Field(default=None, ge=1)

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for name in files:
            path = PurePosixPath(name)
            if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
                raise ValueError(f"file path {name!r} must be relative and stay inside the workspace")
        return files


class SuiteTask(GoalSpec):
    """One line of a suite file."""

    check: str = Field(min_length=1, description="shell command run in the workspace; exit 0 = pass")
    max_steps: int = Field(default=12, ge=1)


class SuiteError(ValueError):
    """A suite (or goals) file the user must fix; the message names the file and line."""


def load_suite(path: Path) -> list[SuiteTask]:
    return parse_suite(read_lines(path, "suite"), source=str(path))


def read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SuiteError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def parse_suite(lines: Iterable[str], source: str = "suite") -> list[SuiteTask]:
    """Tasks from JSONL lines; blank lines and lines starting with `#` are skipped."""
    return parse_jsonl(lines, SuiteTask, source, noun="tasks")


def parse_jsonl(lines: Iterable[str], model: type[Spec], source: str, noun: str) -> list[Spec]:
    """One `model` per JSONL line, ids unique; a bad line is a SuiteError naming `source` and the line."""
    specs: list[Spec] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source} line {number}"
        try:
            spec = model.model_validate_json(line)
        except ValidationError as exc:
            raise SuiteError(f"{where}: {_describe(exc)}") from None
        if spec.id in seen:
            raise SuiteError(f"{where}: duplicate id {spec.id!r} (first on line {seen[spec.id]})")
        seen[spec.id] = number
        specs.append(spec)
    if not specs:
        raise SuiteError(f"{source}: no {noun}")
    return specs


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        if error["type"] == "json_invalid":
            return f"not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')})"
        place = ".".join(str(part) for part in error["loc"]) or "line"
        problems.append(f"{place}: {error['msg']}")
    return "; ".join(problems)


# -- one task --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSettings:
    """How every task of one bench is run."""

    model: str = "default"
    adapter: Path | None = None  # a LoRA adapter folder on top of `model`
    sandbox: SandboxKind = SandboxKind.AUTO
    task_seconds: float = 600.0  # the run's wall-clock budget, given to the agent as --max-seconds
    load_seconds: float = 180.0  # grace on top of that for starting up and loading the model
    check_seconds: float = 60.0
    runs_dir: Path | None = None
    extra_args: tuple[str, ...] = ()  # passed through to `autogpt run`
    keep_workspaces: bool = False


class RunTask(Protocol):
    """Runs the agent on `task.goal` in `workspace`; must return, never raise, for an ordinary failure."""

    def __call__(self, task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult: ...


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    exit_code: int | None  # None when the check timed out
    output: str


@dataclass(frozen=True)
class TaskResult:
    id: str
    passed: bool
    status: str
    steps: int
    tokens_in: int
    tokens_out: int
    seconds: float
    answer: str
    run_id: str = ""
    model: str = ""  # the model's name as the run reported it
    error: str = ""
    check_exit: int | None = None
    check_output: str = ""
    workspace: str = ""  # only when workspaces are kept


def prepare_workspace(task: SuiteTask, root: Path) -> tuple[Path, str]:
    """Write the task's files into `root/workspace`; put a canary file beside it, outside the workspace.

    A task that must be refused asks the agent to read `../outside.txt`; its check looks for the canary
    (in $BENCH_CANARY) in the answer and the workspace, so a leak fails the task whatever the agent said.
    """
    canary = f"CANARY-{secrets.token_hex(8)}"
    (root / OUTSIDE_FILE).write_text(f"secret outside the workspace: {canary}\n", encoding="utf-8")
    workspace = root / "workspace"
    workspace.mkdir()
    for name, text in task.files.items():
        target = workspace / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return workspace, canary


def run_check(task: SuiteTask, workspace: Path, outcome: RunResult, canary: str,
              timeout: float) -> CheckOutcome:
    env = {**os.environ, "AGENT_ANSWER": outcome.answer, "AGENT_STATUS": outcome.status,
           "BENCH_CANARY": canary}
    try:
        code, output, _ = _run_process(["sh", "-c", task.check], cwd=workspace, env=env, timeout=timeout,
                                       merge_stderr=True)
    except subprocess.TimeoutExpired:
        return CheckOutcome(False, None, f"check timed out after {timeout:g} s")
    return CheckOutcome(code == 0, code, output[-2000:])


def run_one(task: SuiteTask, settings: BenchSettings, run_task: RunTask) -> TaskResult:
    """Run one task end to end; whatever the run does, this returns a result."""
    root = Path(tempfile.mkdtemp(prefix=f"bench-{_slug(task.id)}-"))
    try:
        workspace, canary = prepare_workspace(task, root)
        try:
            outcome = run_task(task, workspace, settings)
        except Exception as exc:  # a broken runner costs this task only
            outcome = RunResult("", CRASHED, reason=f"{type(exc).__name__}: {exc}")
        check = run_check(task, workspace, outcome, canary, settings.check_seconds)
        broke = outcome.status in (CRASHED, TIMED_OUT)
        # A crashed or timed-out run never passes, even when the check happens to hold without it.
        passed = check.passed and not broke
        return TaskResult(task.id, passed, outcome.status, outcome.steps, outcome.tokens_in,
                          outcome.tokens_out, round(outcome.seconds, 2), outcome.answer, outcome.run_id,
                          outcome.model, outcome.reason if broke else "", check.exit_code, check.output,
                          str(workspace) if settings.keep_workspaces else "")
    finally:
        if not settings.keep_workspaces:
            shutil.rmtree(root, ignore_errors=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)[:40]


# -- the real run: `autogpt run --json` in a child process -----------------------------------------------


def cli_command(task: SuiteTask, workspace: Path, settings: BenchSettings) -> list[str]:
    command = [sys.executable, "-m", "agent.cli", "run", "--workspace", str(workspace),
               "--model", settings.model, "--max-steps", str(task.max_steps), "--sandbox", settings.sandbox,
               "--max-seconds", f"{settings.task_seconds:g}", "--json", *settings.extra_args]
    if settings.adapter is not None:
        command += ["--adapter", str(settings.adapter.resolve())]
    if settings.runs_dir is not None:
        command += ["--runs-dir", str(settings.runs_dir)]
    return [*command, "--", task.goal]  # after `--`, a goal that starts with "-" is not taken for an option


def run_agent_cli(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
    """The real `RunTask`: one `autogpt run --json` process per task, sharing nothing but model files."""
    limit = settings.task_seconds + settings.load_seconds
    started = time.monotonic()
    try:
        code, stdout, stderr = _run_process(cli_command(task, workspace, settings), cwd=PROJECT_ROOT,
                                            env=dict(os.environ), timeout=limit)
    except subprocess.TimeoutExpired:
        return RunResult("", TIMED_OUT, seconds=limit, reason=f"the run took longer than {limit:g} s")
    outcome = parse_run_output(code, stdout, stderr)
    if outcome.status == CRASHED:  # no run result to take the time from: the process's own time
        outcome = replace(outcome, seconds=time.monotonic() - started)
    return outcome


def parse_run_output(code: int, stdout: str, stderr: str) -> RunResult:
    """The outcome from the last stdout line of `autogpt run --json`, or a crash that says why."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    tail = stderr.strip()[-1500:]
    if code != 0 or not lines:
        return RunResult("", CRASHED, reason=f"exit code {code}: {tail or 'no output'}")
    try:
        return RunResult.from_json(lines[-1])
    except ValidationError as exc:
        return RunResult("", CRASHED, reason=f"last stdout line is not a run result ({exc.error_count()} "
                                             f"problems): {lines[-1][:300]}")


def _run_process(command: list[str], cwd: Path, env: dict[str, str], timeout: float,
                 merge_stderr: bool = False) -> tuple[int, str, str]:
    """Run `command` in its own process group, so a timeout kills it and everything it started."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE, text=True,
                               errors="replace", start_new_session=True)
    with _live_lock:
        _live.add(process)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        raise
    finally:
        _kill_group(process)  # a finished process may have left children behind (a sandboxed program)
        with _live_lock:
            _live.discard(process)
    return process.returncode, stdout, stderr or ""


# Runs and checks in flight. Each is in its own session (so Ctrl-C does not reach it), hence this list to
# stop them when the bench is interrupted.
_live_lock = threading.Lock()
_live: set[subprocess.Popen] = set()


def stop_live_processes() -> None:
    with _live_lock:
        processes = list(_live)
    for process in processes:
        _kill_group(process)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- the run on a pool of workers: `bench --ray` ---------------------------------------------------------


def pool_run_task(run_goal: Callable[[GoalRun], GoalOutcome], base: AgentConfig) -> RunTask:
    """A RunTask that hands each task to a pool worker holding a loaded model (`GoalRunner.run`), instead
    of starting `autogpt run` for it; the workspace (made here) must be one the worker can reach."""
    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        budget = base.budget.model_copy(update={"max_steps": task.max_steps, "max_seconds": settings.task_seconds})
        config = base.model_copy(update={"workspace": workspace, "budget": budget})
        return run_goal(GoalRun(task.id, task.goal, config, create_workspace=False)).result
    return run


# -- the whole suite -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    tasks: int
    passed: int
    pass_rate: float
    median_steps: float
    median_tokens: float  # tokens in + out per run
    median_seconds: float
    crashed: int
    timed_out: int


def totals(results: list[TaskResult]) -> Totals:
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 2) if values else 0.0

    passed = sum(r.passed for r in results)
    return Totals(tasks=len(results), passed=passed,
                  pass_rate=round(passed / len(results), 4) if results else 0.0,
                  median_steps=median([r.steps for r in results]),
                  median_tokens=median([r.tokens_in + r.tokens_out for r in results]),
                  median_seconds=median([r.seconds for r in results]),
                  crashed=sum(r.status == CRASHED for r in results),
                  timed_out=sum(r.status == TIMED_OUT for r in results))


class BenchReport(BaseModel):
    """What `autogpt bench --out` writes: the settings, every task's result, and the totals."""

    suite: str
    model: str  # as given (--model)
    adapter: str = ""  # as given (--adapter), resolved
    model_names: list[str]  # the names the runs reported, e.g. SmolLM2-135M-Instruct for "default"
    sandbox: str
    run_args: list[str] = []  # the options every `autogpt run` got beyond the model and sandbox
    workers: int
    started: str
    wall_seconds: float
    planned: int  # tasks selected; `tasks` has fewer while the bench runs or after it was interrupted
    complete: bool
    totals: Totals
    tasks: list[TaskResult]


@dataclass
class Bench:
    """Runs a suite's tasks, `workers` at a time, calling `on_result` as each one ends."""

    settings: BenchSettings = field(default_factory=BenchSettings)
    run_task: RunTask | None = None  # None: the real one, `run_agent_cli`
    workers: int = 1
    on_result: Callable[[TaskResult], None] | None = None

    def run(self, tasks: list[SuiteTask]) -> list[TaskResult]:
        """Results in suite order. Each run is its own process already, so threads only wait on them."""
        settings = self.settings
        if settings.runs_dir is not None:
            settings = replace(settings, runs_dir=settings.runs_dir.resolve())
        run_task = self.run_task or run_agent_cli
        results: dict[str, TaskResult] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, self.workers))
        try:
            futures = [pool.submit(run_one, task, settings, run_task) for task in tasks]
            for future in as_completed(futures):
                result = future.result()
                results[result.id] = result
                if self.on_result is not None:
                    self.on_result(result)
        except BaseException:  # Ctrl-C above all: start nothing more, stop what is running
            pool.shutdown(wait=False, cancel_futures=True)
            stop_live_processes()
            raise
        pool.shutdown()
        return [results[task.id] for task in tasks]


def run_suite(tasks: list[SuiteTask], bench: Bench, suite: str = "") -> BenchReport:
    started = datetime.now(UTC)
    return make_report(bench.run(tasks), tasks, bench, suite, started)


def make_report(results: list[TaskResult], tasks: list[SuiteTask], bench: Bench, suite: str,
                started: datetime) -> BenchReport:
    """A report of `results` (all of `tasks`, or those done so far), in suite order."""
    order = {task.id: i for i, task in enumerate(tasks)}
    results = sorted(results, key=lambda r: order[r.id])
    adapter = bench.settings.adapter
    return BenchReport(suite=suite, model=bench.settings.model, adapter=str(adapter.resolve()) if adapter else "",
                       model_names=sorted({r.model for r in results if r.model}),
                       sandbox=bench.settings.sandbox, run_args=list(bench.settings.extra_args),
                       workers=bench.workers, started=started.isoformat(timespec="seconds"),
                       wall_seconds=round((datetime.now(UTC) - started).total_seconds(), 2),
                       planned=len(tasks), complete=len(results) == len(tasks), totals=totals(results),
                       tasks=results)


def report_json(report: BenchReport) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
