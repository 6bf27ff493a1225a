"""One walk of a workspace, as the host sees it: how much it holds, and which files are hard links.

The walk goes from directory descriptor to directory descriptor and never follows a symbolic link, so code
in the sandbox that swaps a folder for a link while it runs cannot point it outside the workspace. It stops
as soon as it has seen more than `max_entries` entries or `max_bytes` bytes: a workspace of a million files
costs no more to check than one just over the quota.

A hard link is a second name of a file, and a name in the workspace may be a file from anywhere on the same
filesystem (a task's files come from anywhere). Both backends refuse to start on such a workspace, and the
host's file tools refuse such files: granting the sandbox a workspace (ACLs, chown) or writing into it must
never touch a file outside it.

Folders nested deeper than MAX_DEPTH are not walked; such a workspace counts as over any quota (the walk
holds one descriptor per level, and nothing a task needs is that deep).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sandbox.base import SandboxUnavailable

BLOCK = 512  # st_blocks unit
MAX_NAMED_LINKS = 10
MAX_DEPTH = 128
OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class WorkspaceUsage:
    bytes: int  # allocated on disk (what `du` counts), not counting the workspace folder itself
    entries: int  # files, folders and links under the workspace
    hard_links: tuple[str, ...]  # up to MAX_NAMED_LINKS relative paths of files with other names elsewhere
    complete: bool  # False: the walk stopped at a limit, so the counts are lower bounds
    too_deep: bool = False  # folders nested past MAX_DEPTH

    def over(self, max_bytes: int, max_entries: int) -> bool:
        return self.bytes > max_bytes or self.entries > max_entries or self.too_deep


def scan(workspace: Path, max_entries: int | None = None, max_bytes: int | None = None) -> WorkspaceUsage:
    """Walk `workspace`; stop early once past `max_entries` or `max_bytes` (None: no limit)."""
    walk = _Walk(max_entries, max_bytes)
    top = os.open(workspace, OPEN_DIR)
    try:
        complete = walk.directory(top, "", 1)
    finally:
        os.close(top)
    return WorkspaceUsage(walk.bytes, walk.entries, tuple(walk.hard_links), complete, walk.too_deep)


class _Walk:
    def __init__(self, max_entries: int | None, max_bytes: int | None) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.bytes = self.entries = 0
        self.hard_links: list[str] = []
        self.too_deep = False

    def directory(self, fd: int, prefix: str, depth: int) -> bool:
        """Count what is under the open directory `fd` (`depth` folders below the top, counting it); False
        once a limit is passed."""
        subdirs: list[str] = []
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:  # gone meanwhile
                    continue
                self.entries += 1
                self.bytes += info.st_blocks * BLOCK
                if stat.S_ISDIR(info.st_mode):
                    subdirs.append(entry.name)
                elif info.st_nlink > 1 and len(self.hard_links) < MAX_NAMED_LINKS:
                    self.hard_links.append(prefix + entry.name)
                if self.past_limits():
                    return False
        if subdirs and depth >= MAX_DEPTH:
            self.too_deep = True
            return False
        for name in subdirs:
            try:
                child = os.open(name, OPEN_DIR, dir_fd=fd)
            except OSError:  # gone, or swapped for a link meanwhile: not ours to follow
                continue
            try:
                if not self.directory(child, f"{prefix}{name}/", depth + 1):
                    return False
            finally:
                os.close(child)
        return True

    def past_limits(self) -> bool:
        return (self.max_entries is not None and self.entries > self.max_entries) or \
            (self.max_bytes is not None and self.bytes > self.max_bytes)


def refuse_hard_links(workspace: Path, max_entries: int, max_bytes: int) -> WorkspaceUsage:
    """Scan the workspace before a sandbox starts; raise if a file in it has another name somewhere else."""
    usage = scan(workspace, max_entries=max_entries, max_bytes=max_bytes)
    if usage.hard_links:
        names = ", ".join(usage.hard_links)
        raise SandboxUnavailable(
            f"the workspace holds files with more than one hard link ({names}): such a file may be one from "
            "outside the workspace, so the sandbox does not start. Replace each with a copy of its own "
            "(cp --remove-destination SRC NAME) or remove it.")
    return usage
