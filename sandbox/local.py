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

Without namespaces there is no isolation, and the backend refuses unless `config.unsafe_local` is set.
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
from pathlib import Path

from sandbox import cgroup, isolation
from sandbox.base import ExecResult, FailureReason, PythonState, SandboxConfig, SandboxUnavailable, python_command
from sandbox.executor import SERVER_ARGV, Executor, ExecutorGone, PipeChannel, python_call
from sandbox.output import STDERR, STDOUT, OutputCapture

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
        self._cgroup = cgroup.create(self.config.pids, self.config.memory_mb * MB)
        self.limits = ["rlimits", "timeout"] + (["namespaces"] if self.isolated else []) + (
            ["cgroup"] if self._cgroup else [])
        self._executor: Executor | None = None
        self._executor_proc: subprocess.Popen[bytes] | None = None
        self._executor_failures = 0
        self._keep: frozenset[int] = frozenset()  # the warm sandbox's own processes in the cgroup

    def exec(self, command: list[str], *, timeout_s: float | None = None) -> ExecResult:
        timeout = timeout_s or self.config.timeout_s
        capture = OutputCapture(self.config.output_bytes)
        ooms_before = self._cgroup.oom_kills() if self._cgroup else 0
        started = time.monotonic()
        executor = self._warm_executor()
        if executor is not None:
            exit_code, timed_out = self._exec_warm(executor, command, timeout, capture)
        else:
            try:
                exit_code, timed_out = self._exec_cold(command, timeout, capture)
            except OSError as exc:  # command not found, not executable: the model can fix that
                return ExecResult(127, "", f"cannot run {command[0]!r}: {exc.strerror}", False, False,
                                  round(time.monotonic() - started, 4), self.backend, None)
        failure = self._failure(exit_code, timed_out, capture, ooms_before)
        return ExecResult(
            exit_code=exit_code, stdout=capture.text(STDOUT), stderr=capture.text(STDERR),
            timed_out=failure == "timeout", truncated=capture.truncated,
            duration_s=round(time.monotonic() - started, 4), backend=self.backend, failure=failure,
        )

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
        try:
            exit_code, reason, state, pid = python_call(executor, code, {}, str(self.workspace), timeout, capture,
                                                        self._rlimits(), self.config.cpu_seconds)
        except ExecutorGone:  # killed by the code it ran, or stuck: the session went with it
            self._stop_executor()
            self._executor_failures += 1
            exit_code, reason = 128 + signal.SIGKILL, None
            state = PythonState(False, False, "the sandbox's executor stopped answering")
        else:
            if self._cgroup is not None:  # as for any call: nothing but the executor and the session lives on
                self._cgroup.kill_all(keep=self._keep | (self._host_pids(pid) if state.kept else frozenset()))
        failure = self._failure(_shell_code(exit_code), reason == "timeout", capture, ooms_before)
        return ExecResult(
            exit_code=_shell_code(exit_code), stdout=capture.text(STDOUT), stderr=capture.text(STDERR),
            timed_out=failure == "timeout", truncated=capture.truncated,
            duration_s=round(time.monotonic() - started, 4), backend=self.backend, failure=failure, python=state,
        )

    def _host_pids(self, namespace_pid: int) -> frozenset[int]:
        """The host pid of the executor's process `namespace_pid` (its pid inside the sandbox's namespace)."""
        assert self._cgroup is not None
        for pid in self._cgroup.pids() - self._keep:
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                nspids = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
                if len(nspids) > 1 and nspids[-1] == str(namespace_pid):
                    return frozenset({pid})
        return frozenset()

    def close(self) -> None:
        self._stop_executor()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

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
        argv = launcher + self.isolation.prefix(self.workspace, self.config.network) + SERVER_ARGV
        self._executor_proc = subprocess.Popen(
            argv, cwd=self.workspace, env=self._env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True,
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
            self._cgroup.kill_all(keep=self._keep)
        return _shell_code(code), reason == "timeout"

    def _stop_executor(self) -> None:
        executor, proc = self._executor, self._executor_proc
        self._executor, self._executor_proc, self._keep = None, None, frozenset()
        if executor is not None:
            executor.close()
        if proc is not None:
            self._kill(proc)
            proc.wait()

    # -- a call in a fresh sandbox -----------------------------------------------------------------------

    def _exec_cold(self, command: list[str], timeout: float, capture: OutputCapture) -> tuple[int, bool]:
        limits = self._rlimits()
        argv = (self._launcher(limits) if DASH else []) + (
            self.isolation.prefix(self.workspace, self.config.network) if self.isolation else [])
        proc = subprocess.Popen(
            argv + list(command), cwd=self.workspace, env=self._env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=None if DASH else functools.partial(self._child_setup, limits),
        )
        try:
            timed_out = _pump(proc, capture, time.monotonic() + timeout)
        finally:  # also on Ctrl-C: nothing the call started outlives it
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
        """The launcher's work, in the child between fork and exec (where there is no dash)."""
        if self._cgroup is not None:
            self._cgroup.add_self()
        for name, value in limits.items():
            resource.setrlimit(getattr(resource, name), (value, value))

    def _nproc(self) -> int | None:
        """RLIMIT_NPROC counts all the user's processes on the host (and not root's), so allow `pids` more
        than run now; None where the pids cgroup holds the call instead."""
        return None if self._cgroup else self.config.pids + _count_processes(os.getuid())

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """End the process group and anything left in the cgroup."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
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
