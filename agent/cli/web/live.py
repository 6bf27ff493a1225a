"""Runs started from the page: the same `Agent` as `autogpt run`, driven in a thread of the server.

One run at a time (the model is loaded once and shared, like `autogpt chat`). Its events go to the run
store as usual, which is where the page reads them from; what only the server knows (a call waiting for
approval, a stop on its way, the text the model is writing now) is kept on its `LiveRun`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.cli.web.approver import ApprovalRefused, StopRequested, WebApprover
from agent.config import AgentConfig, Budget
from agent.errors import SetupError
from agent.events import Event
from agent.llm.base import ChatModel, ModelSetupError
from agent.state import RunState
from agent.store import EVENTS_FILE, RunStore, new_run_id
from sandbox.base import SandboxKind
from sandbox.factory import unavailable_reason

BUSY_LOG_S = 10.0  # a log written this recently may belong to a run another process is still driving
TEXT_TAIL = 240
KEPT_FINISHED = 50


@dataclass(frozen=True)
class UiSettings:
    """What `autogpt ui` was started with; the page can choose only within it."""

    runs_dir: Path
    workspace: Path
    models: tuple[str, ...] = ("default",)  # the first is the default; the page may pick only these
    device: str = "auto"
    dtype: str = "auto"
    sandbox: SandboxKind = SandboxKind.AUTO
    unsafe_local: bool = False
    approve: bool = False
    token: str | None = None
    allowed_hosts: frozenset[str] | None = None  # Host header names accepted; None: any


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, max_length=8_000)
    model: str | None = Field(default=None, max_length=1_000)
    sandbox: SandboxKind | None = None
    max_steps: int = Field(default=12, ge=1, le=200)
    approve: bool | None = None


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool | None = None


class RunRefused(Exception):
    """A request the server will not carry out; the message says why (HTTP status `status`)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class LiveRun:
    run_id: str
    approver: WebApprover | None
    stop: threading.Event
    state: str = "running"  # running, stopping, then ended, interrupted, failed or crashed
    error: str = ""
    text: str = ""  # the tail of what the model is writing now
    thread: threading.Thread | None = None
    updated: float = field(default_factory=time.monotonic)

    def on_text(self, chunk: str) -> None:
        if self.stop.is_set():
            raise StopRequested("stopped while the model was writing")
        self.text = (self.text + chunk)[-TEXT_TAIL:]

    def status(self) -> dict[str, Any]:
        pending = self.approver.pending if self.approver is not None else None
        state = "awaiting_approval" if pending is not None and self.state == "running" else self.state
        return {"state": state, "here": True, "error": self.error, "text": self.text,
                "approval": pending.to_json() if pending is not None else None}

    @property
    def active(self) -> bool:
        return self.state in ("running", "stopping")


class LiveRuns:
    """The runs this server drives: start, resume, stop, answer an approval."""

    def __init__(self, settings: UiSettings, load_model: Callable[[str], ChatModel]) -> None:
        self.settings = settings
        self.store = RunStore(settings.runs_dir)
        self._load_model = load_model
        self._model: tuple[str, ChatModel] | None = None
        self._lock = threading.Lock()
        self._busy = False  # a run is being started (its model may be loading)
        self._runs: OrderedDict[str, LiveRun] = OrderedDict()

    def get(self, run_id: str) -> LiveRun | None:
        return self._runs.get(run_id)

    def active(self) -> LiveRun | None:
        return next((r for r in reversed(self._runs.values()) if r.active), None)

    def start(self, request: StartRequest) -> str:
        model_spec = request.model or self.settings.models[0]
        if model_spec not in self.settings.models:
            raise RunRefused(f"model {model_spec!r} is not offered here; start `autogpt ui --model "
                             f"{model_spec}` to offer it", 400)
        config = AgentConfig(workspace=self.settings.workspace, sandbox=request.sandbox or self.settings.sandbox,
                             budget=Budget(max_steps=request.max_steps))
        config.sandbox_config.unsafe_local = self.settings.unsafe_local
        run_id = new_run_id()
        approve = self.settings.approve if request.approve is None else request.approve
        return self._launch(run_id, config, model_spec, approve, lambda agent: agent.stream(request.goal,
                                                                                             run_id=run_id))

    def resume(self, run_id: str, request: ResumeRequest) -> str:
        log = self.store.load(run_id)
        if RunState.from_events(log.events).final is not None:
            raise RunRefused(f"run {run_id} already ended; nothing to resume")
        if (live := self.get(run_id)) is not None and live.active:
            raise RunRefused(f"run {run_id} is running here already")
        age = time.time() - (self.store.folder(run_id) / EVENTS_FILE).stat().st_mtime
        if live is None and age < BUSY_LOG_S:
            raise RunRefused(f"run {run_id} wrote its log {age:.0f} s ago: another process may still be "
                             f"running it; resume it when it has stopped")
        config = AgentConfig.model_validate(log.meta["config"])
        spec = str(log.meta.get("model_spec") or self.settings.models[0])
        spec = spec if spec in self.settings.models else self.settings.models[0]
        approve = self.settings.approve if request.approve is None else request.approve
        return self._launch(run_id, config, spec, approve, lambda agent: agent.resume(run_id))

    def stop(self, run_id: str) -> None:
        live = self.get(run_id)
        if live is None or not live.active:
            raise RunRefused(f"run {run_id} is not running here")
        live.stop.set()
        if live.state == "running":
            live.state = "stopping"

    def decide(self, run_id: str, approval_id: str, decision: str, detail: str) -> None:
        live = self.get(run_id)
        if live is None or live.approver is None or not live.active:
            raise RunRefused(f"run {run_id} has no call waiting for approval")
        try:
            live.approver.decide(approval_id, decision, detail)
        except ApprovalRefused as exc:
            raise RunRefused(str(exc)) from None

    def shutdown(self, wait_s: float = 10.0) -> list[str]:
        """Stop the run in progress (it stays resumable); the ids of the runs that were stopped."""
        stopped = [r for r in self._runs.values() if r.active]
        for live in stopped:
            live.stop.set()
        deadline = time.monotonic() + wait_s
        for live in stopped:
            if live.thread is not None:
                live.thread.join(max(0.0, deadline - time.monotonic()))
        return [r.run_id for r in stopped]

    # -- driving a run -------------------------------------------------------------------------------

    def _launch(self, run_id: str, config: AgentConfig, model_spec: str, approve: bool,
                open_events: Callable[[Any], Iterator[Event]]) -> str:
        with self._lock:
            if self._busy or self.active() is not None:
                raise RunRefused("a run is in progress here: stop it or wait for it to end")
            self._busy = True
        try:
            if (problem := unavailable_reason(config.sandbox, config.sandbox_config)) is not None:
                raise RunRefused(problem, 400)
            if not config.workspace.is_dir():
                raise RunRefused(f"workspace {config.workspace} is not a directory", 400)
            agent = self._agent(config, model_spec)
            stop = threading.Event()
            live = LiveRun(run_id, WebApprover(config.workspace.resolve(), stop) if approve else None, stop)
            agent.approver, agent.on_text = live.approver, live.on_text
            try:
                events = open_events(agent)
            except SetupError as exc:
                raise RunRefused(str(exc), 400) from None
            self._remember(live)
            live.thread = threading.Thread(target=self._drain, args=(live, events, agent), daemon=True,
                                           name=f"run-{run_id}")
            live.thread.start()
            return run_id
        finally:
            self._busy = False

    def _agent(self, config: AgentConfig, model_spec: str):
        from agent.loop import Agent

        if self._model is None or self._model[0] != model_spec:
            self._model = None  # one model in memory at a time
            try:
                self._model = (model_spec, self._load_model(model_spec))
            except ModelSetupError as exc:
                raise RunRefused(str(exc), 400) from None
        return Agent(self._model[1], config=config, store=self.store, model_spec=model_spec)

    def _drain(self, live: LiveRun, events: Iterator[Event], agent: Any) -> None:
        try:
            for _ in events:
                live.text = ""  # an event closes the model's last reply; the next one starts afresh
                if live.stop.is_set():
                    break
            outcome, error = ("ended", "") if agent.result is not None else ("interrupted", "")
        except StopRequested:
            outcome, error = "interrupted", ""
        except SetupError as exc:
            outcome, error = "failed", str(exc)
        except Exception as exc:  # the server outlives a crashed run; its log stays resumable
            outcome, error = "crashed", f"{type(exc).__name__}: {exc}"
        finally:
            events.close()  # type: ignore[attr-defined]  # a generator: its finally closes the log
        live.state, live.error, live.text, live.updated = outcome, error, "", time.monotonic()

    def _remember(self, live: LiveRun) -> None:
        self._runs[live.run_id] = live
        self._runs.move_to_end(live.run_id)
        while len(self._runs) > KEPT_FINISHED:
            oldest = next(iter(self._runs))
            if self._runs[oldest].active:
                break
            del self._runs[oldest]
