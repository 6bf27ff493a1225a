"""How runs end: a small exception tree caught in one place (the loop's `_drive`)."""

from __future__ import annotations


class RunStop(Exception):
    status = "failed"

    def __init__(self, reason: str, answer: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer


class Finished(RunStop):
    status = "done"


class BudgetExhausted(RunStop):
    status = "budget_exhausted"


class RunFailed(RunStop):
    status = "failed"


class InvalidAction(ValueError):
    """The model's reply could not be turned into a valid action; the message is fed back to it."""


class SetupError(RuntimeError):
    """Something the user must fix before a run can start (a model, a sandbox, a path)."""
