"""A run's state as a fold over its events: the loop and `resume` build it the same way."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from agent.events import (
    ActionChosen,
    ErrorEvent,
    Event,
    Observation,
    PlanStep,
    PlanUpdated,
    RunFinished,
    RunStarted,
)


@dataclass
class Turn:
    action: ActionChosen
    observation: Observation | None = None


@dataclass
class RunState:
    run_id: str = ""
    goal: str = ""
    files: tuple[str, ...] = ()
    plan: tuple[PlanStep, ...] = ()
    turns: list[Turn] = field(default_factory=list)
    errors: list[ErrorEvent] = field(default_factory=list)
    step: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    final: RunFinished | None = None

    @classmethod
    def from_events(cls, events: list[Event]) -> RunState:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_id, self.goal, self.files = event.run_id, event.goal, tuple(event.files)
        elif isinstance(event, PlanUpdated):
            self.plan = event.steps
            self._count(event.step, event.tokens_in, event.tokens_out)
        elif isinstance(event, ActionChosen):
            self.turns.append(Turn(event))
            self._count(event.step, event.tokens_in, event.tokens_out)
        elif isinstance(event, Observation):
            if self.turns and self.turns[-1].observation is None:
                self.turns[-1].observation = event
        elif isinstance(event, ErrorEvent):
            self.errors.append(event)
            self._count(event.step, event.tokens_in, event.tokens_out)
        elif isinstance(event, RunFinished):
            self.final = event

    def _count(self, step: int, tokens_in: int, tokens_out: int) -> None:
        self.step = max(self.step, step)
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out

    @property
    def pending_action(self) -> ActionChosen | None:
        """An action that started but has no recorded result (the process died while it ran)."""
        if self.turns and self.turns[-1].observation is None:
            return self.turns[-1].action
        return None


def advance_plan(plan: tuple[PlanStep, ...], current: int, ok: bool) -> tuple[PlanStep, ...]:
    """Steps before `current` (1-based) are done; `current` is in progress, or failed when its call failed."""
    if not plan:
        return plan
    current = max(1, min(current, len(plan)))
    updated = []
    for index, step in enumerate(plan, start=1):
        if index < current:
            status = "done"
        elif index == current:
            status = "in_progress" if ok else "failed"
        else:
            status = step.status if step.status == "done" else "pending"
        updated.append(replace(step, status=status))
    return tuple(updated)


def close_plan(plan: tuple[PlanStep, ...], status: str) -> tuple[PlanStep, ...]:
    """At the end of a run: all done on success; otherwise the unfinished step is marked failed."""
    if status == "done":
        return tuple(replace(s, status="done") for s in plan)
    return tuple(replace(s, status="failed") if s.status == "in_progress" else s for s in plan)
