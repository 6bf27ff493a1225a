"""The sandbox interface: where untrusted, model-written code runs.

A backend is started for one run's workspace, executes commands with a timeout, and is closed at the end.
Limits and the network policy live in one typed config with safe defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field, field_validator

BackendName = Literal["docker", "local"]


class SandboxKind(StrEnum):
    """Which backend runs a run's code: `auto` is Docker when its engine and image are there, else local."""

    DOCKER = "docker"
    LOCAL = "local"
    AUTO = "auto"

IsolationName = Literal["auto", "bwrap", "unshare"]
FailureReason = Literal["timeout", "memory", "killed", "output_limit", "quota"]


class SandboxConfig(BaseModel):
    """Resource limits and policy for one sandbox. Every default is the safe choice."""

    timeout_s: float = Field(default=30.0, gt=0, description="wall-clock limit per call")
    memory_mb: int = Field(default=512, ge=16, description="address space / container memory cap")
    cpus: float = Field(default=1.0, gt=0, description="CPU share (Docker) ")
    cpu_seconds: int = Field(default=60, ge=1, description="CPU-time rlimit per call (local)")
    pids: int = Field(default=64, ge=4, description="max processes / threads")
    file_size_mb: int = Field(default=64, ge=1, description="largest file a call may write")
    open_files: int = Field(default=256, ge=16)
    output_bytes: int = Field(default=64_000, ge=1_000, description="cap on stdout and on stderr, each")
    network: bool = Field(default=False, description="allow network access (off by default)")
    quota_mb: int = Field(default=1024, ge=1, description="most MiB the workspace may hold (both backends)")
    quota_files: int = Field(default=100_000, ge=10, description="most files and folders in the workspace")
    image: str = Field(default="autogpt-sandbox:latest", description="Docker image for the docker backend")
    unsafe_local: bool = Field(
        default=False,
        description="let the local backend run without namespace isolation when none is available",
    )
    local_isolation: IsolationName = Field(
        default="auto", description="local: how calls are isolated; auto = bubblewrap, else util-linux unshare",
    )
    python_session: bool = Field(
        default=True, description="run_python keeps one Python interpreter for the run (variables, imports and "
        "functions last from call to call; sandbox/python_session.py); off: a fresh interpreter per call. Needs "
        "warm_exec",
    )
    warm_exec: bool = Field(
        default=True, description="calls go through a warm executor in a sandbox kept for the run (Docker: "
        "in the container, not docker exec; local: in one namespace sandbox, not a fresh one per call)",
    )
    user: str | None = Field(
        default=None, description="UID[:GID] to run code as (never 0; local: only for an agent run as root); "
        "default: the workspace owner, or sandbox_uid:sandbox_gid when the owner is root",
    )
    sandbox_uid: int = Field(default=10001, ge=1, description="uid for code when the workspace is root's")
    sandbox_gid: int = Field(default=10001, ge=1, description="gid for code when the workspace is root's")

    @field_validator("user")
    @classmethod
    def _not_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        uid, _, gid = value.partition(":")
        if not uid.isdigit() or not (gid or uid).isdigit():
            raise ValueError("user must be numeric: UID or UID:GID")
        if int(uid) == 0 or int(gid or uid) == 0:
            raise ValueError("the sandbox never runs code as root (uid or gid 0)")
        return value


@dataclass(frozen=True)
class PythonState:
    """How a run_python call found and left the run's Python session."""

    started: bool  # the call ran in an interpreter started for it: what earlier calls defined is not there
    kept: bool  # the interpreter lives on after the call, with what this call defined
    detail: str = ""  # why it is gone, when not kept ("killed by signal 9", ...)


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool
    duration_s: float
    backend: str
    failure: FailureReason | None = None
    python: PythonState | None = None  # for run_python in a session; None: a fresh interpreter for the call

    @property
    def ok(self) -> bool:
        """The command ran to its end and exited 0, and the sandbox did not stop it (a call that went past
        the workspace quota may have exited 0 before the kill landed)."""
        return self.exit_code == 0 and not self.timed_out and self.failure is None

    def to_json(self) -> dict:
        return asdict(self)


class Sandbox(Protocol):
    """A started sandbox bound to one workspace. Use as a context manager or call close()."""

    backend: str
    workspace: Path

    def exec(self, command: list[str], *, timeout_s: float | None = None) -> ExecResult:
        """Run a command (argv) with the workspace as working directory."""
        ...

    def run_python(self, code: str, *, timeout_s: float | None = None) -> ExecResult:
        """Run Python code in the run's Python session (`python_session`), else as `python3 -c`."""
        ...

    def close(self) -> None:
        """Stop the sandbox and free what it holds. Idempotent."""
        ...


class SandboxUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says what the user can do."""


def python_command(code: str) -> list[str]:
    """argv that runs a snippet of Python code in a sandbox."""
    return ["python3", "-c", code]

