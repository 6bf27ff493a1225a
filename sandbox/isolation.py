"""How the local backend isolates code: bubblewrap, or util-linux `unshare` where bubblewrap is missing.

Both give a command the same view of the machine: new network (none unless allowed), PID, mount, IPC, UTS and
cgroup namespaces; all capabilities dropped (bounding set too), no-new-privs and the seccomp filter of
sandbox/seccomp.py; a root filesystem that holds only the system directories, read-only, with /etc/shadow,
/etc/ssh and the like hidden; a private /tmp and /dev/shm, a minimal /dev and the namespace's own /proc; the
workspace read-write at its own path. /root, /home, /var, /run, /srv, /mnt and any other host directory are
simply not there.

Code never runs as host root. An agent that is not root runs code as itself (in a user namespace). An agent
that is root gives a `user` (uid, gid): the sandbox is built as root, without a user namespace (inside one,
any uid would still be host root to the kernel's permission checks on /proc/sys, keys and files), and the
command switches to that unprivileged uid with setpriv as it starts. PID 1 of the sandbox stays root's, so
the code can neither trace nor signal it.

- `Bubblewrap` (package bubblewrap): one `bwrap` process builds that view and loads the filter (`--seccomp`).
- `Unshare` (util-linux: unshare, mount, pivot_root, setpriv): `unshare` makes the namespaces (and, for a
  user who is not root, a user namespace in which the user keeps its uid), a dash script builds the root in a
  tmpfs (one `mount -a` over a generated fstab), pivots into it and detaches the host's tree, `setpriv` drops
  every capability, sandbox/seccomp_loader.py loads the filter, and the command runs under a small dash init
  (PID 1 of the namespace, so that the command itself gets normal signal handling). It costs ~15 more
  processes than bwrap, once per sandbox when the warm executor is used. The agent's death kills it
  (`setpriv --pdeathsig` on `unshare --kill-child`).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol

from sandbox import seccomp
from sandbox.base import IsolationName, SandboxConfig, SandboxUnavailable

# Only these host directories are visible (read-only); /root, /home, /var, /run, /srv, /mnt ... are not.
SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")
HIDDEN_DIRS = ("/etc/ssh", "/etc/sudoers.d", "/etc/ssl/private")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
TMP_BYTES = 64 * 1024 * 1024  # /tmp (and /dev/shm) live for the whole run with the warm executor: cap them
# Where the unshare path builds the new root (a tmpfs mounted over it, in the new mount namespace only).
STAGING_DIRS = ("/mnt", "/media", "/srv", "/boot", "/run", "/var/tmp", "/tmp")
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the sandbox's PATH
DASH = shutil.which("dash", path=SANDBOX_PATH)
LOADER_SOURCE = (Path(__file__).parent / "seccomp_loader.py").read_text(encoding="utf-8")
User = tuple[int, int]  # uid, gid the command switches to (an agent run as root); None: the agent's own
# What the root-built sandbox keeps until the command's setpriv has switched uid and dropped them too.
SWITCH_CAPS = ("setuid", "setgid", "setpcap")


class Isolation(Protocol):
    name: str

    def available(self) -> bool:
        """Whether it is installed and the kernel lets it make namespaces (probed once)."""
        ...

    def prefix(self, workspace: Path, network: bool, user: User | None, seccomp_fd: int) -> list[str]:
        """argv that runs the command appended to it inside the sandbox, in `workspace`, as `user`, under the
        seccomp program that `seccomp_fd` holds (it must be passed to the child)."""
        ...


def switch_user(user: User | None) -> list[str]:
    """The command's prefix that drops from the root-built sandbox to `user` (uid, gid), no capabilities."""
    if user is None:
        return []
    uid, gid = user
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--ambient-caps=-all", "--bounding-set=-all", "--"]


class Bubblewrap:
    name = "bwrap"

    def available(self) -> bool:
        return _bwrap_works()

    def prefix(self, workspace: Path, network: bool, user: User | None, seccomp_fd: int) -> list[str]:
        argv = ["bwrap", "--die-with-parent", "--cap-drop", "ALL", "--hostname", "sandbox",
                "--seccomp", str(seccomp_fd)]
        if user is None:  # bwrap's user namespace; the agent keeps its (unprivileged) uid
            argv += ["--unshare-all"] + (["--share-net"] if network else [])
        else:  # built as root, no user namespace; the command drops to `user` (switch_user)
            argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
            argv += [] if network else ["--unshare-net"]
            argv += [arg for cap in SWITCH_CAPS for arg in ("--cap-add", f"CAP_{cap.upper()}")]
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                argv += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                argv += ["--ro-bind", path, path]
        argv += [arg for f in HIDDEN_FILES if os.path.exists(f) for arg in ("--ro-bind", "/dev/null", f)]
        argv += [arg for d in HIDDEN_DIRS if os.path.isdir(d) for arg in ("--tmpfs", d)]
        size = ["--size", str(TMP_BYTES)] if _bwrap_sizes_tmpfs() else []  # bwrap >= 0.7
        shared = ["--perms", "1777", *size]
        # /proc/sys read-only: bwrap covers only some of /proc's knobs itself
        argv += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev"]
        argv += [*shared, "--tmpfs", "/dev/shm", *shared, "--tmpfs", "/tmp", "--perms", "0755", "--dir", "/var",
                 "--perms", "1777", "--dir", "/var/tmp"]
        argv += [arg for d in _new_ancestors(workspace) for arg in ("--perms", "0755", "--dir", d)]
        argv += ["--bind", str(workspace), str(workspace), "--remount-ro", "/", "--chdir", str(workspace), "--"]
        return argv + switch_user(user)


class Unshare:
    name = "unshare"

    def available(self) -> bool:
        return _unshare_works()

    def prefix(self, workspace: Path, network: bool, user: User | None, seccomp_fd: int) -> list[str]:
        argv = ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--kill-child", "--fork", "--pid", "--mount",
                "--ipc", "--uts", "--cgroup"] + ([] if network else ["--net"])
        if os.geteuid() != 0:  # a user namespace lets a normal user mount
            argv += _user_namespace_flags()
        return argv + ["--", DASH or "dash", "-c", _unshare_script(workspace, user, seccomp_fd), "sandbox"]


def _new_ancestors(workspace: Path) -> list[str]:
    """The workspace's parents that bubblewrap has to make (which it would make 0700 as root, where the
    code, another uid, could not pass through them to the workspace)."""
    made = ("/", "/tmp", "/var/tmp", "/dev", "/dev/shm", "/proc")
    kept = tuple(d + "/" for d in SYSTEM_DIRS)
    return [str(d) for d in reversed(workspace.parents) if str(d) not in made and not (str(d) + "/").startswith(kept)]


def choose(preference: IsolationName) -> Isolation | None:
    """The isolation to use: the preferred one, or for "auto" the first that works; None when none does."""
    candidates: list[Isolation] = [Bubblewrap(), Unshare()]
    for isolation in candidates:
        if preference in ("auto", isolation.name) and isolation.available():
            return isolation
    return None


@functools.cache
def _bwrap_works() -> bool:
    """Run the whole bubblewrap sandbox once (namespaces, mounts, the filter, the switch of user)."""
    if shutil.which("bwrap") is None:
        return False
    return _probe_sandbox(Bubblewrap())


@functools.cache
def _bwrap_sizes_tmpfs() -> bool:
    try:
        return "--size" in subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def _unshare_works() -> bool:
    """Run the whole unshare sandbox once: the tools, the namespaces and every mount must work."""
    tools = ("unshare", "setpriv", "mount", "umount", "pivot_root", "dash", "python3")
    if not all(shutil.which(tool, path=SANDBOX_PATH) for tool in tools):
        return False
    return _probe_sandbox(Unshare())


def _probe_sandbox(isolation: Isolation) -> bool:
    """Whether `true` runs in `isolation`'s sandbox as the sandbox's code would (as root: a switch of user)."""
    defaults = SandboxConfig()
    user = (defaults.sandbox_uid, defaults.sandbox_gid) if os.geteuid() == 0 else None
    try:
        fd = seccomp.program_fd()
    except SandboxUnavailable:  # no libseccomp: no sandbox (the backend says why when it starts)
        return False
    try:
        with tempfile.TemporaryDirectory(prefix="autogpt-probe-") as tmp:
            try:
                argv = isolation.prefix(Path(tmp), False, user, fd)
            except RuntimeError:  # no staging directory
                return False
            return _probe(argv + ["true"], pass_fds=(fd,))
    finally:
        os.close(fd)


@functools.cache
def _user_namespace_flags() -> list[str]:
    """Keep the user's own uid inside (util-linux >= 2.38: its capabilities in the namespace survive the exec
    of the set-up script); older versions map the user to root inside instead."""
    try:
        usage = subprocess.run(["unshare", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        usage = ""
    if "--map-current-user" in usage and "--keep-caps" in usage:
        return ["--user", "--map-current-user", "--keep-caps"]
    return ["--user", "--map-root-user"]


def _probe(argv: list[str], pass_fds: tuple[int, ...] = ()) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, env={"PATH": SANDBOX_PATH},
                              pass_fds=pass_fds)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _unshare_script(workspace: Path, user: User | None, seccomp_fd: int) -> str:
    """The dash script that builds the sandbox's root, pivots into it, drops privileges, loads the seccomp
    filter and runs "$@" (as `user`, under a dash init that stays root's when the agent is root)."""
    ws = str(workspace)
    root = _staging_dir(ws)
    q = shlex.quote
    real_dirs = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    links = [(os.readlink(d), d.lstrip("/")) for d in SYSTEM_DIRS if os.path.islink(d)]
    fstab = [(d, d, "none", "bind,ro,X-mount.mkdir") for d in real_dirs]
    fstab += [("/dev/null", f, "none", "bind,ro") for f in HIDDEN_FILES if os.path.exists(f)]
    fstab += [("none", d, "tmpfs", "ro,size=4k,mode=755") for d in HIDDEN_DIRS if os.path.isdir(d)]
    fstab += [(f"/dev/{n}", f"/dev/{n}", "none", "bind") for n in DEVICES if os.path.exists(f"/dev/{n}")]
    fstab += [("none", "/tmp", "tmpfs", f"mode=1777,size={TMP_BYTES},nosuid,nodev"),
              ("none", "/dev/shm", "tmpfs", f"mode=1777,size={TMP_BYTES},nosuid,nodev,X-mount.mkdir"),
              ("proc", "/proc", "proc", "nosuid,nodev,noexec,X-mount.mkdir"),
              (root + "/proc/sys", "/proc/sys", "none", "bind,ro"),
              (ws, ws, "none", "bind,nosuid,nodev,X-mount.mkdir")]  # last: it may lie under /tmp
    table = "".join(f"{_fstab_field(src)} {_fstab_field(root + dst)} {kind} {opts} 0 0\n"
                    for src, dst, kind, opts in fstab)
    lines = [
        "set -e",
        f"mount -t tmpfs -o mode=755,size=1m,nosuid,nodev sandbox-root {q(root)}",
        f"cd {q(root)}",
        "mkdir -p tmp dev var/tmp .old",
        *_link_commands(links),
        "touch " + " ".join(f"dev/{n}" for n in DEVICES if os.path.exists(f"/dev/{n}")),
        "ln -s /proc/self/fd dev/fd; ln -s /proc/self/fd/0 dev/stdin",
        "ln -s /proc/self/fd/1 dev/stdout; ln -s /proc/self/fd/2 dev/stderr",
        f"printf '%s' {q(table)} > tmp/.fstab",  # hidden once the /tmp tmpfs is mounted over it
        "mount -a -T tmp/.fstab",
        "hostname sandbox 2>/dev/null || true",
        "ip link set lo up 2>/dev/null || true" if shutil.which("ip", path=SANDBOX_PATH) else ":",
        "pivot_root . .old; umount -l /.old; rmdir /.old",
        "mount -o remount,bind,ro /",
        f"cd {q(ws)}; unset OLDPWD",
        f"exec {_drop_privileges(user, seccomp_fd)} \"$@\"",
    ]
    return "\n".join(lines)


def _drop_privileges(user: User | None, seccomp_fd: int) -> str:
    """The unshare script's last command: no capabilities but those that switch user, the filter, the dash
    init, and under it the command (as `user`, with nothing left)."""
    keep = "".join(f",+{cap}" for cap in SWITCH_CAPS) if user is not None else ""
    drop = " ".join(map(shlex.quote, switch_user(user)))
    return (f"setpriv --no-new-privs --bounding-set=-all{keep} --inh-caps=-all --ambient-caps=-all -- "
            f"python3 -I -S -c {shlex.quote(LOADER_SOURCE)} {seccomp_fd} "
            f"dash -c '\"$@\"; exit $?' sandbox {drop}")


def _link_commands(links: list[tuple[str, str]]) -> list[str]:
    """`ln -s` commands for (target, name) pairs: one for all whose name is the target's last part."""
    same = [target for target, name in links if os.path.basename(target) == name]
    other = [f"ln -s {shlex.quote(target)} {shlex.quote(name)}" for target, name in links
             if os.path.basename(target) != name]
    return ([f"ln -s {' '.join(map(shlex.quote, same))} ."] if same else []) + other


def _staging_dir(workspace: str) -> str:
    """A host directory to mount the new root's tmpfs over: one the build does not need to read from."""
    for candidate in STAGING_DIRS:
        if os.path.isdir(candidate) and not os.path.islink(candidate) and \
                not (workspace + "/").startswith(candidate + "/"):
            return candidate
    raise RuntimeError("no directory to build the sandbox root in (tried " + ", ".join(STAGING_DIRS) + ")")


def _fstab_field(path: str) -> str:
    """fstab escapes whitespace and backslashes in octal."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)
