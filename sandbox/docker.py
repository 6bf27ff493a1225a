"""Docker backend: one locked-down container per agent run; every call runs inside it.

Calls go through a warm executor started once in the container (sandbox/executor.py: no `runc exec` per
call); where it cannot run, or `config.warm_exec` is off, each call is one `docker exec`.

Defaults: no network, memory (no swap), CPU and pids caps, read-only root filesystem with a small tmpfs /tmp,
all capabilities dropped, no-new-privileges, the seccomp profile of sandbox/seccomp.py, code never run as root
(the workspace owner's uid, or an unprivileged uid given the workspace by ACL when the owner is root:
sandbox/workspace_access.py), the workspace bind-mounted read-write at /workspace and held to its quota
(sandbox/quota.py). PID 1 is a tiny reaper, so that processes a call leaves behind never pile up as zombies;
it makes itself non-dumpable, as the warm executor does, so the code (the same uid) can neither trace it nor
write its memory. After every call the host kills whatever is left in the container but PID 1 and the
executor. The container is removed on close(), at interpreter exit and on SIGTERM; one left by a killed
agent is removed by the next sandbox.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import socket
import struct
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox import seccomp, workspace_access
from sandbox.base import ExecResult, FailureReason, PythonState, SandboxConfig, SandboxUnavailable, python_command
from sandbox.docker_executor import executor_pid, start_executor
from sandbox.executor import Executor, ExecutorGone, host_pid_of, python_call
from sandbox.image import docker_client, image_exists
from sandbox.output import STDERR, OutputCapture
from sandbox.quota import QuotaWatch, WorkspaceQuota

if TYPE_CHECKING:
    import docker

MOUNT = "/workspace"
LABEL = "autogpt.sandbox"
# PID 1: reap every child, adopted orphans included, so killed leftovers do not hold pids. Non-dumpable
# first (PR_SET_DUMPABLE 0), or the container ends: code of the same uid could otherwise take it over.
REAPER = """
import ctypes, os, signal
if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:
    raise SystemExit("sandbox: cannot make PID 1 non-dumpable")
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
while True:
    signal.sigtimedwait({signal.SIGCHLD}, 5)
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
"""
# Each call runs under this wrapper: when the command ends, everything else the user runs is killed
# (kill -1 spares the caller and PID 1), so nothing a call starts outlives it.
WRAPPER = '"$@"; rc=$?; kill -9 -1 2>/dev/null; exit $rc'
ENV = {"HOME": MOUNT, "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
       "PYTHONUNBUFFERED": "1"}
_LIVE: weakref.WeakSet[DockerSandbox] = weakref.WeakSet()
_HOOKS_LOCK = threading.Lock()
_hooks_installed = False


class DockerSandbox:
    backend = "docker"

    def __init__(self, workspace: Path, config: SandboxConfig | None = None,
                 client: docker.DockerClient | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.config = config or SandboxConfig()
        if not self.workspace.is_dir():
            raise SandboxUnavailable(f"workspace {self.workspace} is not a directory")
        self._client = client or docker_client()
        if not image_exists(self._client, self.config.image):
            raise SandboxUnavailable(
                f"the sandbox image {self.config.image} is missing: build it with `autogpt sandbox build`"
            )
        remove_orphans(self._client)
        self._quota = WorkspaceQuota.check_before_start(self.workspace, self.config.quota_mb << 20,
                                                        self.config.quota_files)
        self.sandbox_user = workspace_access.prepare(self.workspace, self.config)
        self.user = self.sandbox_user.spec
        try:
            self.container = self._client.containers.run(self.config.image, **self._run_options())
        except Exception as exc:  # docker.errors.APIError and friends: the engine refused this container
            workspace_access.hand_back(self.workspace, self.sandbox_user)
            raise SandboxUnavailable(f"the Docker engine could not start the container: {exc}") from exc
        self._cgroup_events = _cgroup_file(self.container.id, "memory")
        self._cgroup_procs = _cgroup_file(self.container.id, "pids")
        self._init_pid = 0
        self._executor: Executor | None = None
        self._executor_pid = 0  # its pid on the host, spared by the after-call clean-up
        self._session_pids: frozenset[int] = frozenset()  # the Python session's host pid, spared as well
        self._executor_failures = 0
        _LIVE.add(self)
        _install_exit_hooks()

    def _run_options(self) -> dict[str, Any]:
        from docker.types import Ulimit

        c, mb = self.config, 1024 * 1024
        return dict(
            command=["python3", "-c", REAPER], detach=True, user=self.user, working_dir=MOUNT,
            network_mode="bridge" if c.network else "none", hostname="sandbox",
            mem_limit=c.memory_mb * mb, memswap_limit=c.memory_mb * mb, nano_cpus=int(c.cpus * 1e9),
            pids_limit=c.pids, read_only=True, tmpfs={"/tmp": "rw,nosuid,nodev,size=64m"},
            cap_drop=["ALL"], security_opt=["no-new-privileges", f"seccomp={seccomp.docker_profile()}"],
            volumes={str(self.workspace): {"bind": MOUNT, "mode": "rw"}},
            # data = heap + private mmaps: a large malloc fails at once (MemoryError) instead of paging
            # its way to the cgroup's OOM kill.
            ulimits=[Ulimit(name="data", soft=c.memory_mb * mb, hard=c.memory_mb * mb),
                     Ulimit(name="cpu", soft=c.cpu_seconds, hard=c.cpu_seconds),
                     Ulimit(name="nofile", soft=c.open_files, hard=c.open_files),
                     Ulimit(name="fsize", soft=c.file_size_mb * mb, hard=c.file_size_mb * mb),
                     Ulimit(name="core", soft=0, hard=0)],
            labels={LABEL: "1", f"{LABEL}.pid": str(os.getpid()), f"{LABEL}.host": socket.gethostname()},
        )

    def exec(self, command: list[str], *, timeout_s: float | None = None) -> ExecResult:
        timeout = timeout_s or self.config.timeout_s
        started = time.monotonic()
        ooms_before = _oom_kills(self._cgroup_events)
        capture = OutputCapture(self.config.output_bytes)
        workspace_access.refresh(self.workspace, self.sandbox_user)
        executor = self._warm_executor()
        spare = executor is not None
        with self._quota.watch(lambda: self._kill_calls(spare_executor=spare, spare_session=spare)) as quota:
            if executor is not None:
                exit_code, timed_out = self._exec_warm(executor, command, timeout, capture)
            else:
                exit_code, timed_out = self._exec_cold(command, timeout, capture, started)
        if quota.exceeded is not None:
            capture.note(STDERR, f"sandbox: {self._quota.describe(quota.exceeded)}")
        failure = _failure(exit_code, timed_out, capture, _oom_kills(self._cgroup_events) > ooms_before, quota)
        return ExecResult(
            exit_code=exit_code, stdout=capture.text(1), stderr=capture.text(STDERR),
            timed_out=failure == "timeout", truncated=capture.truncated,
            duration_s=round(time.monotonic() - started, 4), backend=self.backend, failure=failure,
        )

    def run_python(self, code: str, *, timeout_s: float | None = None) -> ExecResult:
        """Python code in the run's session (sandbox/python_session.py), kept in the container's executor; a
        fresh `python3 -c` where there is none. The container's CPU-time ulimit counts over the session's
        life: a session that used it up is killed, and the next call starts a new one (and says so)."""
        workspace_access.refresh(self.workspace, self.sandbox_user)
        executor = self._warm_executor() if self.config.python_session else None
        if executor is None:
            return self.exec(python_command(code), timeout_s=timeout_s)
        timeout = timeout_s or self.config.timeout_s
        started = time.monotonic()
        ooms_before = _oom_kills(self._cgroup_events)
        capture = OutputCapture(self.config.output_bytes)
        self._session_pids = frozenset()  # a quota kill during the call takes the session too
        with self._quota.watch(lambda: self._kill_calls(spare_executor=True)) as quota:
            try:
                exit_code, reason, state, pid = python_call(executor, code, ENV, MOUNT, timeout, capture, None,
                                                            self.config.cpu_seconds)
            except ExecutorGone:  # killed by the code it ran, or stuck: clean up from outside, start anew
                executor.close()
                self._executor, self._executor_failures = None, self._executor_failures + 1
                self._kill_calls()
                exit_code, reason, pid = 128 + signal.SIGKILL, None, 0
                state = PythonState(False, False, "the sandbox's executor stopped answering")
        if state.kept:
            self._session_pids = host_pid_of(self._cgroup_pids() - self._executor_pids(), pid)
        if quota.exceeded is not None:
            capture.note(STDERR, f"sandbox: {self._quota.describe(quota.exceeded)}")
        exit_code = 128 - exit_code if exit_code < 0 else exit_code
        failure = _failure(exit_code, reason == "timeout", capture, _oom_kills(self._cgroup_events) > ooms_before,
                           quota)
        return ExecResult(
            exit_code=exit_code, stdout=capture.text(1), stderr=capture.text(STDERR),
            timed_out=failure == "timeout", truncated=capture.truncated,
            duration_s=round(time.monotonic() - started, 4), backend=self.backend, failure=failure, python=state,
        )

    def _warm_executor(self) -> Executor | None:
        """The container's executor, (re)started when needed; None means: use one `docker exec` per call."""
        if self._executor is None and self.config.warm_exec and self._executor_failures < 3:
            try:
                self._executor = start_executor(self._client.api, self.container.id, self.user, MOUNT, ENV)
                self._executor_pid = 0  # known once it runs: after its first call
                self._session_pids = frozenset()
            except Exception:  # no pids left, container gone: the cold path reports it
                self._executor, self._executor_failures = None, self._executor_failures + 1
        return self._executor

    def _exec_warm(self, executor: Executor, command: list[str], timeout: float,
                   capture: OutputCapture) -> tuple[int, bool]:
        try:
            code, reason = executor.run(command, ENV, MOUNT, timeout, capture)
        except ExecutorGone:  # killed by the code it ran, or stuck: clean up from outside, start anew
            executor.close()
            self._executor, self._executor_failures = None, self._executor_failures + 1
            self._kill_calls()
            return 128 + signal.SIGKILL, False
        self._kill_calls(spare_executor=True, spare_session=True)  # it runs with the code's rights: verify
        return (128 - code if code < 0 else code), reason == "timeout"

    def _exec_cold(self, command: list[str], timeout: float, capture: OutputCapture,
                   started: float) -> tuple[int, bool]:
        api = self._client.api
        try:
            exec_id = api.exec_create(self.container.id, ["/bin/sh", "-c", WRAPPER, "sandbox", *command],
                                      user=self.user, workdir=MOUNT, environment=ENV)["Id"]
            stream = api.exec_start(exec_id, socket=True)
        except Exception as exc:  # the engine could not start the process (no pids left, container gone)
            self._kill_calls()
            capture.add(STDERR, f"the sandbox could not start the command: {exc}".encode())
            return 126, False
        raw = getattr(stream, "_sock", stream)
        try:
            timed_out = _pump(raw, capture, started + timeout)
        finally:
            # Close the connection itself (SocketIO.close leaves it open) so the daemon stops copying output.
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
            raw.close(), stream.close()
        if timed_out or capture.flooded:
            self._kill_calls()
        exit_code = _exit_code(api, exec_id)
        if self._cgroup_procs is not None:  # leftovers, should the call have killed the wrapper's shell
            self._kill_from_host(self._cgroup_procs)
        return exit_code, timed_out

    def _kill_calls(self, spare_executor: bool = False, spare_session: bool = False) -> None:
        """Kill what the calls started (every process but PID 1, and the warm executor when spared); the
        container and its files live on.

        From the host through the container's pids cgroup where we may (an exec cannot start while a fork
        bomb holds every pid), else with `kill -9 -1` exec'd inside (which spares nothing but PID 1).
        """
        spare = self._executor_pids() | (self._session_pids if spare_session else set()) if spare_executor else set()
        if spare_executor and not spare:
            return  # the executor cannot be told apart: its own clean-up after the call stands
        if self._cgroup_procs is not None and self._kill_from_host(self._cgroup_procs, spare):
            return
        if spare_executor:
            return  # the executor killed the call's processes itself
        api = self._client.api
        with contextlib.suppress(Exception):
            kill = ["/bin/sh", "-c", "kill -9 -1"]
            kill_id = api.exec_create(self.container.id, kill, user=self.user)["Id"]
            api.exec_start(kill_id, detach=True)
            _exit_code(api, kill_id)

    def _executor_pids(self) -> set[int]:
        """The host pids the after-call clean-up spares besides PID 1: the warm executor's (empty while it
        is unknown)."""
        if not self._executor_pid and self._executor is not None:
            with contextlib.suppress(Exception):
                self._executor_pid = executor_pid(self._client.api, self._executor)
        return {self._executor_pid} if self._executor_pid else set()

    def _cgroup_pids(self) -> set[int]:
        try:
            return {int(p) for p in self._cgroup_procs.read_text().split()} if self._cgroup_procs else set()
        except OSError:
            return set()

    def _kill_from_host(self, procs: Path, spare: set[int] | None = None, wait_s: float = 5.0) -> bool:
        if not self._init_pid:
            self._init_pid = int(self._client.api.inspect_container(self.container.id)["State"]["Pid"])
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                pids = {int(p) for p in procs.read_text().split()} - {self._init_pid} - (spare or set())
            except OSError:
                return False
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                except PermissionError:
                    return False
            time.sleep(0.002)
        return True

    def leftover_pids(self) -> set[int]:
        """Host pids of processes left in the container between calls (empty when all is well): everything
        in its pids cgroup but PID 1 and the warm executor; empty where the cgroup cannot be read."""
        if self._cgroup_procs is None or self.container is None:
            return set()
        if not self._init_pid:
            self._init_pid = int(self._client.api.inspect_container(self.container.id)["State"]["Pid"])
        try:
            pids = {int(p) for p in self._cgroup_procs.read_text().split()}
        except OSError:
            return set()
        return pids - {self._init_pid} - self._executor_pids() - self._session_pids

    def close(self) -> None:
        executor, self._executor = getattr(self, "_executor", None), None
        if executor is not None:
            executor.close()
        container, self.container = getattr(self, "container", None), None
        _LIVE.discard(self)
        if container is not None:
            with contextlib.suppress(Exception):  # already gone, or the daemon went away
                container.remove(force=True)
            workspace_access.hand_back(self.workspace, self.sandbox_user)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pump(sock: socket.socket, capture: OutputCapture, deadline: float) -> bool:
    """Demultiplex Docker's stream (8-byte frame headers) into the capture. True when the deadline passed."""
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        readable, _, _ = select.select([sock], [], [], remaining)
        if not readable:
            return True
        chunk = sock.recv(1 << 16)
        if not chunk:
            return False
        buffer += chunk
        while len(buffer) >= 8:
            kind, size = struct.unpack(">BxxxL", buffer[:8])
            if len(buffer) < 8 + size:
                break
            if capture.add(STDERR if kind == 2 else 1, buffer[8:8 + size]):
                return False
            buffer = buffer[8 + size:]


def _exit_code(api: Any, exec_id: str) -> int:
    for _ in range(100):
        info = api.exec_inspect(exec_id)
        if not info["Running"] and info["ExitCode"] is not None:
            return int(info["ExitCode"])
        time.sleep(0.01)
    return 128 + signal.SIGKILL


def _failure(exit_code: int, timed_out: bool, capture: OutputCapture, oom: bool,
             quota: QuotaWatch) -> FailureReason | None:
    if quota.exceeded is not None:
        return "quota"
    if timed_out or exit_code == 128 + signal.SIGXCPU:
        return "timeout"
    if capture.flooded:
        return "output_limit"
    if oom or (exit_code != 0 and "MemoryError" in capture.text(STDERR)[-2000:]):
        return "memory"
    if exit_code == 128 + signal.SIGKILL:
        return "killed"
    return None


def _cgroup_file(container_id: str, what: str) -> Path | None:
    """The container's cgroup file on this host that counts OOM kills ("memory") or lists its processes
    ("pids"), for cgroup v1 and v2 layouts; None where it cannot be found (a remote engine, say)."""
    v2 = {"memory": "memory.events", "pids": "cgroup.procs"}[what]
    v1 = {"memory": "memory/docker/{}/memory.oom_control", "pids": "pids/docker/{}/cgroup.procs"}[what]
    for candidate in (f"/sys/fs/cgroup/{v1.format(container_id)}",
                      f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/{v2}",
                      f"/sys/fs/cgroup/docker/{container_id}/{v2}"):
        if os.path.exists(candidate):
            return Path(candidate)
    return None


def _oom_kills(path: Path | None) -> int:
    if path is None:
        return 0
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return 0


def remove_orphans(client: docker.DockerClient) -> None:
    """Remove sandbox containers whose agent process on this host is gone (it was SIGKILLed)."""
    host = socket.gethostname()
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}.host={host}"}):
        pid = int(container.labels.get(f"{LABEL}.pid", "0"))
        if pid and not _alive(pid):
            with contextlib.suppress(Exception):
                container.remove(force=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_all() -> None:
    for sandbox in list(_LIVE):
        sandbox.close()


def _install_exit_hooks() -> None:
    """Remove live containers at exit; turn SIGTERM into a normal exit so that atexit runs."""
    global _hooks_installed
    with _HOOKS_LOCK:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(close_all)
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
