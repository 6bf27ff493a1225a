"""The executor server: runs inside a sandbox (never on the host), one request per line on stdin.

sandbox/executor.py starts it as `python3 -I -S -u -c <this file's source>` and speaks its protocol. Per
request it forks the command in its own session with the call's rlimits, streams the output back in frames
(1 byte kind: r = ready, o = stdout, e = stderr, x = exit JSON; 4 bytes big-endian length; payload), enforces
the timeout and the flood limit, and kills every other process it can see before it answers. That is why it
must only ever run in its own PID namespace. Only the standard library: it runs on the sandbox's Python.
"""

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


class Server:
    """The server's state: its output stream, the exit statuses reaped so far, and the SIGCHLD wake-up pipe."""

    def __init__(self, out) -> None:
        self.out = out
        self.statuses: dict[int, int] = {}
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
        except ChildProcessError:
            pass

    def kill_others(self) -> None:
        """Kill every process in this PID namespace but PID 1 and the server itself, until none is left."""
        me = os.getpid()
        for _ in range(2000):
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
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
            start_command(req, w1, w2)
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

    def serve(self, requests) -> None:
        self.send(b"r", b"")
        for line in requests:
            try:
                self.run(json.loads(line))
            except Exception as e:  # e.g. no pid left to fork: report it as the call's result and carry on
                self.kill_others()
                self.send(b"e", f"sandbox: {e}\n".encode())
                self.send(b"x", json.dumps({"code": REQUEST_FAILED, "reason": None}).encode())


def start_command(req: dict, stdout_fd: int, stderr_fd: int) -> None:
    """In the forked child: its own session, the call's rlimits, then exec. Never returns."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0), os.dup2(stdout_fd, 1), os.dup2(stderr_fd, 2)
        os.closerange(3, 65536)
        for name, value in req.get("rlimits", {}).items():
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
