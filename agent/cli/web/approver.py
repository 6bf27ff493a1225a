"""Approval on the page: a side-effect call waits, shown with its preview, until Allow / Deny / Always /
a new instruction is clicked, exactly as `autogpt chat` asks on the terminal (agent.approval is shared).

The run's thread blocks in `__call__`; the web request that answers calls `decide` from another thread.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.action import Action
from agent.approval import ApprovalPolicy, Decision, parse_decision, preview_action
from agent.cli.web.views import preview_view


class StopRequested(Exception):
    """The page asked the run to stop: it ends where it is, unfinished, and its log stays resumable."""


class ApprovalRefused(ValueError):
    """An answer that cannot settle the waiting call (no such call, or an unknown decision)."""


@dataclass
class PendingApproval:
    approval_id: str
    action: Action
    view: dict[str, Any]
    answered: threading.Event = field(default_factory=threading.Event)
    verdict: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.approval_id, "tool": self.action.tool, **self.view}


class WebApprover:
    """The Approver (agent.result.Approver) of a run started from the page."""

    def __init__(self, workspace: Path, stop: threading.Event, policy: ApprovalPolicy | None = None) -> None:
        self.workspace = Path(workspace)
        self.stop = stop
        self.policy = policy or ApprovalPolicy()
        self.pending: PendingApproval | None = None
        self._lock = threading.Lock()

    def __call__(self, action: Action) -> str | None:
        if not self.policy.needs_asking(action.tool):
            return None
        pending = PendingApproval(secrets.token_hex(8), action,
                                  preview_view(preview_action(action, self.workspace)))
        with self._lock:
            self.pending = pending
        try:
            while not pending.answered.wait(0.2):
                if self.stop.is_set():
                    raise StopRequested("stopped while a call waited for approval")
            return pending.verdict
        finally:
            with self._lock:
                self.pending = None

    def decide(self, approval_id: str, answer: str, detail: str = "") -> None:
        """Settle the waiting call with a decision (yes, no, always, edit) and its reason or instruction."""
        decision: Decision | None = parse_decision(answer)
        if decision is None:
            raise ApprovalRefused(f"unknown decision {answer!r}: use yes, no, always or edit")
        if decision == "edit" and not detail.strip():
            raise ApprovalRefused("a new instruction needs its text")
        with self._lock:
            pending = self.pending
            if pending is None or pending.approval_id != approval_id or pending.answered.is_set():
                raise ApprovalRefused("no call is waiting for that answer (it was answered, or the run moved on)")
            pending.verdict = self.policy.settle(pending.action, decision, detail)
            pending.answered.set()
