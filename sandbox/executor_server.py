"""The executor server: runs inside a sandbox (never on the host), one request per line on stdin.

sandbox/executor.py starts it as `python3 -I -S -u -c <this file's source>` and speaks its protocol. Per
request it forks the command in its own session with the call's rlimits, streams the output back in frames
(1 byte kind: r = ready, o = stdout, e = stderr, x = exit JSON; 4 bytes big-endian length; payload), enforces
the timeout and the flood limit, and kills every other process it can see before it answers. That is why it
must only ever run in its own PID namespace. Only the standard library: it runs on the sandbox's Python.

A request with "persist" runs in a long-lived process instead (`Persistent`: the Python session,
sandbox/python_session.py), started by the first such request and spared by the kill between calls; the
request's "input" goes to that process, whose reply on its fd 4 ends the call.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import select
import signal
import struct
import sys
import time

CHILD_EXIT_FAILED = 127  # the command could not be started
REQUEST_FAILED = 126  # the server could not run the request at all (e.g. no pid left to fork)
INTERRUPT_GRACE_S = 2.0  # after SIGINT, how long a persistent process has to stop the call and answer


class Server:
    """The server's state: its output stream, the exit statuses reaped so far, and the SIGCHLD wake-up pipe."""

    def __init__(self, out) -> None:
        self.out = out
        self.statuses: dict[int, int] = {}
        self.persistent: Persistent | None = None
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)

    def send(self, kind: bytes, data: bytes) -> None:
        self.out.write(struct.pack(">cI", kind, len(data)) + data)
        self.out.flush()

    def reap(self) -> None:
        try:
            while True:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    return
                self.statuses[pid] = status
                if self.persistent is not None and pid == self.persistent.pid:
                    self.persistent.status = status
        except ChildProcessError:
            pass

    def kill_others(self) -> None:
        """Kill every process in this PID namespace but PID 1, the server itself and the persistent process,
        until none is left (but the persistent process's dead children, which are its own to reap)."""
        persistent = self.persistent.pid if self.persistent and self.persistent.alive else 0
        spared = (1, os.getpid(), persistent)
        for _ in range(2000):
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in spared
                    and not (persistent and _dead_child_of(int(p), persistent))]
            if not pids:
                return
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            self.reap()
            time.sleep(0.001)

    def run(self, req: dict) -> None:
        """One call: fork the command, stream its output, then report its exit code and why it stopped."""
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        pid = os.fork()
        if pid == 0:
            start_command(req, {1: w1, 2: w2})
        os.close(w1), os.close(w2)
        fds = {r1: b"o", r2: b"e"}
        deadline = time.monotonic() + req["timeout"]
        total, status, reason = 0, None, None
        while status is None or fds:
            if status is None:
                self.reap()
                status = self.statuses.pop(pid, None)
                if status is not None:
                    self.kill_others()  # background processes would hold the pipes open
                    continue
            left = deadline - time.monotonic()
            if left <= 0:
                reason = "timeout"
                break
            ready = select.select(list(fds) + [self.wake_r], [], [], left)[0]
            for fd in ready:
                if fd == self.wake_r:
                    os.read(self.wake_r, 4096)
                    continue
                data = os.read(fd, 65536)
                if not data:
                    del fds[fd]
                    os.close(fd)
                    continue
                total += len(data)
                self.send(fds[fd], data)
            if total > req["flood"]:
                reason = "flood"
                break
        self.kill_others()
        for fd in fds:
            os.close(fd)
        self.reap()
        status = self.statuses.pop(pid, status)
        self.statuses.clear()
        if status is None:  # not seen to exit (cannot happen once kill_others returns): report a kill
            status = signal.SIGKILL
        self.send(b"x", json.dumps({"code": os.waitstatus_to_exitcode(status), "reason": reason}).encode())

    def run_persistent(self, req: dict) -> None:
        """One call in the persistent process: send it the input, stream its output until it answers.

        At the deadline or a flood it gets SIGINT and a grace period to answer; then it is killed (its
        state is lost). The exit frame says whether this call started the process and whether it lives on.
        """
        started = self.persistent is None or not self.persistent.alive or self.persistent.argv != req["argv"]
        if started:
            self.stop_persistent()
            self.persistent = Persistent.start(req)
        proc = self.persistent
        proc.wake()
        proc.send(req["input"].encode())
        fds = {proc.stdout: b"o", proc.stderr: b"e", proc.replies: b"x"}
        deadline, total, reason, answer = time.monotonic() + req["timeout"], 0, None, b""
        while proc.alive and not proc.answered(answer):
            left = deadline - time.monotonic()
            if left <= 0 or (total > req["flood"] and reason is None):
                if reason is not None:  # the interrupt did not stop it in time
                    proc.kill()
                    break
                reason = "timeout" if left <= 0 else "flood"
                proc.interrupt()
                deadline = time.monotonic() + INTERRUPT_GRACE_S
                continue
            for fd in select.select(list(fds) + [self.wake_r], [], [], left)[0]:
                data = os.read(fd, 65536)
                if fd == self.wake_r:
                    self.reap()
                elif not data:  # its end of the pipe closed: it is gone, or going
                    del fds[fd]
                    if fd == proc.replies:
                        proc.kill()
                elif fd == proc.replies:
                    answer += data
                elif total <= req["flood"]:
                    total += len(data)
                    self.send(fds[fd], data)
        self.forward_rest(proc, req["flood"] - total)
        self.kill_others()
        self.reap()
        self.statuses.clear()
        code = proc.exit_code(answer)
        proc.pause()
        self.send(b"x", json.dumps({"code": code, "reason": reason, "session": {
            "started": started, "kept": proc.alive, "pid": proc.pid, "status": proc.describe()}}).encode())

    def forward_rest(self, proc: Persistent, room: int) -> None:
        """Output the process wrote before it answered (its pipes may still hold some)."""
        while room > 0 and (ready := select.select([proc.stdout, proc.stderr], [], [], 0)[0]):
            for fd in ready:
                data = os.read(fd, min(room, 65536))
                if not data:
                    return
                room -= len(data)
                self.send(b"o" if fd == proc.stdout else b"e", data)

    def stop_persistent(self) -> None:
        if self.persistent is not None:
            self.persistent.kill()
            self.persistent.close()
            self.persistent = None

    def serve(self, requests) -> None:
        self.send(b"r", b"")
        for line in requests:
            req: dict = {}
            try:
                req = json.loads(line)
                self.run_persistent(req) if req.get("persist") else self.run(req)
            except Exception as e:  # e.g. no pid left to fork: report it as the call's result and carry on
                self.kill_others()
                self.send(b"e", f"sandbox: {e}\n".encode())
                result: dict = {"code": REQUEST_FAILED, "reason": None}
                if isinstance(req, dict) and req.get("persist"):
                    alive = self.persistent is not None and self.persistent.alive
                    pid = self.persistent.pid if alive else 0  # type: ignore[union-attr]
                    result["session"] = {"started": not alive, "kept": alive, "pid": pid, "status": f"{e}"}
                self.send(b"x", json.dumps(result).encode())


def _dead_child_of(pid: int, parent: int) -> bool:
    """Whether `pid` is a zombie child of `parent` (/proc/PID/stat: "pid (name) state ppid ...")."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[:1] == [b"Z"] and fields[1:2] == [str(parent).encode()]


class Persistent:
    """A process that outlives calls: started once, sent one input per call, answering on its fd 4."""

    def __init__(self, pid: int, argv: list, requests: int, replies: int, stdout: int, stderr: int) -> None:
        self.pid, self.argv = pid, argv
        self.requests, self.replies, self.stdout, self.stderr = requests, replies, stdout, stderr
        self.status: int | None = None  # set when it was reaped

    @classmethod
    def start(cls, req: dict) -> Persistent:
        pipes = [os.pipe() for _ in range(4)]  # requests, replies, stdout, stderr
        pid = os.fork()
        if pid == 0:  # the per-call CPU limit is the process's own to set: RLIMIT_CPU counts its whole life
            start_command(req, {1: pipes[2][1], 2: pipes[3][1], 3: pipes[0][0], 4: pipes[1][1]},
                          skip_limits=("RLIMIT_CPU",))
        for fd in (pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]):
            os.close(fd)
        return cls(pid, req["argv"], pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0])

    @property
    def alive(self) -> bool:
        return self.status is None

    def send(self, data: bytes) -> None:
        message = struct.pack(">I", len(data)) + data
        try:
            while message:
                message = message[os.write(self.requests, message):]
        except OSError:  # it is gone: the call ends with its exit status
            pass

    def answered(self, answer: bytes) -> bool:
        return len(answer) >= 4 and len(answer) >= 4 + struct.unpack(">I", answer[:4])[0]

    def exit_code(self, answer: bytes) -> int:
        if self.answered(answer):
            try:
                return int(json.loads(answer[4:])["exit"])
            except (ValueError, KeyError, TypeError):
                return REQUEST_FAILED
        self.kill()  # it did not answer: whatever it is doing, it is not a session to keep
        return os.waitstatus_to_exitcode(self.status) if self.status is not None else -signal.SIGKILL

    def describe(self) -> str:
        if self.status is None:
            return ""
        code = os.waitstatus_to_exitcode(self.status)
        return f"killed by signal {-code}" if code < 0 else f"exited with code {code}"

    def pause(self) -> None:
        """Stopped between calls: nothing the code left behind in it (a thread, a timer) runs meanwhile."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGSTOP)
            except OSError:
                pass

    def wake(self) -> None:
        try:
            os.kill(self.pid, signal.SIGCONT)
        except OSError:
            pass

    def interrupt(self) -> None:
        try:
            os.kill(self.pid, signal.SIGINT)
        except OSError:
            pass

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                self.status = os.waitpid(self.pid, 0)[1]
            except ChildProcessError:  # reaped already (by a server that lost track of it)
                self.status = signal.SIGKILL
            except OSError:
                pass

    def close(self) -> None:
        for fd in (self.requests, self.replies, self.stdout, self.stderr):
            try:
                os.close(fd)
            except OSError:
                pass


def start_command(req: dict, fds: dict[int, int], skip_limits: tuple[str, ...] = ()) -> None:
    """In the forked child: its own session, `fds` (target -> ours) in place of stdin/stdout/..., the call's
    rlimits (but `skip_limits`), then exec. Never returns."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        moved = {target: fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for target, fd in fds.items()}  # out of the way
        os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
        for target, fd in moved.items():
            os.dup2(fd, target)
        os.closerange(max(moved) + 1, 65536)
        for name, value in req.get("rlimits", {}).items():
            if name in skip_limits:
                continue
            limit = getattr(resource, name)
            hard = resource.getrlimit(limit)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))
        os.chdir(req["cwd"])
        os.execvpe(req["argv"][0], req["argv"], {**os.environ, **req["env"]})
    except BaseException as e:  # whatever happens here, this child never returns into the server's loop
        try:
            os.write(2, f"sandbox: {req['argv'][0]}: {getattr(e, 'strerror', e)}\n".encode())
        finally:
            os._exit(CHILD_EXIT_FAILED)


def make_undumpable() -> None:
    """PR_SET_DUMPABLE 0: the code this server runs (same uid, no capabilities) can then neither trace it
    nor open its /proc/PID/mem or fds, so it cannot take over the one process that outlives its calls.
    The commands it execs are dumpable again (exec resets it). Fails closed: no server without it."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0)")


def main() -> None:
    make_undumpable()
    Server(sys.stdout.buffer).serve(sys.stdin.buffer)


if __name__ == "__main__":
    main()
