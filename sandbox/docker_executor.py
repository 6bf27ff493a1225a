"""The warm executor (sandbox/executor.py) in a Docker container: one long-lived `docker exec`, many calls.

A `docker exec` costs a `runc exec` (60-100 ms on our machines) before the command even starts; the executor
pays it once per container. Its frames travel inside Docker's multiplexed stream (8-byte headers: stream,
length), which this channel takes apart: stdout frames are the server's, stderr frames its own errors.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from typing import Any

from sandbox.executor import SERVER_ARGV, Executor, ExecutorGone


class DockerChannel:
    def __init__(self, stream: Any, exec_id: str = "") -> None:
        self.exec_id = exec_id
        self._stream = stream
        self._sock: socket.socket = getattr(stream, "_sock", stream)
        self._buffer = b""  # Docker frames not yet parsed
        self._errors = b""

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def read(self, deadline: float) -> bytes:
        """The stdout bytes of the next Docker frame (stderr frames are kept for the message when it dies)."""
        while True:
            if len(self._buffer) >= 8:
                stream, size = struct.unpack(">BxxxL", self._buffer[:8])
                if len(self._buffer) >= 8 + size:
                    data, self._buffer = self._buffer[8:8 + size], self._buffer[8 + size:]
                    if stream == 1 and data:
                        return data
                    self._errors = (self._errors + data)[-2000:]
                    continue
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


def start_executor(api: Any, container_id: str, user: str, workdir: str, env: dict[str, str]) -> Executor:
    """Start the server in the container as `user`; calls can be sent at once."""
    exec_id = api.exec_create(container_id, SERVER_ARGV, stdin=True, user=user, workdir=workdir,
                              environment=env)["Id"]
    return Executor(DockerChannel(api.exec_start(exec_id, socket=True), exec_id))


def executor_pid(api: Any, executor: Executor) -> int:
    """The executor's pid on the host (0 when unknown): what the after-call clean-up spares."""
    exec_id = getattr(executor.channel, "exec_id", "")
    return int(api.exec_inspect(exec_id).get("Pid") or 0) if exec_id else 0
