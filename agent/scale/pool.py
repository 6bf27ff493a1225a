"""Pools of workers on this machine: the model loaded once per worker, in this process or in worker
processes; `ray_pool` makes the same kind of pool out of Ray actors."""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Protocol

from agent.llm.base import ModelSetupError
from agent.scale.executor import Attempt, GoalExecutor, WorkerInfo, WorkerOptions
from agent.scale.relay import AttemptEnded, Send

READY_SECONDS = 600.0  # a worker's start: loading (on a first run, converting) the model


class WorkerLost(Exception):
    """The worker died (or became unreachable) while it ran an attempt; what it relayed is kept."""


class PoolError(RuntimeError):
    """The pool cannot start or replace its workers; the message says why (a model that does not load...)."""


class Worker(Protocol):
    info: WorkerInfo
    loads: int  # times this worker loaded the model (restarts included)

    def run(self, attempt: Attempt, send: Send) -> AttemptEnded:
        """Run one attempt, sending its messages as they come; WorkerLost when the worker dies meanwhile."""
        ...

    def recover(self) -> None:
        """After WorkerLost: a working worker again (restarted, or replaced), or PoolError."""
        ...

    def close(self) -> None: ...


class InProcessWorker:
    """The model in this process: one worker, nothing to lose but the process itself."""

    def __init__(self, options: WorkerOptions) -> None:
        self._executor = GoalExecutor(options)
        self.info = self._executor.info()
        self.loads = 1

    def run(self, attempt: Attempt, send: Send) -> AttemptEnded:
        return relay(self._executor.messages(attempt), send)

    def recover(self) -> None:
        pass

    def close(self) -> None:
        pass


def relay(messages: Iterator, send: Send) -> AttemptEnded:
    for message in messages:
        if isinstance(message, AttemptEnded):
            return message
        send(message)
    raise WorkerLost("the worker stopped before the attempt ended")


class ProcessWorker:
    """A worker process on this machine (spawned, so that it shares no state with the driver)."""

    def __init__(self, options: WorkerOptions) -> None:
        self._options = options
        self.loads = 0
        self._spawn()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, self._options), daemon=True,
                                        name="autogpt-worker")
        self._process.start()
        child.close()

    def wait_ready(self) -> None:
        if not self._conn.poll(READY_SECONDS):
            raise PoolError(f"a worker process did not load the model within {READY_SECONDS:g} s")
        try:
            reply = self._conn.recv()
        except (EOFError, OSError):
            raise PoolError(f"a worker process exited while loading the model (code "
                            f"{self._process.exitcode})") from None
        if isinstance(reply, str):
            raise PoolError(reply)
        self.info, self.loads = reply, self.loads + 1

    def run(self, attempt: Attempt, send: Send) -> AttemptEnded:
        try:
            self._conn.send(attempt)
            while True:
                message = self._conn.recv()
                if isinstance(message, AttemptEnded):
                    return message
                send(message)
        except (EOFError, OSError):
            self._process.join(timeout=10)
            raise WorkerLost(f"worker {self.info.name} exited (code {self._process.exitcode})") from None

    def recover(self) -> None:
        self.close()
        self._spawn()
        self.wait_ready()

    def close(self) -> None:
        self._conn.close()
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=10)


def serve(conn: Connection, options: WorkerOptions) -> None:
    """A worker process's main: load the model, say so, then run the attempts the driver sends."""
    try:
        executor = GoalExecutor(options)
    except Exception as exc:  # the driver shows it as the reason the pool cannot start
        conn.send(f"a worker could not load model {options.model!r}: {exc}")
        return
    conn.send(executor.info())
    while True:
        try:
            attempt = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        for message in executor.messages(attempt):
            conn.send(message)


@dataclass
class WorkerPool:
    """Workers handed out one goal at a time (`with pool.worker() as w`)."""

    workers: list[Worker]
    on_close: Callable[[], None] | None = None
    kind: str = "worker processes"  # what the workers are, for people: "Ray actors", ...

    def __post_init__(self) -> None:
        self.closed = False  # set first when closing: a worker lost after that is not replaced
        self._idle: queue.Queue[Worker] = queue.Queue()
        for worker in self.workers:
            self._idle.put(worker)

    @property
    def size(self) -> int:
        return len(self.workers)

    @property
    def loads(self) -> int:
        return sum(worker.loads for worker in self.workers)

    @contextmanager
    def worker(self) -> Iterator[Worker]:
        worker = self._idle.get()
        try:
            yield worker
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        self.closed = True
        for worker in self.workers:
            worker.close()
        if self.on_close is not None:
            self.on_close()


def open_local_pool(size: int, options: WorkerOptions) -> WorkerPool:
    """One worker in this process, or `size` worker processes loading their models at the same time."""
    if size == 1:
        try:
            return WorkerPool([InProcessWorker(options)], kind="worker in this process")
        except ModelSetupError as exc:
            raise PoolError(str(exc)) from None
    if not options.threads and "AUTOGPT_THREADS" not in os.environ:  # share the cores, one spare
        options = replace(options, threads=max(1, ((os.cpu_count() or 1) - 1) // size))
    workers = [ProcessWorker(options) for _ in range(size)]
    pool = WorkerPool(list(workers))
    try:
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        pool.close()
        raise
    return pool
