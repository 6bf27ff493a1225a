"""Typed events: what a run emits, what the CLI renders, what the run log stores, what resume replays."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Status = Literal["done", "failed", "budget_exhausted"]
PlanStepStatus = Literal["pending", "in_progress", "done", "failed"]


@dataclass(frozen=True)
class PlanStep:
    text: str
    status: PlanStepStatus = "pending"


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    goal: str
    model: str
    device: str
    workspace: str
    config: dict[str, Any]
    step: int = 0
    files: tuple[str, ...] = ()  # the workspace's files when the run started (the goal message lists them)
    type: Literal["run_started"] = "run_started"


@dataclass(frozen=True)
class PlanUpdated:
    steps: tuple[PlanStep, ...]
    step: int = 0
    tokens_in: int = 0  # set when the plan came from a model call
    tokens_out: int = 0
    type: Literal["plan"] = "plan"


@dataclass(frozen=True)
class ActionChosen:
    """The model chose a tool call; recorded before the tool runs (resume relies on this)."""

    step: int
    thought: str
    tool: str
    args: dict[str, Any]
    plan_step: int = 1
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    prefill_seconds: float = 0.0  # of `seconds`, the prompt's prefill (0.0 when the backend cannot tell)
    type: Literal["action"] = "action"


@dataclass(frozen=True)
class Observation:
    step: int
    tool: str
    output: str
    ok: bool
    seconds: float = 0.0
    interrupted: bool = False
    type: Literal["observation"] = "observation"


@dataclass(frozen=True)
class ErrorEvent:
    """Something went wrong that the run recovers from (bad model output, repeated action, ...)."""

    step: int
    kind: str
    message: str
    tokens_in: int = 0
    tokens_out: int = 0
    reply: str = ""  # the model's reply, when a reply was rejected
    type: Literal["error"] = "error"


@dataclass(frozen=True)
class RunFinished:
    step: int
    status: Status
    answer: str
    reason: str = ""
    type: Literal["final"] = "final"


Event = RunStarted | PlanUpdated | ActionChosen | Observation | ErrorEvent | RunFinished
_BY_TYPE: dict[str, type] = {cls.type: cls for cls in  # type: ignore[attr-defined]
                             (RunStarted, PlanUpdated, ActionChosen, Observation, ErrorEvent, RunFinished)}


def event_to_dict(event: Event) -> dict[str, Any]:
    return asdict(event)


def event_from_dict(data: dict[str, Any]) -> Event:
    cls = _BY_TYPE[data["type"]]
    known = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in known}
    if cls is PlanUpdated:
        kwargs["steps"] = tuple(PlanStep(**s) for s in kwargs["steps"])
    return cls(**kwargs)


__all__ = ["Event", "RunStarted", "PlanUpdated", "PlanStep", "ActionChosen", "Observation", "ErrorEvent",
           "RunFinished", "event_to_dict", "event_from_dict", "Status"]
