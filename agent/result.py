"""What a finished run hands back to its caller (the CLI's --json line, the Python API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agent.action import Action


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    answer: str
    steps: int
    tokens_in: int
    tokens_out: int
    seconds: float
    model: str
    reason: str = ""


class Approver(Protocol):
    """Asked before a tool with side effects runs; returns None to go ahead, or feedback for the model."""

    def __call__(self, action: Action) -> str | None: ...
