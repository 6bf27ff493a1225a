"""A pool of Ray actors, each holding one loaded model: on a local Ray instance or an existing cluster.

Only `--ray` imports this module (and Ray). An actor runs one attempt at a time in a thread of its own and
keeps the attempt's messages; the driver long-polls them (`collect(after)`), which works the same through
Ray Client (`ray://`), where streaming generators are not available, and loses nothing when a reply is
lost: the next poll asks again from the same place. A dead actor is restarted by Ray (its constructor
loads the model again) or, when it cannot be, replaced; the goal's next attempt resumes its run.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from agent.scale.executor import Attempt, GoalExecutor, WorkerInfo, WorkerOptions
from agent.scale.pool import READY_SECONDS, PoolError, WorkerLost, WorkerPool
from agent.scale.relay import AttemptEnded, Message, Send

POLL_SECONDS = 1.0  # how long one collect() waits for news
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024  # messages are small; Ray's default would take 30% of RAM


@dataclass(frozen=True)
class RaySettings:
    address: str = ""  # "" starts a local instance; else `auto`, HOST:PORT or ray://HOST:PORT
    worker_cpus: float = 1.0
    worker_memory: int = 0  # bytes reserved per actor (0: no reservation)


class GoalActor:
    """The actor's class (made remote in `open_ray_pool`): a model, and at most one attempt running."""

    def __init__(self, options: WorkerOptions) -> None:
        import ray

        self._executor = GoalExecutor(options, node=ray.get_runtime_context().get_node_id())
        self._lock = threading.Condition()
        self._attempt: tuple[str, int] | None = None
        self._messages: list[Message] = []
        self._done = True

    def info(self) -> WorkerInfo:
        return self._executor.info()

    def begin(self, attempt: Attempt) -> None:
        """Start `attempt` in a thread; asking again for the attempt that is running changes nothing."""
        with self._lock:
            if self._attempt == (attempt.run_id, attempt.number):
                return
            if not self._done:
                raise RuntimeError(f"busy with run {self._attempt}")
            self._attempt, self._messages, self._done = (attempt.run_id, attempt.number), [], False
        threading.Thread(target=self._run, args=(attempt,), daemon=True, name="attempt").start()

    def collect(self, after: int, wait_s: float) -> list[Message]:
        """The attempt's messages from index `after` on, waiting up to `wait_s` for the first of them."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._messages) > after, timeout=wait_s)
            return self._messages[after:]

    def _run(self, attempt: Attempt) -> None:
        for message in self._executor.messages(attempt):
            with self._lock:
                self._messages.append(message)
                self._done = isinstance(message, AttemptEnded)
                self._lock.notify_all()


class RayWorker:
    """The driver's handle on one actor slot of the pool."""

    def __init__(self, actor_class: Any, options: WorkerOptions, settings: RaySettings) -> None:
        self._class, self._options, self._settings = actor_class, options, settings
        self.loads = 0
        self._pids: set[tuple[str, int]] = set()
        self._ran_on = 0  # the pid of the process that took the last attempt
        self._spawn()

    def _spawn(self) -> None:
        resources: dict[str, Any] = {"num_cpus": self._settings.worker_cpus}
        if self._settings.worker_memory:
            resources["memory"] = self._settings.worker_memory
        self.actor = self._class.options(max_restarts=-1, max_task_retries=0, max_concurrency=4,
                                         **resources).remote(self._options)

    def wait_ready(self) -> WorkerInfo:
        """The actor's info once it is up (through a restart); counts each process that loaded the model."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        try:
            info = ray.get(self.actor.info.options(max_task_retries=-1).remote(), timeout=READY_SECONDS)
        except GetTimeoutError:
            raise PoolError(f"a Ray actor was not up within {READY_SECONDS:g} s: the cluster may lack "
                            f"{self._settings.worker_cpus:g} free CPUs (or the memory asked) for it") from None
        except RayActorError as exc:
            raise PoolError(f"a Ray actor could not start: {_first_line(exc)}") from None
        if (info.host, info.pid) not in self._pids:
            self._pids.add((info.host, info.pid))
            self.loads += 1
        self.info = info
        return info

    def run(self, attempt: Attempt, send: Send) -> AttemptEnded:
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        seen, self._ran_on = 0, self.info.pid
        while True:
            try:
                ray.get(self.actor.begin.remote(attempt))
                while True:
                    for message in ray.get(self.actor.collect.remote(seen, POLL_SECONDS)):
                        seen += 1
                        if isinstance(message, AttemptEnded):
                            return message
                        send(message)
            except ActorUnavailableError as exc:
                if not self._same_process():  # restarted: the attempt died with the old process
                    raise WorkerLost(f"Ray actor {self.info.name} died: {_first_line(exc)}") from None
            except RayActorError as exc:
                raise WorkerLost(f"Ray actor {self.info.name} died: {_first_line(exc)}") from None

    def _same_process(self) -> bool:
        """After an unavailable actor answers again: whether it is the process that ran the attempt."""
        try:
            return self.wait_ready().pid == self._ran_on
        except PoolError:
            return False

    def recover(self) -> None:
        """The restarted actor, or a new one when it cannot come back. A live actor that was unreachable
        is restarted too, so that the attempt it may still be running cannot race the next one."""
        import ray

        try:
            if self.wait_ready().pid == self._ran_on:
                ray.kill(self.actor, no_restart=False)
                self.wait_ready()
        except PoolError:
            self._spawn()
            self.wait_ready()

    def close(self) -> None:
        import ray

        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # already gone, or Ray shut down: nothing to close
            pass


def open_ray_pool(size: int, options: WorkerOptions, settings: RaySettings) -> WorkerPool:
    """Connect (or start a local instance), start `size` actors, and wait until each has loaded its model."""
    import ray

    owned = connect(settings, size)
    disconnect = ray.shutdown if owned else None
    if not options.threads:  # the model's threads are the CPUs Ray reserved for the actor
        threads = os.environ.get("AUTOGPT_THREADS") or max(1, int(settings.worker_cpus))
        options = replace(options, threads=int(threads))
    actor_class = ray.remote(GoalActor)
    workers: list[RayWorker] = []
    try:
        workers.extend(RayWorker(actor_class, options, settings) for _ in range(size))
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        WorkerPool(list(workers), on_close=disconnect).close()
        raise
    return WorkerPool(list(workers), on_close=disconnect, kind="Ray actors")


def connect(settings: RaySettings, size: int) -> bool:
    """Join Ray; True when this call connected (and so the pool disconnects at the end). A program that
    called `ray.init` itself keeps its connection."""
    import ray

    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if settings.address:
            _join(ray, settings.address, quiet)
            return True
        # "local": a new instance of our own, never a cluster that `ray start` left running on this machine
        cpus = max(os.cpu_count() or 1, int(size * settings.worker_cpus + 0.999))
        ray.init(address="local", num_cpus=cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 include_dashboard=False, **quiet)
        return True
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = settings.address or "a local Ray instance"
        raise PoolError(f"cannot start or reach {where}: {_first_line(exc)}") from None


CLIENT_ATTEMPTS = 3  # Ray Client's server starts a process per client; on a busy head that start can time out


def _join(ray: Any, address: str, options: dict[str, Any]) -> None:
    """`ray.init(address)`; a Ray Client connection whose server side failed to start is tried again."""
    for attempt in range(1, CLIENT_ATTEMPTS + 1):
        try:
            ray.init(address=address, **options)
            return
        except ConnectionError as exc:
            if not address.startswith("ray://") or "Initialization failure" not in str(exc) \
                    or attempt == CLIENT_ATTEMPTS:
                raise
            time.sleep(2.0 * attempt)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
