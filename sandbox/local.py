"""Local backend: each call is a subprocess in fresh Linux namespaces (bubblewrap), no Docker needed.

Per call: new network (none unless allowed), PID, mount, IPC, UTS and cgroup namespaces; all capabilities
dropped and no-new-privs; a root filesystem that holds only the system directories, read-only, with
/etc/shadow hidden, a private /tmp, a minimal /dev and /proc; the workspace bound read-write as cwd and
HOME; rlimits on CPU time, address space, processes, file size and open files; a pids + memory cgroup where
one can be made. When the call ends, everything it started ends with it (the PID namespace dies with its
first process, and the cgroup is emptied).

Without bubblewrap there is no isolation, and the backend refuses unless `config.unsafe_local` is set.
"""

from __future__ import annotations

import functools
import os
import resource
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sandbox import cgroup
from sandbox.base import ExecResult, FailureReason, SandboxConfig, SandboxUnavailable
from sandbox.output import STDERR, STDOUT, OutputCapture

MB = 1024 * 1024
# Only these host directories are visible (read-only); /root, /home, /var, /run, /srv, /mnt ... are not.
SYSTEM_DIRS = ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")
HIDDEN_DIRS = ("/etc/ssh", "/etc/sudoers.d", "/etc/ssl/private")
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DASH = shutil.which("dash")


@functools.cache
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and this kernel lets it create namespaces."""
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--", "true"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


def bwrap_argv(workspace: Path, network: bool) -> list[str]:
    """The bubblewrap prefix that builds the sandbox's view of the machine."""
    argv = ["bwrap", "--die-with-parent", "--unshare-all", "--cap-drop", "ALL", "--hostname", "sandbox"]
    if network:
        argv.append("--share-net")
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += [arg for f in HIDDEN_FILES if os.path.exists(f) for arg in ("--ro-bind", "/dev/null", f)]
    argv += [arg for d in HIDDEN_DIRS if os.path.isdir(d) for arg in ("--tmpfs", d)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/var/tmp"]
    argv += ["--bind", str(workspace), str(workspace), "--remount-ro", "/", "--chdir", str(workspace), "--"]
    return argv


class LocalSandbox:
    """Runs each call in its own bubblewrap sandbox; `limits` says which caps are in force."""

    backend = "local"

    def __init__(self, workspace: Path, config: SandboxConfig | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.config = config or SandboxConfig()
        if not self.workspace.is_dir():
            raise SandboxUnavailable(f"workspace {self.workspace} is not a directory")
        self.isolated = bwrap_works()
        if not self.isolated and not self.config.unsafe_local:
            raise SandboxUnavailable(
                "the local sandbox needs bubblewrap with Linux namespaces, and they are not available here "
                "(apt-get install -y bubblewrap). Use the Docker sandbox (--sandbox docker), or pass "
                "--unsafe-local to run code on this machine WITHOUT isolation (no network, file or process "
                "separation; only rlimits and a timeout)."
            )
        self._cgroup = cgroup.create(self.config.pids, self.config.memory_mb * MB)
        self.limits = ["rlimits", "timeout"] + (["namespaces"] if self.isolated else []) + (
            ["cgroup"] if self._cgroup else [])

    def exec(self, command: list[str], *, timeout_s: float | None = None) -> ExecResult:
        timeout = timeout_s or self.config.timeout_s
        launcher = self._launcher() if DASH else []
        argv = launcher + (bwrap_argv(self.workspace, self.config.network) if self.isolated else [])
        argv += list(command)
        capture = OutputCapture(self.config.output_bytes)
        ooms_before = self._cgroup.oom_kills() if self._cgroup else 0
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv, cwd=self.workspace, env=self._env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=None if DASH else functools.partial(self._child_setup, self._nproc()),
            )
        except OSError as exc:  # command not found, not executable: the model can fix that
            return ExecResult(127, "", f"cannot run {command[0]!r}: {exc.strerror}", False, False,
                              round(time.monotonic() - started, 4), self.backend, None)
        try:
            timed_out = _pump(proc, capture, started + timeout)
        finally:  # also on Ctrl-C: nothing the call started outlives it
            self._kill(proc)
        exit_code = _shell_code(proc.wait())
        proc.stdout.close(), proc.stderr.close()  # type: ignore[union-attr]
        failure = self._failure(exit_code, timed_out, capture, ooms_before)
        return ExecResult(
            exit_code=exit_code, stdout=capture.text(STDOUT), stderr=capture.text(STDERR),
            timed_out=failure == "timeout", truncated=capture.truncated,
            duration_s=round(time.monotonic() - started, 4), backend=self.backend, failure=failure,
        )

    def close(self) -> None:
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        """A scrubbed environment: nothing of the agent's (API keys, tokens) leaks in."""
        return {"PATH": SANDBOX_PATH, "HOME": str(self.workspace), "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}

    def _launcher(self) -> list[str]:
        """A dash prefix that joins the cgroup and sets the rlimits, then execs the sandbox.

        A shell instead of a preexec_fn: Python can then spawn with vfork, which saves ~15 ms a call over
        forking the agent's large process. Units are dash's (-v KiB, -f 512-byte blocks; bash's -f differs,
        so without dash the preexec_fn does the same work).
        """
        c = self.config
        script = f"ulimit -t {c.cpu_seconds}; ulimit -v {c.memory_mb * 1024}; "
        script += f"ulimit -f {c.file_size_mb * 2048}; ulimit -n {c.open_files}; ulimit -c 0; "
        if self._cgroup is not None:
            fail = "{ echo 'sandbox: cannot join its cgroup' >&2; exit 125; }"
            script = "".join(f"echo $$ > {d}/cgroup.procs || {fail}; " for d in self._cgroup.dirs) + script
        else:
            script += f"ulimit -p {self._nproc()}; "
        return [DASH or "dash", "-c", script + 'exec "$@"', "sandbox"]

    def _child_setup(self, nproc: int | None) -> None:
        """The launcher's work, in the child between fork and exec (where there is no dash)."""
        if self._cgroup is not None:
            self._cgroup.add_self()
        c = self.config
        limits = [(resource.RLIMIT_CPU, c.cpu_seconds), (resource.RLIMIT_AS, c.memory_mb * MB),
                  (resource.RLIMIT_FSIZE, c.file_size_mb * MB), (resource.RLIMIT_NOFILE, c.open_files),
                  (resource.RLIMIT_CORE, 0)] + ([(resource.RLIMIT_NPROC, nproc)] if nproc else [])
        for limit, value in limits:
            resource.setrlimit(limit, (value, value))

    def _nproc(self) -> int | None:
        """RLIMIT_NPROC counts all the user's processes on the host (and not root's), so allow `pids` more
        than run now; None where the pids cgroup holds the call instead."""
        return None if self._cgroup else self.config.pids + _count_processes(os.getuid())

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """End the call's process group and anything it left in the cgroup."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._cgroup is not None:
            self._cgroup.kill_all()

    def _failure(self, exit_code: int, timed_out: bool, capture: OutputCapture,
                 ooms_before: int) -> FailureReason | None:
        if timed_out or exit_code == 128 + signal.SIGXCPU:
            return "timeout"
        if capture.flooded:
            return "output_limit"
        if self._cgroup is not None and self._cgroup.oom_kills() > ooms_before:
            return "memory"
        if exit_code != 0 and "MemoryError" in capture.text(STDERR)[-2000:]:
            return "memory"
        if exit_code == 128 + signal.SIGKILL:
            return "killed"
        return None


def _pump(proc: subprocess.Popen[bytes], capture: OutputCapture, deadline: float) -> bool:
    """Read stdout and stderr until both close, the deadline passes, or the output floods. True on timeout."""
    assert proc.stdout is not None and proc.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, STDOUT)
        selector.register(proc.stderr, selectors.EVENT_READ, STDERR)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif capture.add(key.data, chunk):
                    return False
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        return True
    return False


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def _shell_code(returncode: int) -> int:
    """Report death by signal N as 128 + N, as a shell (and Docker) would."""
    return 128 - returncode if returncode < 0 else returncode
