"""The driver's loop for one goal: send an attempt to a worker, write what it relays into the run store,
and when the worker dies, send the next attempt with the events recorded so far (it resumes from them)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.config import AgentConfig
from agent.events import event_to_dict
from agent.result import RunResult
from agent.scale.executor import Attempt, PriorRun
from agent.scale.pool import PoolError, Worker, WorkerLost, WorkerPool
from agent.scale.relay import AttemptEnded, StoreMirror
from agent.state import RunState
from agent.store import RunLog, RunStore, new_run_id

CRASHED = "crashed"  # the bench's word too: the goal could not run to an end of its own


@dataclass(frozen=True)
class GoalRun:
    id: str
    goal: str
    config: AgentConfig  # the workspace is config.workspace
    files: dict[str, str] = field(default_factory=dict)
    create_workspace: bool = True


@dataclass(frozen=True)
class GoalOutcome:
    result: RunResult
    retried: int  # attempts after the first (each after a worker died)
    worker: str  # the worker that ran the last attempt


@dataclass(frozen=True)
class Retry:
    """Said when a worker died during a goal and the goal goes on in a next attempt."""

    goal_id: str
    run_id: str
    reason: str
    resume_step: int  # the run's last recorded step (0: it starts over)


@dataclass
class GoalRunner:
    pool: WorkerPool
    store: RunStore
    retries: int = 2  # attempts after worker deaths, per goal
    on_retry: Callable[[Retry], None] | None = None
    retried: dict[str, int] = field(default_factory=dict)  # goal id -> attempts after the first, so far

    def run(self, goal: GoalRun) -> GoalOutcome:
        run_id = new_run_id()
        with self.pool.worker() as worker:
            for number in range(1, self.retries + 2):
                if number > 1:
                    self.retried[goal.id] = number - 1
                prior = self._prior(run_id)
                if isinstance(prior, RunResult):  # it ended; only the worker's last reply was lost
                    return GoalOutcome(prior, number - 1, worker.info.name)
                try:
                    ended = self._attempt(worker, goal, run_id, number, prior)
                except WorkerLost as lost:
                    if (given_up := self._recover(worker, goal, run_id, str(lost), last=number > self.retries)):
                        return GoalOutcome(self._crashed(run_id, given_up), number - 1, worker.info.name)
                    continue
                return GoalOutcome(self._result(ended), number - 1, worker.info.name)
        raise AssertionError("unreachable")

    def _attempt(self, worker: Worker, goal: GoalRun, run_id: str, number: int,
                 prior: PriorRun | None) -> AttemptEnded:
        attempt = Attempt(goal.id, run_id, goal.goal, goal.config, number, goal.files, goal.create_workspace,
                          prior)
        mirror = StoreMirror(self.store)
        try:
            return worker.run(attempt, mirror.apply)
        finally:
            mirror.close()

    def _recover(self, worker: Worker, goal: GoalRun, run_id: str, reason: str, last: bool) -> str:
        """A working worker for the goal's next attempt; else why the goal is given up ("" when recovered)."""
        if last or self.pool.closed:
            return f"the worker died: {reason}" + (f" ({self.retries} retries used)" if last else "")
        state = RunState.from_events(self.store.load(run_id).events) if self.store.exists(run_id) else None
        if self.on_retry is not None:
            self.on_retry(Retry(goal.id, run_id, reason, state.step if state else 0))
        try:
            worker.recover()
        except PoolError as exc:
            return f"the worker died ({reason}) and no worker could take its place: {exc}"
        return ""

    def _prior(self, run_id: str) -> PriorRun | RunResult | None:
        """What an earlier attempt left: nothing, a run to resume, or a run that ended."""
        if not self.store.exists(run_id):
            return None
        log = self.store.load(run_id)
        if not log.events:  # died between creating the run and its first event: start it over
            shutil.rmtree(self.store.folder(run_id))
            return None
        state = RunState.from_events(log.events)
        if state.final is not None:
            return result_from_log(log, state)
        records = [{**event_to_dict(e), "ts": ts} for e, ts in zip(log.events, log.timestamps, strict=True)]
        return PriorRun(log.meta, records)

    def _result(self, ended: AttemptEnded) -> RunResult:
        if ended.result is not None:
            return ended.result
        return self._crashed(ended.run_id, ended.error)

    def _crashed(self, run_id: str, reason: str) -> RunResult:
        steps = 0
        if self.store.exists(run_id):
            steps = RunState.from_events(self.store.load(run_id).events).step
        return RunResult(run_id if self.store.exists(run_id) else "", CRASHED, steps=steps, reason=reason)


def result_from_log(log: RunLog, state: RunState) -> RunResult:
    assert state.final is not None
    return RunResult(log.run_id, state.final.status, state.final.answer, state.step, state.tokens_in,
                     state.tokens_out, round(log.elapsed_s, 2), str(log.meta.get("model", "")),
                     state.final.reason)
