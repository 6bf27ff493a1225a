"""Many goals, each in its own workspace, on a pool of workers that load the model once each.

A goals file is JSONL, one goal a line: `{"id", "goal", "workspace"?, "files"?, "max_steps"?}`. Each goal
runs in its workspace (a fresh folder when none is given; a relative path is taken from the goals file's
folder) and is recorded in the run store like any run. Results come back in the input order, one object
per goal, with how many times the goal was retried after its worker died (the run resumed each time).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from agent.bench import GoalSpec, parse_jsonl, read_lines
from agent.config import AgentConfig, Budget
from agent.scale.runner import GoalOutcome, GoalRun, GoalRunner
from sandbox.base import SandboxConfig, SandboxKind


class BatchGoal(GoalSpec):
    """One line of a goals file."""

    workspace: Path | None = Field(default=None, description="folder to work in (default: a fresh one)")


def load_goals(path: Path) -> list[BatchGoal]:
    return parse_jsonl(read_lines(path, "goals file"), BatchGoal, str(path), noun="goals")


@dataclass(frozen=True)
class BatchSettings:
    """How every goal of a batch is run."""

    workspaces: Path  # where fresh workspaces are made, one folder per goal
    base_dir: Path = Path(".")  # relative workspaces are taken from here (the goals file's folder)
    max_steps: int = 12  # for goals that do not give theirs
    max_seconds: float = 900.0
    sandbox: SandboxKind = SandboxKind.AUTO
    unsafe_local: bool = False
    action_format: Literal["raw", "json"] = "json"  # as `autogpt run --action-format`
    python_session: bool = True  # as `autogpt run --python-session`
    worked_examples: int = 2  # as `autogpt run --worked-examples`


@dataclass(frozen=True)
class GoalResult:
    """One line of the results: the contract fields first, then what helps to look further."""

    id: str
    run_id: str
    status: str
    answer: str
    steps: int
    seconds: float
    retried: int
    reason: str = ""
    workspace: str = ""
    worker: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def goal_run(goal: BatchGoal, index: int, settings: BatchSettings) -> GoalRun:
    """What a worker is sent for `goal`: its config, with the workspace decided here."""
    workspace = (settings.workspaces / f"{index + 1:03d}-{_slug(goal.id)}" if goal.workspace is None
                 else (settings.base_dir / goal.workspace)).resolve()
    config = AgentConfig(workspace=workspace, sandbox=settings.sandbox,
                         budget=Budget(max_steps=goal.max_steps or settings.max_steps,
                                       max_seconds=settings.max_seconds),
                         action_format=settings.action_format, worked_examples=settings.worked_examples,
                         sandbox_config=SandboxConfig(unsafe_local=settings.unsafe_local,
                                                      python_session=settings.python_session))
    return GoalRun(goal.id, goal.goal, config, dict(goal.files))


def goal_result(goal: GoalRun, outcome: GoalOutcome) -> GoalResult:
    r = outcome.result
    return GoalResult(goal.id, r.run_id, r.status, r.answer, r.steps, round(r.seconds, 2), outcome.retried,
                      r.reason, str(goal.config.workspace), outcome.worker)


@dataclass
class Batch:
    """Runs goals, as many at a time as the pool has workers, calling `on_result` as each one ends."""

    runner: GoalRunner
    settings: BatchSettings
    on_result: Callable[[GoalResult], None] | None = None

    def run(self, goals: list[BatchGoal]) -> list[GoalResult]:
        """Results in input order."""
        runs = [goal_run(goal, index, self.settings) for index, goal in enumerate(goals)]
        results: dict[str, GoalResult] = {}
        if self.runner.pool.size == 1:  # this thread: Ctrl-C reaches the run at once
            for run in runs:
                self._record(results, goal_result(run, self.runner.run(run)))
            return [results[run.id] for run in runs]
        pool = ThreadPoolExecutor(max_workers=self.runner.pool.size)
        try:
            futures = {pool.submit(self.runner.run, run): run for run in runs}
            for future in as_completed(futures):
                self._record(results, goal_result(futures[future], future.result()))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return [results[run.id] for run in runs]

    def _record(self, results: dict[str, GoalResult], result: GoalResult) -> None:
        results[result.id] = result
        if self.on_result is not None:
            self.on_result(result)


@dataclass(frozen=True)
class BatchSummary:
    goals: int
    by_status: dict[str, int]
    retried: dict[str, int]  # goal id -> attempts after the first
    wall_seconds: float


def summarize(results: list[GoalResult], wall_seconds: float) -> BatchSummary:
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    return BatchSummary(len(results), by_status, {r.id: r.retried for r in results if r.retried},
                        round(wall_seconds, 2))


def in_input_order(results: list[GoalResult], goals: list[BatchGoal]) -> list[GoalResult]:
    order = {goal.id: i for i, goal in enumerate(goals)}
    return sorted(results, key=lambda r: order[r.id])


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:40]
