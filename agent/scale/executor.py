"""The worker's side: one loaded model, and attempts at goals run on it, each relayed as messages.

An `Attempt` carries everything a worker needs, so that any worker (a restarted one, one on another node)
can take it: the goal, the run's config (workspace included), the files to seed a fresh workspace, and for
a retry the events recorded so far, from which the run resumes (`Agent.resume`).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.errors import SetupError
from agent.llm.base import ChatModel, ModelSetupError
from agent.result import RunResult
from agent.scale.relay import AttemptEnded, Message, RelayingStore, seed_run
from sandbox.base import SandboxUnavailable
from tools.base import ToolRegistry
from tools.mcp import McpServers, McpSetupError
from tools.mcp_config import McpConfigError, load_mcp_config
from tools.registry import default_tools


@dataclass(frozen=True)
class WorkerOptions:
    """How every worker of a pool loads its model."""

    model: str = "default"
    device: str = "auto"
    dtype: str = "auto"
    threads: int = 0  # CPU threads for the model (AUTOGPT_THREADS in the worker); 0: the model's own choice
    adapter: str = ""  # a LoRA adapter folder to run on top of the local model ("": none beyond the model's own)


@dataclass(frozen=True)
class WorkerInfo:
    host: str
    pid: int
    model: str  # the loaded model's name
    node: str = ""  # the Ray node id, for Ray workers

    @property
    def name(self) -> str:
        return f"pid {self.pid} on {self.host}" + (f" (Ray node {self.node[:8]})" if self.node else "")


@dataclass(frozen=True)
class PriorRun:
    """What the driver's run store holds of a run that an earlier attempt started."""

    meta: dict[str, Any]
    records: list[dict[str, Any]]  # events as logged, each with its "ts"


@dataclass(frozen=True)
class Attempt:
    goal_id: str
    run_id: str
    goal: str
    config: AgentConfig
    number: int = 1  # 1 for the first attempt, 2 for the first retry, ...
    files: dict[str, str] = field(default_factory=dict)  # written into the workspace by a first attempt
    create_workspace: bool = True  # False: the workspace must exist already (a bench task's, the user's own)
    prior: PriorRun | None = None


def load_worker_model(options: WorkerOptions) -> ChatModel:
    """The worker's model: a scripted one when $AUTOGPT_SCRIPTED_MODEL is set (tests), else `options.model`."""
    from agent.testing import scripted_model_from_env

    scripted = scripted_model_from_env()
    if scripted is not None:
        return scripted
    from agent.llm import load_chat_model

    if options.threads:  # this process is the worker's own: its threads are what the pool gave it
        os.environ["AUTOGPT_THREADS"] = str(options.threads)
    return load_chat_model(options.model, device=options.device, dtype=options.dtype,
                           adapter=Path(options.adapter) if options.adapter else None)


class GoalExecutor:
    """Holds one loaded model (and its engine caches) for the worker's lifetime; runs attempts on it."""

    def __init__(self, options: WorkerOptions, node: str = "") -> None:
        self.options = options
        self.model = load_worker_model(options)
        self.node = node

    def info(self) -> WorkerInfo:
        return WorkerInfo(socket.gethostname(), os.getpid(), self.model.name, self.node)

    def messages(self, attempt: Attempt) -> Iterator[Message]:
        """The attempt's store writes as they happen, then one AttemptEnded; never raises for a bad goal."""
        outbox: deque[Message] = deque()
        with tempfile.TemporaryDirectory(prefix="autogpt-attempt-") as scratch:
            store = RelayingStore(Path(scratch), outbox.append)
            result: RunResult | None = None
            error = ""
            try:
                with mcp_tools(attempt.config) as tools:
                    agent, events = self._start(attempt, store, tools)
                    for _ in events:
                        while outbox:
                            yield outbox.popleft()
                    result = agent.result
            except (SetupError, SandboxUnavailable, ModelSetupError, McpSetupError, McpConfigError) as exc:
                error = str(exc)
            except Exception as exc:  # a broken tool or backend costs this goal, not the worker
                error = f"{type(exc).__name__}: {exc}"
            while outbox:
                yield outbox.popleft()
            yield AttemptEnded(attempt.run_id, result, error)

    def _start(self, attempt: Attempt, store: RelayingStore, tools: ToolRegistry | None):
        from agent.loop import Agent

        workspace = attempt.config.workspace
        if attempt.prior is None and attempt.create_workspace:
            write_files(workspace, attempt.files)
        elif not workspace.is_dir():
            raise SetupError(f"workspace {workspace} is not a directory on {socket.gethostname()} (on a "
                             "cluster, workspaces must be on a filesystem every node mounts at the same path)")
        agent = Agent(self.model, config=attempt.config, tools=tools, store=store, model_spec=self.options.model,
                      adapter=self.options.adapter)
        if attempt.prior is None:
            return agent, agent.stream(attempt.goal, run_id=attempt.run_id)
        seed_run(store.scratch(), attempt.run_id, attempt.prior.meta, attempt.prior.records)
        return agent, agent.resume(attempt.run_id)


@contextmanager
def mcp_tools(config: AgentConfig) -> Iterator[ToolRegistry | None]:
    """The agent's tools plus those of the config's MCP servers, started on this node for the attempt (None,
    and nothing started, when there are none)."""
    servers = (load_mcp_config(config.mcp_config) if config.mcp_config is not None else []) + config.mcp
    if not servers:
        yield None
        return
    with McpServers(servers) as connections:
        builtin = default_tools(shell=config.shell)
        yield default_tools(shell=config.shell, extra=connections.tools(taken=builtin.names()))


def write_files(workspace: Path, files: dict[str, str]) -> None:
    """Create the workspace (and parents) and write the goal's files into it."""
    workspace.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = workspace / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
