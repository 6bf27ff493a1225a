"""A warm executor inside a sandbox: one long-lived process, many calls (Docker and local backends).

Starting a sandbox costs far more than running a command in one: a `runc exec` (60-100 ms) for Docker, fresh
namespaces, mounts and a cgroup move (~20 ms) for the local backend. So a backend starts this small Python
server once, inside the sandbox and with exactly the rights of the code it runs, and sends it one JSON request
per call on its stdin. The server forks the command in its own session (with the call's rlimits), streams its
output back in frames, enforces the timeout and the output flood limit, and kills whatever the call left
behind before it answers. Code that kills or confuses the server gains nothing: the host sees the stream end
(or a deadline pass), kills the call's processes from outside and starts a new executor (or falls back to one
fresh sandbox per call).

The server kills every other process it can see after each call, so it must only ever run in its own PID
namespace (a container, or a local sandbox with namespaces), never on the host.

Frames (server -> host, on the server's stdout): 1 byte kind (r = ready, o = stdout, e = stderr, x = exit
JSON), 4 bytes big-endian length, payload.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import struct
import subprocess
import time
from pathlib import Path
from typing import Protocol

from sandbox.base import PythonState
from sandbox.output import STDERR, STDOUT, OutputCapture
from sandbox.python_session import WORKER_ARGV

# The server's source is sent as `python3 -c` (nothing to copy into an image or mount). -I -S: it needs only
# the standard library, and skipping site saves ~10 ms of its start-up.
SERVER_SOURCE = (Path(__file__).parent / "executor_server.py").read_text(encoding="utf-8")
SERVER_ARGV = ["python3", "-I", "-S", "-u", "-c", SERVER_SOURCE]
MAX_FRAME = 1 << 16  # the server reads at most this much per chunk; an exit frame is smaller


class ExecutorGone(RuntimeError):
    """The executor stopped answering (killed by the code it ran, or its sandbox went away)."""


class Channel(Protocol):
    """The byte pipe to a server: requests in, the server's stdout out."""

    def send(self, data: bytes) -> None:
        """Write a request; OSError when the server is gone."""
        ...

    def read(self, deadline: float) -> bytes:
        """The next bytes of the server's stdout (b"" at its end); ExecutorGone past the deadline."""
        ...

    def close(self) -> None: ...


class Executor:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._payload = b""  # frames not yet parsed
        self.ready = False

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the server has started (it sends a ready frame first). Raises ExecutorGone."""
        deadline = time.monotonic() + timeout_s
        while not self.ready:
            kind, _ = self._next_frame(deadline)
            self.ready = self.ready or kind == b"r"

    def run(self, argv: list[str], env: dict[str, str], cwd: str, timeout_s: float, capture: OutputCapture,
            rlimits: dict[str, int] | None = None) -> tuple[int, str | None]:
        """Run one call; returns (exit code, None | "timeout" | "flood"). Raises ExecutorGone."""
        request = {"argv": argv, "env": env, "cwd": cwd, "timeout": timeout_s, "flood": capture.flood_limit,
                   "rlimits": rlimits or {}}
        result = self._call(request, timeout_s, capture)
        return int(result["code"]), result["reason"]

    def run_persistent(self, argv: list[str], data: str, env: dict[str, str], cwd: str, timeout_s: float,
                       capture: OutputCapture, rlimits: dict[str, int] | None = None) -> tuple[int, str | None, dict]:
        """Send `data` to the server's persistent process (started from `argv` when there is none); returns
        (exit code, reason, session: {"started", "kept", "pid", "status"}). Raises ExecutorGone."""
        request = {"argv": argv, "env": env, "cwd": cwd, "timeout": timeout_s, "flood": capture.flood_limit,
                   "rlimits": rlimits or {}, "persist": True, "input": data}
        result = self._call(request, timeout_s, capture)
        session = result.get("session")
        if not isinstance(session, dict):  # a server that does not know "persist" ran nothing
            raise ExecutorGone("the executor cannot keep a process between calls")
        return int(result["code"]), result["reason"], session

    def _call(self, request: dict, timeout_s: float, capture: OutputCapture) -> dict:
        try:
            self.channel.send(json.dumps(request).encode() + b"\n")
        except OSError as exc:
            raise ExecutorGone(str(exc)) from exc
        deadline = time.monotonic() + timeout_s + 10  # the server keeps the timeout; this is a backstop
        while True:
            kind, data = self._next_frame(deadline)
            if kind == b"r":
                self.ready = True
            elif kind == b"x":
                try:
                    result = json.loads(data)
                    int(result["code"])
                except (ValueError, KeyError, TypeError):  # the code it ran may have forged a frame
                    raise ExecutorGone("the executor sent a malformed exit frame") from None
                return result
            else:
                capture.add(STDOUT if kind == b"o" else STDERR, data)
                if capture.seen > capture.flood_limit + 2 * MAX_FRAME:  # the server stops at the limit
                    raise ExecutorGone("the executor ignored the output limit")

    def _next_frame(self, deadline: float) -> tuple[bytes, bytes]:
        while True:
            if len(self._payload) >= 5:
                kind, size = struct.unpack(">cI", self._payload[:5])
                if size > MAX_FRAME:  # the server never sends more; the code it runs may have forged this
                    raise ExecutorGone("the executor sent a malformed frame")
                if len(self._payload) >= 5 + size:
                    data, self._payload = self._payload[5:5 + size], self._payload[5 + size:]
                    return kind, data
            chunk = self.channel.read(deadline)
            if not chunk:
                raise ExecutorGone("the executor's output ended")
            self._payload += chunk

    def close(self) -> None:
        self.channel.close()


def python_call(executor: Executor, code: str, env: dict[str, str], cwd: str, timeout_s: float,
                capture: OutputCapture, rlimits: dict[str, int] | None, cpu_seconds: int) -> tuple[int, str | None,
                                                                                                 PythonState, int]:
    """One run_python call in the executor's Python session: (exit code, reason, state, session pid)."""
    data = json.dumps({"code": code, "cwd": cwd, "cpu_seconds": cpu_seconds})
    code_, reason, session = executor.run_persistent(WORKER_ARGV, data, env, cwd, timeout_s, capture, rlimits)
    state = PythonState(bool(session.get("started")), bool(session.get("kept")), str(session.get("status", "")))
    return code_, reason, state, int(session.get("pid") or 0)


class PipeChannel:
    """A server that is a child process of ours (the local backend): its stdin and stdout pipes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self._stdin, self._stdout = proc.stdin.fileno(), proc.stdout.fileno()

    def send(self, data: bytes) -> None:
        if self.proc.poll() is not None:
            raise BrokenPipeError("the executor has exited")
        while data:
            data = data[os.write(self._stdin, data):]

    def read(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._stdout], [], [], remaining)[0]:
            raise ExecutorGone("the executor did not answer in time")
        return os.read(self._stdout, 1 << 16)

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]


def host_pid_of(candidates: set[int], namespace_pid: int) -> frozenset[int]:
    """The host pid, among `candidates`, of the process that is `namespace_pid` inside the sandbox's PID
    namespace (its /proc status's last NSpid); empty when none is."""
    for pid in candidates:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            nspids = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(nspids) > 1 and nspids[-1] == str(namespace_pid):
                return frozenset({pid})
    return frozenset()
