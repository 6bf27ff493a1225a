"""The user's own successful runs as training examples (`--from-runs`).

A run counts as successful when it ended `done` (the model called finish) with every file the goal asked
for written. Its recorded actions are replayed through the real loop, as generated trajectories are, with
tools that answer each call with the observation the run recorded: nothing runs again, and each step's
prompt is rebuilt exactly as the agent builds it now (so the examples follow today's prompt format). A call
that failed is context for the steps after it, never a target. A damaged run log is skipped with one line
saying why; so is a run that overlaps held-out text (a bench run of a suite task, say).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.bench import SuiteTask
from agent.config import AgentConfig
from agent.events import ActionChosen, Event, Observation
from agent.store import RunLog, RunStore
from agent.tune.dataset import DatasetError, TrainingExample, example_overlaps, examples_of
from agent.tune.families.base import Step
from agent.tune.overlap import OverlapIndex, default_index
from agent.tune.replay import ModelText, Rejected, Verified, replay
from tools.base import ToolContext, ToolError, ToolRegistry
from tools.registry import default_tools

FAMILY = "runs"


class RunsError(DatasetError):
    """Runs that cannot become training data: no run store, or no successful run that can be used."""


class RecordedTools(ToolRegistry):
    """A run's tools, answering each call with the observation the run recorded, in order."""

    def __init__(self, tools: ToolRegistry, observations: list[Observation]) -> None:
        super().__init__(list(tools))
        self._left = list(observations)

    def call(self, ctx: ToolContext, name: str, args: dict[str, Any]) -> tuple[str, bool]:
        if not self._left:
            raise Rejected("the replay made more calls than the run recorded")
        observation = self._left.pop(0)
        if observation.tool != name:
            raise Rejected(f"step {observation.step}: the run recorded {observation.tool}, the replay called {name}")
        return observation.output, observation.ok


@dataclass
class RunsExtraction:
    examples: list[TrainingExample] = field(default_factory=list)
    runs: int = 0
    successful: int = 0
    used: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per run that could not be used, and why


def examples_from_runs(runs_dir: Path | None = None, text: ModelText | None = None, *, worked_examples: int = 0,
                       index: OverlapIndex | None = None) -> list[TrainingExample]:
    """Examples from every successful run in `runs_dir` (default: the run store); RunsError when none."""
    return extract_runs(runs_dir, text, worked_examples=worked_examples, index=index).examples


def extract_runs(runs_dir: Path | None = None, text: ModelText | None = None, *, worked_examples: int = 0,
                 index: OverlapIndex | None = None) -> RunsExtraction:
    """`examples_from_runs`, with what was used and a line for each run that was skipped."""
    store = RunStore(runs_dir)
    if not store.runs_dir.is_dir():
        raise RunsError(f"no run store at {store.runs_dir}")
    text = text or ModelText.load()
    index = index or default_index()
    out = RunsExtraction()
    for run_id in sorted(store.list_ids()):
        out.runs += 1
        try:
            log = store.load(run_id)
        except (ValueError, OSError) as exc:  # a corrupt or unreadable log: say so, go on
            out.skipped.append(f"{run_id}: cannot read the run ({exc}); skipped")
            continue
        if not _successful(log):
            continue
        out.successful += 1
        try:
            examples = _run_examples(log, text, worked_examples)
        except (Rejected, ValidationError, ToolError, KeyError, StopIteration, ValueError) as exc:
            out.skipped.append(f"{run_id}: cannot replay it ({_first_line(exc)}); skipped")
            continue
        overlaps = [found for e in examples for found in example_overlaps(e, index)]
        if overlaps:
            out.skipped.append(f"{run_id}: overlaps held-out text, {overlaps[0]}; skipped")
            continue
        out.examples.extend(examples)
        out.used.append(run_id)
    if not out.examples:
        detail = f" ({out.skipped[0]})" if out.skipped else ""
        raise RunsError(f"no usable successful runs in {store.runs_dir}: {out.runs} runs, {out.successful} "
                           f"successful, {len(out.skipped)} skipped{detail}")
    return out


def _successful(log: RunLog) -> bool:
    result = log.result or {}
    return result.get("status") == "done" and "not written" not in str(result.get("reason", ""))


def _run_examples(log: RunLog, text: ModelText, worked_examples: int) -> list[TrainingExample]:
    steps = _recorded_steps(log.events)
    started = next(e for e in log.events if e.type == "run_started")
    files = tuple(started.files)
    if any(name.startswith("... and ") for name in files):
        raise Rejected("its workspace listing was cut at the first files")
    root = Path(tempfile.mkdtemp(prefix="tune-run-"))
    try:
        workspace = root / "workspace"
        for name in files:  # the goal message lists the files the run started with
            (workspace / name).parent.mkdir(parents=True, exist_ok=True)
            (workspace / name).write_text("", encoding="utf-8")
        workspace.mkdir(exist_ok=True)
        config = AgentConfig.model_validate({**log.meta["config"], "workspace": str(workspace),
                                             "worked_examples": worked_examples})
        registry = default_tools(shell=config.shell)
        tools = RecordedTools(registry, [o for _, o in steps])
        planned = tuple(_without_defaults(s, registry) for s, _ in steps)
        recorded, result = replay(log.meta["goal"], planned, text, config, tools, RunStore(root / "runs"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    task = SuiteTask(id=f"run-{log.run_id}", goal=log.meta["goal"], check="true")
    verified = Verified(task, tuple(recorded), result.answer, 0.0)
    meta = {"goal": log.meta["goal"], "run_id": log.run_id, "model": log.meta.get("model", ""),
            "worked_examples": worked_examples, "source": "run", "recovery": False}
    return examples_of(verified, FAMILY, "train", text, meta)


def _recorded_steps(events: list[Event]) -> list[tuple[Step, Observation]]:
    """Each recorded call and what it returned; a failed call is replayed as context, not learned."""
    steps: list[tuple[Step, Observation]] = []
    pending: ActionChosen | None = None
    for event in events:
        if isinstance(event, ActionChosen):
            pending = event
        elif isinstance(event, Observation) and pending is not None:
            if event.interrupted:
                raise Rejected("it was interrupted and resumed")
            steps.append((Step(pending.tool, dict(pending.args), ok=event.ok, learn=event.ok), event))
            pending = None
    if not steps or steps[-1][0].tool != "finish":
        raise Rejected("it does not end with finish")
    return steps


def _without_defaults(step: Step, tools: ToolRegistry) -> Step:
    """The call as the model would write it: optional arguments left at their default are left out."""
    fields = tools.get(step.tool).args_model.model_fields
    args = {k: v for k, v in step.args.items()
            if k not in fields or fields[k].is_required() or v != fields[k].default}
    return Step(step.tool, args, ok=step.ok, learn=step.learn)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
