"""The workspace quota, the same for both backends: at most `quota_mb` MiB and `quota_files` entries.

The workspace is a host folder that the sandbox writes into, so the host watches it: a thread polls the
filesystem's counters (statvfs: one system call) every POLL_S while a call runs, and walks the workspace
(sandbox/workspace_scan.py) when they have grown by more than the quota has room for, when the last walk
is old, and at the end of the call on the same conditions. When a walk finds the workspace past its
limits the call is stopped at once and fails with "quota". Files written before the kill landed stay, so
the workspace may then be a little past its limits: the next calls may not make it grow, and deleting from
it always works. A sandbox does not start on a workspace that is past its quota already.

A walk costs a few microseconds per file, so its spacing grows with its cost (at most ~5% of a core). The
filesystem's counters are shared with everything else on it: space that another program frees while a call
writes hides that much of the call's growth from the trigger until the next walk.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sandbox.base import SandboxUnavailable
from sandbox.workspace_scan import WorkspaceUsage, refuse_hard_links, scan

POLL_S = 0.005
MIN_WALK_EVERY_S = 2.0
WALK_COST_FACTOR = 20  # walk at most every 20x its own duration
PAST_LIMIT_WALK = 10  # a workspace left past its quota is walked in full, up to 10x its entries


@dataclass(frozen=True)
class FsCounters:
    used_bytes: int
    used_inodes: int

    @classmethod
    def of(cls, path: Path) -> FsCounters:
        fs = os.statvfs(path)
        return cls((fs.f_blocks - fs.f_bfree) * fs.f_frsize, fs.f_files - fs.f_ffree)


class WorkspaceQuota:
    """The quota of one sandbox's workspace, and what its last walk found."""

    def __init__(self, workspace: Path, max_bytes: int, max_entries: int) -> None:
        self.workspace = workspace
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._counters = FsCounters.of(workspace)
        self._walked_at, self._walk_s = time.monotonic(), 0.0
        self.usage = WorkspaceUsage(0, 0, (), True)

    @classmethod
    def check_before_start(cls, workspace: Path, max_bytes: int, max_entries: int) -> WorkspaceQuota:
        """The quota of a sandbox about to start: SandboxUnavailable if the workspace holds hard links or is
        past its quota already."""
        quota = cls(workspace, max_bytes, max_entries)
        quota.usage = refuse_hard_links(workspace, max_entries=max_entries, max_bytes=max_bytes)
        if quota.usage.over(max_bytes, max_entries):
            raise SandboxUnavailable(
                f"the workspace {workspace} holds more than its quota ({_mib(max_bytes)}, {max_entries:,} "
                "files and folders): use a smaller workspace, or raise SandboxConfig.quota_mb / quota_files")
        return quota

    def watch(self, stop: Callable[[], None]) -> QuotaWatch:
        """A context for one call: `stop` is called (from a thread) if the call takes the workspace past its
        quota; afterwards `.exceeded` holds the walk that found it (None when the call stayed within)."""
        return QuotaWatch(self, stop)

    def describe(self, usage: WorkspaceUsage) -> str:
        """One line for the model and the user."""
        more = "+" if not usage.complete else ""
        deep = " and folders nested too deep" if usage.too_deep else ""
        return (f"the workspace went past its quota: {_mib(usage.bytes)}{more} of {_mib(self.max_bytes)}, "
                f"{usage.entries:,}{more} of {self.max_entries:,} files and folders{deep}. "
                "Delete files to make room; the call was stopped")

    # -- used by QuotaWatch -----------------------------------------------------------------------------

    def grown_past_room(self, allowed_bytes: int, allowed_entries: int) -> bool:
        """Whether the filesystem grew, since the last walk, by more than the workspace had room for."""
        now = FsCounters.of(self.workspace)
        return now.used_bytes - self._counters.used_bytes > allowed_bytes - self.usage.bytes or \
            now.used_inodes - self._counters.used_inodes > allowed_entries - self.usage.entries

    def walk_is_old(self) -> bool:
        return time.monotonic() - self._walked_at > max(MIN_WALK_EVERY_S, WALK_COST_FACTOR * self._walk_s)

    def room(self) -> tuple[int, int]:
        """The limits for the next call: the quota, or, for a workspace a stopped call left past it, what it
        holds now (it may shrink, not grow)."""
        if self.usage.over(self.max_bytes, self.max_entries):  # a full walk: what it holds is the new limit
            self.walk(None, PAST_LIMIT_WALK * self.max_entries)
        return max(self.max_bytes, self.usage.bytes), max(self.max_entries, self.usage.entries)

    def walk(self, allowed_bytes: int | None, allowed_entries: int) -> WorkspaceUsage:
        counters, started = FsCounters.of(self.workspace), time.monotonic()
        self.usage = scan(self.workspace, max_entries=allowed_entries, max_bytes=allowed_bytes)
        self._counters, self._walked_at = counters, time.monotonic()
        self._walk_s = self._walked_at - started
        return self.usage


class QuotaWatch:
    def __init__(self, quota: WorkspaceQuota, stop: Callable[[], None]) -> None:
        self.quota, self._stop = quota, stop
        self.allowed = quota.room()
        self.exceeded: WorkspaceUsage | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="workspace-quota", daemon=True)

    def __enter__(self) -> QuotaWatch:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._done.set()
        self._thread.join()
        if self.exceeded is None and (self.quota.grown_past_room(*self.allowed) or self.quota.walk_is_old()):
            self._check()

    def _poll(self) -> None:
        while not self._done.wait(POLL_S):
            if self.quota.grown_past_room(*self.allowed) or self.quota.walk_is_old():
                if self._check():
                    self._stop()
                    return

    def _check(self) -> bool:
        usage = self.quota.walk(*self.allowed)
        if usage.over(*self.allowed):
            self.exceeded = usage
        return self.exceeded is not None


def _mib(size: int) -> str:
    return f"{size / (1 << 30):.2f} GiB" if size >= 1 << 30 else f"{size / (1 << 20):.1f} MiB"
