"""Who the Docker sandbox runs code as, and how that user gets at the workspace. Never root.

Code runs as the workspace owner's uid:gid, so what it writes belongs to the user. When the owner is root (an
agent run as root: our machines, CI, most containers), it runs as an unprivileged uid:gid instead
(`SandboxConfig.sandbox_uid` / `sandbox_gid`, default 10001:10001, an id no account on the host should use),
and that uid is given the workspace:

- "acl": POSIX ACLs, `setfacl -R -P -m u:UID:rwX,d:u:UID:rwX` (package `acl`). Owners and modes stay as they
  are; the default entry covers files made later, by the agent's tools or by the sandbox itself.
- "chown": where ACLs cannot be set (no setfacl, a filesystem without ACLs), files owned by the workspace
  owner are lent to UID (chown; their group and mode stay), again before each call so the agent's new files
  are included. Files of other owners stay theirs: the sandbox reads them only as "other".
- "none": the agent is not root and cannot grant anything; the sandbox gets what the modes give "other".

At close, every file owned by UID goes back to the workspace owner (and its group), so afterwards the host sees
its workspace as before plus the sandbox's files, all its own. The ACL entries stay (harmless for an unused uid;
`setfacl -R -x u:UID,d:u:UID DIR` removes them) because another sandbox may still be using the same workspace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sandbox.base import SandboxConfig

Access = Literal["owner", "acl", "chown", "none"]


@dataclass(frozen=True)
class SandboxUser:
    uid: int
    gid: int
    access: Access  # how it reaches the workspace
    owner: tuple[int, int]  # the workspace's uid, gid

    @property
    def spec(self) -> str:
        """What Docker's `user` option takes."""
        return f"{self.uid}:{self.gid}"


def prepare(workspace: Path, config: SandboxConfig) -> SandboxUser:
    """Choose the sandbox's uid:gid (never 0) and give it the workspace."""
    info = workspace.stat()
    owner = (info.st_uid, info.st_gid)
    if config.user is not None:
        uid, gid = parse_user(config.user)
    elif info.st_uid != 0:
        uid, gid = owner
    else:
        uid, gid = config.sandbox_uid, config.sandbox_gid
    if uid == 0 or gid == 0:  # the config validates this too; it must never reach the container
        raise ValueError(f"the sandbox must not run as root (uid:gid {uid}:{gid})")
    access: Access = "owner" if uid == info.st_uid else _grant(workspace, uid)
    return SandboxUser(uid, gid, access, owner)


def parse_user(spec: str) -> tuple[int, int]:
    """'UID' or 'UID:GID' (GID defaults to UID: Docker would otherwise give an unknown uid group 0)."""
    uid, _, gid = spec.partition(":")
    return int(uid), int(gid or uid)


def refresh(workspace: Path, user: SandboxUser) -> None:
    """Before a call: lend the owner's files made since the last call (only the chown fallback needs it)."""
    if user.access == "chown":
        _lend(workspace, user.owner[0], user.uid)


def hand_back(workspace: Path, user: SandboxUser) -> None:
    """After the sandbox is gone: what the sandbox uid owns goes back to the workspace owner."""
    if user.access not in ("acl", "chown") or os.geteuid() != 0:
        return
    with contextlib.suppress(OSError):
        _chown_tree(workspace, user.uid, user.gid, *user.owner)


def _grant(workspace: Path, uid: int) -> Access:
    if os.geteuid() != 0 and workspace.stat().st_uid != os.geteuid():
        return "none"  # only the owner (or root) may set ACLs or chown
    if shutil.which("setfacl"):
        entries = f"u:{uid}:rwX,d:u:{uid}:rwX"
        done = subprocess.run(["setfacl", "-R", "-P", "-m", entries, str(workspace)], capture_output=True)
        if done.returncode == 0:
            return "acl"
    if os.geteuid() != 0:
        return "none"
    _lend(workspace, workspace.stat().st_uid, uid)
    return "chown"


def _lend(workspace: Path, from_uid: int, to_uid: int) -> None:
    with contextlib.suppress(OSError):
        _chown_tree(workspace, from_uid, None, to_uid, None)


def _chown_tree(top: Path, uid: int, gid: int | None, new_uid: int, new_gid: int | None) -> None:
    """chown what `uid` owns under `top` (top included) to `new_uid` (and `gid`'s group to `new_gid`).

    fwalk and dir_fd, never following a symlink: a link the sandbox planted cannot point the chown at a host
    file, even while another sandbox changes the tree under us."""
    _chown_one(str(top), None, uid, gid, new_uid, new_gid)
    for _, dirs, files, dir_fd in os.fwalk(top, follow_symlinks=False):
        for name in dirs + files:
            with contextlib.suppress(OSError):  # gone meanwhile
                _chown_one(name, dir_fd, uid, gid, new_uid, new_gid)


def _chown_one(name: str, dir_fd: int | None, uid: int, gid: int | None, new_uid: int,
               new_gid: int | None) -> None:
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if info.st_uid != uid:
        return
    group = new_gid if gid is not None and new_gid is not None and info.st_gid == gid else -1
    os.chown(name, new_uid, group, dir_fd=dir_fd, follow_symlinks=False)
