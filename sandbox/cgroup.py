"""A best-effort control group for the local backend: pids and memory caps that hold even for root.

RLIMIT_NPROC does not bind uid 0 (the kernel exempts root), so when the agent runs as root a fork bomb is only
stopped by a pids cgroup. Where cgroups cannot be written (a normal user, a locked-down container), `create`
returns None and the rlimits are the only caps; the local backend says which in `LocalSandbox.limits`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


@dataclass
class ControlGroup:
    """One group (cgroup v2) or a pair of pids + memory groups (cgroup v1)."""

    dirs: list[Path]
    memory_events: Path | None

    def add_self(self) -> None:
        """Join the calling process (used in the child between fork and exec)."""
        pid = str(os.getpid())
        for d in self.dirs:
            (d / "cgroup.procs").write_text(pid)

    def oom_kills(self) -> int:
        if self.memory_events is None:
            return 0
        with contextlib.suppress(OSError):
            for line in self.memory_events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def pids(self) -> set[int]:
        return {int(p) for d in self.dirs for p in _read(d / "cgroup.procs").split()}

    def kill_all(self, wait_s: float = 5.0, keep: frozenset[int] = frozenset()) -> None:
        """SIGKILL every process left in the group but `keep` (what a call started and left behind); return
        once only `keep` is left, so the next call starts clean (a fork bomb may still be forking during the
        first rounds)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            pids = self.pids() - keep
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(ValueError):
            _created.remove(self)


PREFIX = "autogpt-sandbox-"
_created: list[ControlGroup] = []


def create(pids: int, memory_bytes: int) -> ControlGroup | None:
    """A new group capped at `pids` processes and `memory_bytes`, or None where groups cannot be made.

    Its name holds our pid, so groups left by an agent that was killed are removed by the next one; ours are
    removed at exit if the sandbox was never closed."""
    remove_orphans()
    name = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        if (ROOT / "cgroup.controllers").exists():
            group = _create_v2(ROOT / name, pids, memory_bytes)
        elif (ROOT / "pids").is_dir():
            group = _create_v1(name, pids, memory_bytes)
        else:
            return None
    except OSError:
        return None
    if group is not None:
        if not _created:
            atexit.unregister(_remove_created)  # registered once, however often the list empties
            atexit.register(_remove_created)
        _created.append(group)
    return group


def remove_orphans() -> None:
    """Remove empty groups whose agent process is gone."""
    for parent in (ROOT, ROOT / "pids", ROOT / "memory"):
        for path in parent.glob(f"{PREFIX}*"):
            owner = path.name.removeprefix(PREFIX).split("-")[0]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(OSError):
                    path.rmdir()


def _remove_created() -> None:
    for group in list(_created):
        group.remove()


def _create_v2(path: Path, pids: int, memory_bytes: int) -> ControlGroup | None:
    enabled = _read(ROOT / "cgroup.subtree_control").split()
    if "pids" not in enabled:
        return None
    path.mkdir()
    group = ControlGroup([path], path / "memory.events" if "memory" in enabled else None)
    try:
        (path / "pids.max").write_text(str(pids))
        if "memory" in enabled:
            (path / "memory.max").write_text(str(memory_bytes))
            (path / "memory.swap.max").write_text("0")
    except OSError:
        group.remove()
        raise
    return group


def _create_v1(name: str, pids: int, memory_bytes: int) -> ControlGroup:
    pids_dir, memory_dir = ROOT / "pids" / name, ROOT / "memory" / name
    pids_dir.mkdir()
    group = ControlGroup([pids_dir], None)
    try:
        (pids_dir / "pids.max").write_text(str(pids))
        if (ROOT / "memory").is_dir():
            memory_dir.mkdir()
            group.dirs.append(memory_dir)
            (memory_dir / "memory.limit_in_bytes").write_text(str(memory_bytes))
            group.memory_events = memory_dir / "memory.oom_control"
    except OSError:
        group.remove()
        raise
    return group


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
