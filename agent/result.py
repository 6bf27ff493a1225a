"""What a finished run hands back to its caller: the Python API's return value, the last line of
`autogpt run --json`, and what `autogpt bench` reads back from that line (one type for all three)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from agent.action import Action


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # done, failed, budget_exhausted; the bench adds crashed and timeout
    answer: str = ""
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    model: str = ""
    reason: str = ""  # why the run ended (for a crashed or timed-out bench run: what went wrong)

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        """Parse a `--json` result line; pydantic.ValidationError when it is not one."""
        from pydantic import TypeAdapter

        return TypeAdapter(cls).validate_json(text)


class Approver(Protocol):
    """Asked before a tool with side effects runs; returns None to go ahead, or feedback for the model."""

    def __call__(self, action: Action) -> str | None: ...
