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
from typing import Protocol

from sandbox.output import STDERR, STDOUT, OutputCapture

SERVER = r"""
import json, os, resource, select, signal, struct, sys, time
out = sys.stdout.buffer
def send(kind, data):
    out.write(struct.pack(">cI", kind, len(data)) + data)
    out.flush()
statuses = {}
def reap():
    try:
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            statuses[pid] = status
    except ChildProcessError:
        pass
def kill_others():
    me = os.getpid()
    for _ in range(2000):
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, 9)
            except OSError:
                pass
        reap()
        time.sleep(0.001)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *a: None)
def run(req):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:  # whatever happens here, this child never returns into the server's loop
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0), os.dup2(w1, 1), os.dup2(w2, 2)
            os.closerange(3, 65536)
            for name, value in req.get("rlimits", {}).items():
                limit = getattr(resource, name)
                hard = resource.getrlimit(limit)[1]
                value = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(limit, (value, value))
            os.chdir(req["cwd"])
            os.execvpe(req["argv"][0], req["argv"], {**os.environ, **req["env"]})
        except BaseException as e:
            try:
                os.write(2, ("sandbox: %s: %s\n" % (req["argv"][0], getattr(e, "strerror", e))).encode())
            finally:
                os._exit(127)
    os.close(w1), os.close(w2)
    fds = {r1: b"o", r2: b"e"}
    deadline = time.monotonic() + req["timeout"]
    total, status, reason = 0, None, None
    while status is None or fds:
        if status is None:
            reap()
            status = statuses.pop(pid, None)
            if status is not None:
                kill_others()  # background processes would hold the pipes open
                continue
        left = deadline - time.monotonic()
        if left <= 0:
            reason = "timeout"
            break
        ready = select.select(list(fds) + [wake_r], [], [], left)[0]
        for fd in ready:
            if fd == wake_r:
                os.read(wake_r, 4096)
                continue
            data = os.read(fd, 65536)
            if not data:
                del fds[fd]
                os.close(fd)
                continue
            total += len(data)
            send(fds[fd], data)
        if total > req["flood"]:
            reason = "flood"
            break
    kill_others()
    for fd in fds:
        os.close(fd)
    reap()
    status = statuses.pop(pid, status)
    statuses.clear()
    if status is None:  # not seen to exit (cannot happen once kill_others returns): report a kill
        status = signal.SIGKILL
    send(b"x", json.dumps({"code": os.waitstatus_to_exitcode(status), "reason": reason}).encode())
send(b"r", b"")
for line in sys.stdin.buffer:
    try:
        run(json.loads(line))
    except Exception as e:  # e.g. no pid left to fork: report it as the call's result and carry on
        kill_others()
        send(b"e", ("sandbox: %s\n" % e).encode())
        send(b"x", json.dumps({"code": 126, "reason": None}).encode())
"""
# -I -S: the server needs only the standard library; skipping site saves ~10 ms of its start-up.
SERVER_ARGV = ["python3", "-I", "-S", "-u", "-c", SERVER]
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
                result = json.loads(data)
                return int(result["code"]), result["reason"]
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
