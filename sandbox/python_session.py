"""The Python session: one interpreter inside the sandbox that keeps its state (variables, imports,
functions) from one run_python call to the next, as a notebook kernel or a REPL does.

The executor server (sandbox/executor_server.py) starts this program as `python3 -u -c <this file's source>`
(WORKER_ARGV) the first time a call needs it, spares it when it kills what a call left behind, and sends it
one request per call. The server keeps each call's limits: on the time limit or an output flood it sends
SIGINT (a KeyboardInterrupt in the code: the state is kept), and kills the interpreter when that does not
stop it (the state is lost, and the call says so). Memory is capped for the interpreter as a whole (the
state is memory), and every other process a call starts still dies when the call ends.

Protocol, besides the call's own stdout and stderr: requests arrive on fd 3, replies leave on fd 4, each a
4-byte big-endian length and a JSON object: in {"code": str, "cwd": str, "cpu_seconds": int}, out
{"exit": int}. Code runs as `python3 -c` would run it (in `__main__`, in `cwd`, which is first on
sys.path; a traceback and exit code 1 for an uncaught exception, `sys.exit(n)` for exit code n), and a
module imported from the workspace is imported afresh once its file has changed. Only the standard
library: this runs on the sandbox's Python.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import resource
import signal
import struct
import sys
import traceback
import types
from pathlib import Path

REQUESTS, REPLIES = 3, 4
INTERRUPTED_EXIT = 128 + signal.SIGINT

WORKER_SOURCE = Path(__file__).read_text(encoding="utf-8") if __name__ != "__main__" else ""
WORKER_ARGV = ["python3", "-u", "-c", WORKER_SOURCE]


class Session:
    def __init__(self) -> None:
        # The code's own __main__ (pickle and friends find its classes there), apart from this program's.
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = main
        self.namespace = main.__dict__
        self.pid = os.getpid()
        self._workspace_modules: dict[str, tuple[str, int, int]] = {}  # name -> (file, mtime_ns, size)

    def run(self, code: str, cwd: str, cpu_seconds: int | None) -> int:
        """Run one call's code in the session's namespace, from `cwd`; its exit code."""
        try:
            os.chdir(cwd)  # every call starts where `python3 -c` would, whatever the last one did
        except OSError as exc:
            print(f"sandbox: cannot enter {cwd}: {exc.strerror}", file=sys.stderr)
            return 1
        _reap_children()
        self._forget_changed_modules()
        _limit_cpu(cpu_seconds)
        failure: BaseException | None = None
        try:
            compiled = compile(code, "<string>", "exec", dont_inherit=True)
            _discard_pending_interrupt()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            exec(compiled, self.namespace)
        except BaseException as exc:  # what `python3 -c` would report; the session lives on
            failure = exc
        failure = _block_interrupts() or failure
        if os.getpid() != self.pid:  # the code forked and this is the child: it must not answer the server
            os._exit(0)
        code = _report(failure)
        self._remember_workspace_modules(cwd)
        return code

    def _forget_changed_modules(self) -> None:
        """Modules imported from the workspace whose file changed (or went) are imported afresh next time."""
        importlib.invalidate_caches()
        for name, (file, mtime, size) in list(self._workspace_modules.items()):
            if _file_stamp(file) != (mtime, size):
                sys.modules.pop(name, None)
                del self._workspace_modules[name]

    def _remember_workspace_modules(self, workspace: str) -> None:
        workspace = os.path.abspath(workspace) + os.sep
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and name not in self._workspace_modules:
                file = os.path.abspath(file)
                stamp = _file_stamp(file)
                if file.startswith(workspace) and stamp is not None:
                    self._workspace_modules[name] = (file, *stamp)


def _report(failure: BaseException | None) -> int:
    """Print an uncaught exception as `python3 -c` does; the exit code it would give."""
    try:
        if failure is None:
            return 0
        if isinstance(failure, SystemExit):
            if failure.code is None or isinstance(failure.code, int):
                return (failure.code or 0) & 0xFF
            print(failure.code, file=sys.stderr)
            return 1
        frames = failure.__traceback__.tb_next if failure.__traceback__ else None  # skip Session.run's own
        traceback.print_exception(type(failure), failure, frames)
        return INTERRUPTED_EXIT if isinstance(failure, KeyboardInterrupt) else 1
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:  # the code replaced or closed a stream: what was written is written
                pass


def _reap_children() -> None:
    """Collect the children the server killed after the last call (processes the code started)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _file_stamp(file: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(file)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _limit_cpu(seconds: int | None) -> None:
    """This call's CPU time: `seconds` more than the session has used (RLIMIT_CPU counts a process's life)."""
    if not seconds:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + 1 + seconds
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    except (ValueError, OSError):
        pass


def _discard_pending_interrupt() -> None:
    """An interrupt meant for the last call (sent just as it ended) must not stop this one."""
    while signal.sigtimedwait({signal.SIGINT}, 0) is not None:
        pass


def _block_interrupts() -> BaseException | None:
    """Stop SIGINT from reaching the session between calls; a KeyboardInterrupt that lands meanwhile is
    this call's, and is returned."""
    caught = None
    while True:
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            return caught
        except KeyboardInterrupt as exc:
            caught = exc


def _read_exactly(size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(REQUESTS, size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def serve() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    session = Session()
    while True:
        header = _read_exactly(4)
        if not header:
            return
        request = json.loads(_read_exactly(struct.unpack(">I", header)[0]))
        code = session.run(request["code"], request["cwd"], request.get("cpu_seconds"))
        reply = json.dumps({"exit": code}).encode()
        os.write(REPLIES, struct.pack(">I", len(reply)) + reply)


if __name__ == "__main__":
    serve()
