"""Local backend: code runs in Linux namespaces on this machine (bubblewrap, or util-linux unshare where
bubblewrap is missing: sandbox/isolation.py says what each hides), no Docker needed.

By default one namespace sandbox is kept for the run and calls go through the warm executor inside it
(sandbox/executor.py), as the Docker backend keeps one container: a call then costs a fork and an exec, not
fresh namespaces, mounts and a cgroup move (20-35 ms). With `config.warm_exec` off, or where the executor cannot
start, each call gets a fresh sandbox of its own.

Per call either way: rlimits on CPU time, address space, processes, file size and open files; its own session;
a scrubbed environment; the workspace as working directory and HOME; a pids + memory cgroup where one can be
made (it holds the whole sandbox). When the call ends, everything it started ends with it: the executor kills
what is left in its PID namespace, and the host kills whatever else is in the cgroup.

Code never runs as host root: an agent run as root runs it as the workspace owner, or, for a root-owned
workspace, as `config.sandbox_uid` given the workspace by ACL (sandbox/workspace_access.py, as for Docker).
The seccomp filter of sandbox/seccomp.py holds in every call, and the workspace quota (sandbox/quota.py) is
watched during each.

Without namespaces there is no isolation, and the backend refuses unless `config.unsafe_local` is set (then
code still runs as that unprivileged uid, but without the filter).
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from sandbox import cgroup, isolation, seccomp, workspace_access
from sandbox.base import ExecResult, FailureReason, PythonState, SandboxConfig, SandboxUnavailable, python_command
from sandbox.executor import SERVER_ARGV, Executor, ExecutorGone, PipeChannel, host_pid_of, python_call
from sandbox.output import STDERR, STDOUT, OutputCapture
from sandbox.quota import QuotaWatch, WorkspaceQuota

MB = 1024 * 1024
DASH = isolation.DASH
# dash's ulimit flag and unit per rlimit (-v KiB, -f and -c 512-byte blocks; bash's -f differs, so without
# dash a preexec_fn sets them instead).
DASH_ULIMIT = {"RLIMIT_CPU": ("-t", 1), "RLIMIT_AS": ("-v", 1024), "RLIMIT_FSIZE": ("-f", 512),
               "RLIMIT_NOFILE": ("-n", 1), "RLIMIT_CORE": ("-c", 512), "RLIMIT_NPROC": ("-p", 1)}
# Not on the executor itself: its CPU time adds up over the whole run, and NPROC is counted afresh per call.
PER_CALL_ONLY = ("RLIMIT_CPU", "RLIMIT_NPROC")
MAX_EXECUTOR_FAILURES = 3


class LocalSandbox:
    """Runs calls in a namespace sandbox; `isolation` is how (None: unsafe), `limits` which caps hold."""

    backend = "local"

    def __init__(self, workspace: Path, config: SandboxConfig | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.config = config or SandboxConfig()
        if not self.workspace.is_dir():
            raise SandboxUnavailable(f"workspace {self.workspace} is not a directory")
        self.isolation = isolation.choose(self.config.local_isolation)
        self.isolated = self.isolation is not None
        if not self.isolated and not self.config.unsafe_local:
            raise SandboxUnavailable(_no_isolation_message(self.config.local_isolation))
        if self.isolated:
            seccomp.bpf_program()  # SandboxUnavailable, with what to install, when libseccomp is missing
        self._quota = WorkspaceQuota.check_before_start(self.workspace, self.config.quota_mb * MB,
                                                        self.config.quota_files)
        # As root, code runs as the workspace owner or the sandbox uid (never 0); otherwise as the agent.
        self.sandbox_user = workspace_access.prepare(self.workspace, self.config) if os.geteuid() == 0 else None
        self.user = (self.sandbox_user.uid, self.sandbox_user.gid) if self.sandbox_user else None
        self._cgroup = cgroup.create(self.config.pids, self.config.memory_mb * MB)
        self.limits = ["rlimits", "timeout"] + (["namespaces"] if self.isolated else []) + (
            ["cgroup"] if self._cgroup else [])
        self._executor: Executor | None = None
        self._executor_proc: subprocess.Popen[bytes] | None = None
        self._executor_failures = 0
        self._keep: frozenset[int] = frozenset()  # the warm sandbox's own processes in the cgroup
        self._session: frozenset[int] = frozenset()  # the Python session's process, between calls
        self._cold_proc: subprocess.Popen[bytes] | None = None  # the fresh sandbox of the call running now

    def exec(self, command: list[str], *, timeout_s: float | None = None) -> ExecResult:
        timeout = timeout_s or self.config.timeout_s
        capture = OutputCapture(self.config.output_bytes)
        ooms_before = self._cgroup.oom_kills() if self._cgroup else 0
        started = time.monotonic()
        if self.sandbox_user is not None:
            workspace_access.refresh(self.workspace, self.sandbox_user)
        executor = self._warm_executor()
        with self._quota.watch(lambda: self._stop_call(executor)) as quota:
            if executor is not None:
                exit_code, timed_out = self._exec_warm(executor, command, timeout, capture)
            else:
                try:
                    exit_code, timed_out = self._exec_cold(command, timeout, capture)
                except OSError as exc:  # command not found, not executable: the model can fix that
                    return ExecResult(127, "", f"cannot run {command[0]!r}: {exc.strerror}", False, False,
                                      round(time.monotonic() - started, 4), self.backend, None)
        failure = self._failure(exit_code, timed_out, capture, ooms_before, quota)
        return ExecResult(
            exit_code=exit_code, stdout=capture.text(STDOUT), stderr=capture.text(STDERR),
            timed_out=failure == "timeout", truncated=capture.truncated,
            duration_s=round(time.monotonic() - started, 4), backend=self.backend, failure=failure,
        )

    def leftover_pids(self) -> set[int]:
        """Host pids of processes left in the sandbox between calls (empty when all is well): everything in
        its cgroup but the warm sandbox's own processes; empty where there is no cgroup to look in."""
        return self._cgroup.pids() - self._keep - self._session if self._cgroup is not None else set()

    def run_python(self, code: str, *, timeout_s: float | None = None) -> ExecResult:
        """Python code in the run's session (sandbox/python_session.py), kept in the warm executor; a fresh
        `python3 -c` where there is none (`python_session` or `warm_exec` off, or no executor here)."""
        executor = self._warm_executor() if self.config.python_session else None
        if executor is None:
            return self.exec(python_command(code), timeout_s=timeout_s)
        timeout = timeout_s or self.config.timeout_s
        capture = OutputCapture(self.config.output_bytes)
        ooms_before = self._cgroup.oom_kills() if self._cgroup else 0
        started = time.monotonic()
        if self.sandbox_user is not None:
            workspace_access.refresh(self.workspace, self.sandbox_user)
        self._session = frozenset()  # a quota kill during the call takes the session too
        with self._quota.watch(lambda: self._stop_call(executor)) as quota:
            try:
                exit_code, reason, state, pid = python_call(executor, code, {}, str(self.workspace), timeout,
                                                            capture, self._rlimits(), self.config.cpu_seconds)
            except ExecutorGone:  # killed by the code it ran, or stuck: the session went with it
                self._stop_executor()
                self._executor_failures += 1
                exit_code, reason = 128 + signal.SIGKILL, None
                state = PythonState(False, False, "the sandbox's executor stopped answering")
        if self._cgroup is not None and self._executor is not None:  # nothing but the executor and session lives on
            self._session = host_pid_of(self._cgroup.pids() - self._keep, pid) if state.kept else frozenset()
            self._cgroup.kill_all(keep=self._keep | self._session)
        failure = self._failure(_shell_code(exit_code), reason == "timeout", capture, ooms_before, quota)
        return ExecResult(
            exit_code=_shell_code(exit_code), stdout=capture.text(STDOUT), stderr=capture.text(STDERR),
            timed_out=failure == "timeout", truncated=capture.truncated,
            duration_s=round(time.monotonic() - started, 4), backend=self.backend, failure=failure, python=state,
        )

    def close(self) -> None:
        self._stop_executor()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self.sandbox_user is not None:
            workspace_access.hand_back(self.workspace, self.sandbox_user)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- a call through the warm executor ----------------------------------------------------------------

    def _warm_executor(self) -> Executor | None:
        """The run's executor, (re)started when needed; None means: a fresh sandbox for this call."""
        if not self.config.warm_exec or self.isolation is None or \
                self._executor_failures >= MAX_EXECUTOR_FAILURES:
            return None  # never without a PID namespace: the executor kills every process it can see
        if self._executor_proc is not None and self._executor_proc.poll() is not None:
            self._stop_executor()  # it died between calls (its parent thread ended, say): start anew
        if self._executor is None:
            try:
                self._start_executor()
            except (OSError, ExecutorGone):
                self._stop_executor()
                self._executor_failures += 1
        return self._executor

    def _start_executor(self) -> None:
        assert self.isolation is not None
        limits = {name: value for name, value in self._rlimits().items() if name not in PER_CALL_ONLY}
        launcher = self._launcher(limits) if DASH else []
        with _seccomp_fd() as fd:
            argv = launcher + self.isolation.prefix(self.workspace, self.config.network, self.user, fd)
            self._executor_proc = subprocess.Popen(
                argv + SERVER_ARGV, cwd=self.workspace, env=self._env(), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, pass_fds=(fd,),
                preexec_fn=None if DASH else functools.partial(self._child_setup, limits),
            )
        self._executor = Executor(PipeChannel(self._executor_proc))
        self._executor.wait_ready(timeout_s=15)
        self._keep = frozenset(self._cgroup.pids()) if self._cgroup else frozenset()

    def _exec_warm(self, executor: Executor, command: list[str], timeout: float,
                   capture: OutputCapture) -> tuple[int, bool]:
        try:
            code, reason = executor.run(command, {}, str(self.workspace), timeout, capture, self._rlimits())
        except ExecutorGone:  # killed by the code it ran, or stuck: clean up from outside, start anew
            self._stop_executor()
            self._executor_failures += 1
            return 128 + signal.SIGKILL, False
        if self._cgroup is not None:  # the executor runs with the code's rights: trust, but verify
            self._cgroup.kill_all(keep=self._keep | self._session)
        return _shell_code(code), reason == "timeout"

    def _stop_executor(self) -> None:
        executor, proc = self._executor, self._executor_proc
        self._executor, self._executor_proc, self._keep = None, None, frozenset()
        self._session = frozenset()
        if executor is not None:
            executor.close()
        if proc is not None:
            self._kill(proc)
            proc.wait()

    # -- a call in a fresh sandbox -----------------------------------------------------------------------

    def _exec_cold(self, command: list[str], timeout: float, capture: OutputCapture) -> tuple[int, bool]:
        limits = self._rlimits()
        launcher = self._launcher(limits) if DASH else []
        with _seccomp_fd() if self.isolation else contextlib.nullcontext(-1) as fd:
            sandbox = self.isolation.prefix(self.workspace, self.config.network, self.user, fd) \
                if self.isolation else (isolation.switch_user(self.user) if DASH else [])
            proc = self._cold_proc = subprocess.Popen(
                launcher + sandbox + list(command), cwd=self.workspace, env=self._env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=(fd,) if fd >= 0 else (),
                preexec_fn=None if DASH else functools.partial(self._child_setup, limits),
            )
        try:
            timed_out = _pump(proc, capture, time.monotonic() + timeout)
        finally:  # also on Ctrl-C: nothing the call started outlives it
            self._cold_proc = None
            self._kill(proc)
        exit_code = _shell_code(proc.wait())
        proc.stdout.close(), proc.stderr.close()  # type: ignore[union-attr]
        return exit_code, timed_out

    # -- helpers ---------------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        """A scrubbed environment: nothing of the agent's (API keys, tokens) leaks in."""
        return {"PATH": isolation.SANDBOX_PATH, "HOME": str(self.workspace), "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}

    def _rlimits(self) -> dict[str, int]:
        """A call's rlimits (resource names, values in bytes, seconds or counts)."""
        c = self.config
        limits = {"RLIMIT_CPU": c.cpu_seconds, "RLIMIT_AS": c.memory_mb * MB, "RLIMIT_FSIZE": c.file_size_mb * MB,
                  "RLIMIT_NOFILE": c.open_files, "RLIMIT_CORE": 0}
        nproc = self._nproc()
        return limits | ({"RLIMIT_NPROC": nproc} if nproc else {})

    def _launcher(self, limits: dict[str, int]) -> list[str]:
        """A dash prefix that joins the cgroup and sets the rlimits, then execs the rest.

        A shell instead of a preexec_fn: Python can then spawn with vfork, which saves ~15 ms a call over
        forking the agent's large process.
        """
        script = "".join(f"ulimit {DASH_ULIMIT[name][0]} {value // DASH_ULIMIT[name][1]}; "
                         for name, value in limits.items())
        if self._cgroup is not None:
            fail = "{ echo 'sandbox: cannot join its cgroup' >&2; exit 125; }"
            script = "".join(f"echo $$ > {d}/cgroup.procs || {fail}; " for d in self._cgroup.dirs) + script
        return [DASH or "dash", "-c", script + 'exec "$@"', "sandbox"]

    def _child_setup(self, limits: dict[str, int]) -> None:
        """The launcher's work, in the child between fork and exec (where there is no dash); without
        isolation it also drops to the unprivileged user (with it, the sandbox does)."""
        if self._cgroup is not None:
            self._cgroup.add_self()
        for name, value in limits.items():
            resource.setrlimit(getattr(resource, name), (value, value))
        if self.user is not None and self.isolation is None:
            os.setgroups([])
            os.setresgid(self.user[1], self.user[1], self.user[1])
            os.setresuid(self.user[0], self.user[0], self.user[0])

    def _stop_call(self, executor: Executor | None) -> None:
        """Kill the running call at once (from the quota's thread); the executor sees its child die."""
        if executor is not None and self._cgroup is not None:
            self._cgroup.kill_all(keep=self._keep)
        elif executor is not None and self._executor_proc is not None:  # no cgroup: the executor goes too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._executor_proc.pid, signal.SIGKILL)
        elif (proc := self._cold_proc) is not None:
            self._kill(proc)

    def _nproc(self) -> int | None:
        """RLIMIT_NPROC counts all the user's processes on the host (and not root's), so allow `pids` more
        than run now; None where the pids cgroup holds the call instead."""
        uid = self.user[0] if self.user else os.getuid()
        return None if self._cgroup else self.config.pids + _count_processes(uid)

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """End the process group and anything left in the cgroup."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()

    def _failure(self, exit_code: int, timed_out: bool, capture: OutputCapture, ooms_before: int,
                 quota: QuotaWatch) -> FailureReason | None:
        if quota.exceeded is not None:
            capture.note(STDERR, f"sandbox: {self._quota.describe(quota.exceeded)}")
            return "quota"
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


@contextlib.contextmanager
def _seccomp_fd() -> Iterator[int]:
    """The filter's program in a descriptor for the sandbox being started; closed once it has started."""
    fd = seccomp.program_fd()
    try:
        yield fd
    finally:
        os.close(fd)


def _no_isolation_message(preference: str) -> str:
    which = {"auto": "bubblewrap or util-linux unshare", "bwrap": "bubblewrap",
             "unshare": "util-linux unshare"}[preference]
    return (f"the local sandbox needs Linux namespaces through {which}, and they are not available here "
            "(apt-get install -y bubblewrap). Use the Docker sandbox (--sandbox docker), or pass --unsafe-local "
            "to run code on this machine WITHOUT isolation (no network, file or process separation; only rlimits "
            "and a timeout).")


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
