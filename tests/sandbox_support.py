"""Helpers shared by the sandbox test modules."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import in_ci

from sandbox import isolation
from sandbox.base import IsolationName


def require_isolation(name: IsolationName) -> None:
    """Skip unless `name` (bwrap, unshare, auto) makes namespaces here; in CI (CI=true), which installs both,
    fail instead."""
    if isolation.choose(name) is not None:
        return
    reason = f"{name}: Linux namespaces are not available (apt-get install -y bubblewrap util-linux)"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


# -- what an attack may not leave on the host ---------------------------------------------------------------

SYSCTLS = ("fs/lease-break-time", "kernel/core_pattern", "kernel/modprobe", "kernel/hostname",
           "vm/overcommit_memory", "kernel/randomize_va_space")
ACL_USER_TAG = 0x02  # a "user:UID:perms" entry in system.posix_acl_access


@dataclass(frozen=True)
class HostState:
    """What code in a sandbox must never change on the host: kernel knobs and kernel keys.

    Keys: the "user" keys root can see (a sandbox that runs code as root adds to root's own keyring), and
    how many keys the sandbox's uid holds. Not root's count: the container runtime makes session keyrings
    of root's for every container on the machine."""

    sysctls: dict[str, str]
    user_keys: frozenset[str]
    sandbox_uid_keys: str  # "keys/instantiated" in /proc/key-users, "" when it holds none

    @classmethod
    def now(cls, sandbox_uid: int) -> HostState:
        sysctls = {name: Path(f"/proc/sys/{name}").read_text() for name in SYSCTLS
                   if Path(f"/proc/sys/{name}").exists()}
        keys = Path("/proc/keys").read_text().splitlines() if Path("/proc/keys").exists() else []
        user_keys = frozenset(line.split(None, 8)[-1] for line in keys if line.split()[7:8] == ["user"])
        lines = Path("/proc/key-users").read_text().splitlines() if Path("/proc/key-users").exists() else []
        users = {int(line.split(":")[0]): line.split(":", 1)[1].split()[1] for line in lines}
        return cls(sysctls, user_keys, users.get(sandbox_uid, ""))


def acl_uids(path: Path) -> set[int]:
    """The uids named in `path`'s access ACL (no ACL: empty)."""
    try:
        raw = os.getxattr(path, "system.posix_acl_access", follow_symlinks=False)
    except OSError:
        return set()
    entries = (struct.unpack_from("<HHI", raw, offset) for offset in range(4, len(raw), 8))
    return {uid for tag, _, uid in entries if tag == ACL_USER_TAG}


def foreign_traces_outside(workspace: Path, uid: int) -> list[str]:
    """Files next to the workspace (its parent's tree, the workspace left out) that belong to `uid` or carry
    an ACL entry for it: what a sandbox running as `uid` may never leave outside its workspace."""
    found = []
    for dirpath, dirnames, filenames in os.walk(workspace.parent):
        if Path(dirpath) == workspace.parent and workspace.name in dirnames:
            dirnames.remove(workspace.name)
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            with contextlib.suppress(OSError):
                if path.lstat().st_uid == uid or uid in acl_uids(path):
                    found.append(str(path))
    return found


def wait_for_no_leftovers(box: object, settle_s: float = 3.0) -> set[int]:
    """The sandbox's leftover processes (`leftover_pids()`), once killed ones had time to go."""
    deadline = time.monotonic() + settle_s
    while (left := box.leftover_pids()) and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    return left


# -- a real terminal, byte for byte -----------------------------------------------------------------------

class RawTerminal:
    """A process on a pty; `raw` is every byte it wrote, nothing stripped."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.pid, self.fd, self.raw = pid, fd, b""

    def read_until(self, needle: bytes, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.raw:
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f"{needle!r} did not appear; the terminal showed:\n{self.raw[-3000:]!r}")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def finish(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(0.2)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.1):
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"the process did not exit; it showed:\n{self.raw[-3000:]!r}")

    def _read(self, timeout: float) -> bool:
        if not select.select([self.fd], [], [], max(timeout, 0))[0]:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child is gone
            return False
        self.raw += data
        return bool(data)
