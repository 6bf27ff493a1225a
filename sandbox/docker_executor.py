"""A warm executor inside the Docker sandbox: one long-lived `docker exec`, many calls.

A `docker exec` costs a `runc exec` (60-100 ms on our machines) before the command even starts. Instead, the
sandbox starts this small Python server once per container, as the sandbox user, and sends it one JSON request
per call over the exec's stdin; it forks the command in its own session, streams its output back in frames,
enforces the timeout and the output flood limit, and kills whatever the call left behind before it answers.

It runs with exactly the rights of the code it runs, so code that kills or confuses it gains nothing: the host
sees the stream end (or a deadline pass), kills the call's processes from outside and starts a new executor
(or falls back to one `docker exec` per call).

Frames (server -> host, inside Docker's stdout stream): 1 byte kind (o = stdout, e = stderr, x = exit JSON),
4 bytes big-endian length, payload.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import time
from typing import Any

from sandbox.output import STDERR, STDOUT, OutputCapture

SERVER = r"""
import json, os, select, signal, struct, sys, time
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
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0), os.dup2(w1, 1), os.dup2(w2, 2)
        os.closerange(3, 65536)
        try:
            os.chdir(req["cwd"])
            os.execvpe(req["argv"][0], req["argv"], {**os.environ, **req["env"]})
        except OSError as e:
            os.write(2, ("sandbox: %s: %s\n" % (req["argv"][0], e.strerror)).encode())
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
for line in sys.stdin.buffer:
    try:
        run(json.loads(line))
    except Exception as e:  # e.g. no pid left to fork: report it as the call's result and carry on
        kill_others()
        send(b"e", ("sandbox: %s\n" % e).encode())
        send(b"x", json.dumps({"code": 126, "reason": None}).encode())
"""


MAX_FRAME = 1 << 16  # the server reads at most this much per chunk; an exit frame is smaller


class ExecutorGone(RuntimeError):
    """The executor stopped answering (killed by the code it ran, or the container went away)."""


class Executor:
    def __init__(self, api: Any, container_id: str, user: str, workdir: str, env: dict[str, str]) -> None:
        exec_id = api.exec_create(container_id, ["python3", "-u", "-c", SERVER], stdin=True, user=user,
                                  workdir=workdir, environment=env)["Id"]
        self._stream = api.exec_start(exec_id, socket=True)
        self._sock: socket.socket = getattr(self._stream, "_sock", self._stream)
        self._buffer = b""  # Docker frames not yet parsed
        self._payload = b""  # our frames not yet parsed
        self._errors = b""

    def run(self, argv: list[str], env: dict[str, str], cwd: str, timeout_s: float,
            capture: OutputCapture) -> tuple[int, str | None]:
        """Run one call; returns (exit code, None | "timeout" | "flood"). Raises ExecutorGone."""
        request = {"argv": argv, "env": env, "cwd": cwd, "timeout": timeout_s, "flood": capture.flood_limit}
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as exc:
            raise ExecutorGone(str(exc)) from exc
        deadline = time.monotonic() + timeout_s + 10  # the server keeps the timeout; this is a backstop
        while True:
            frame = self._next_frame(deadline)
            kind, data = frame
            if kind == b"x":
                result = json.loads(data)
                return int(result["code"]), result["reason"]
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
            self._read_docker_frame(deadline)

    def _read_docker_frame(self, deadline: float) -> None:
        """Move one Docker stream frame's stdout bytes into the payload buffer (stderr frames are dropped)."""
        while True:
            if len(self._buffer) >= 8:
                stream, size = struct.unpack(">BxxxL", self._buffer[:8])
                if len(self._buffer) >= 8 + size:
                    if stream == 1:
                        self._payload += self._buffer[8:8 + size]
                    else:  # the server's own errors: kept for the message when it dies
                        self._errors = (self._errors + self._buffer[8:8 + size])[-2000:]
                    self._buffer = self._buffer[8 + size:]
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._sock], [], [], remaining)[0]:
                raise ExecutorGone("the executor did not answer in time")
            chunk = self._sock.recv(1 << 16)
            if not chunk:
                raise ExecutorGone(f"the executor's stream ended: {self._errors.decode(errors='replace')}")
            self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._stream.close()
