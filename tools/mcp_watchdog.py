"""Starts a stdio MCP server and stops it when the agent that started it dies, however it dies.

    python -I mcp_watchdog.py COMMAND [ARGS...]

Run as a script (it imports nothing of the project): the MCP SDK starts it in a session of its own, and it
starts the server in that session with the same stdin and stdout. A closed stdin, the SDK's terminate and
its kill of the group work as without it. What it adds: when its parent (the agent) is gone, even after
a SIGKILL that ran no clean-up, the whole group (server, its children, this process) is terminated, then
killed; and when the server exits, what it started and left behind in the group is stopped the same way.
It waits on pidfds, so it costs no CPU while it watches.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL of the group, as the SDK's own shutdown does


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: mcp_watchdog.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if os.getpgrp() != os.getpid():  # the group killed below must be this process's own, never its parent's
        os.setpgid(0, 0)
    parent = os.getppid()
    parent_fd = _pidfd(parent)
    if os.getppid() != parent:  # the agent died before it could be watched
        return 1
    try:
        server = subprocess.Popen(argv)
    except OSError as exc:
        print(f"cannot start MCP server {argv[0]!r}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    # Only the server holds the pipes now: its exit (or the agent closing stdin) is seen at once.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    # Set after the server started, so that it keeps the default dispositions. A SIGTERM to the group
    # stops the server; this process then ends with it, or goes on to the SIGKILL below.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server_first = _wait_for_either(server, parent, parent_fd) == "server"
    _stop_group(server)
    if server_first:
        return server.returncode if server.returncode >= 0 else 128 - server.returncode
    return 1


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfds (old kernel): fall back to polling the parent id
        return None


def _wait_for_either(server: subprocess.Popen, parent: int, parent_fd: int | None) -> str:
    """"server" when the server exited first, "parent" when the agent did."""
    server_fd = _pidfd(server.pid)
    poller = select.poll()
    for fd in (parent_fd, server_fd):
        if fd is not None:
            poller.register(fd, select.POLLIN)
    polling = parent_fd is None or server_fd is None
    while True:
        poller.poll(500 if polling else None)
        if server.poll() is not None:
            return "server"
        if os.getppid() != parent or (parent_fd is not None and _exited(parent_fd)):
            return "parent"


def _exited(fd: int) -> bool:
    ready = select.poll()
    ready.register(fd, select.POLLIN)
    return bool(ready.poll(0))


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM to every other process of the group, SIGKILL to what is left after the grace period."""
    others = _group_members()
    if not others:
        return
    os.killpg(os.getpgrp(), signal.SIGTERM)  # this process ignores it
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and others:
        server.poll()  # reap the server, so that it no longer counts
        time.sleep(0.05)
        others = _group_members()
    for pid in others:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _group_members() -> list[int]:
    """The live processes of this process's group, other than itself (zombies do not count)."""
    group, me, members = os.getpgrp(), os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(entry))
    return members


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
