"""A run's store writes as messages: recorded on the worker, sent to the driver, written there.

On the worker, the agent writes to a `RelayingStore`: a real run store in a scratch folder (the agent reads
its own log back when it resumes) that also hands every write to `send`. On the driver, a `StoreMirror`
applies those messages to the run store the user reads (`autogpt runs show`), with the worker's timestamps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.events import Event, event_from_dict, event_to_dict
from agent.result import RunResult
from agent.store import RunStore, RunWriter


@dataclass(frozen=True)
class RunCreated:
    run_id: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class EventRecorded:
    run_id: str
    record: dict[str, Any]  # the event as the log stores it, with its "ts"


@dataclass(frozen=True)
class ResultWritten:
    run_id: str
    result: dict[str, Any]


@dataclass(frozen=True)
class AttemptEnded:
    """The last message of an attempt: the run's result, or why the attempt could not run (`error`)."""

    run_id: str
    result: RunResult | None
    error: str = ""


Message = RunCreated | EventRecorded | ResultWritten | AttemptEnded
Send = Callable[[Message], None]


class RelayingWriter:
    """Appends to the scratch log and sends the same record, timestamp included."""

    def __init__(self, inner: RunWriter, run_id: str, send: Send) -> None:
        self._inner, self._run_id, self._send = inner, run_id, send

    def append(self, event: Event, ts: float | None = None) -> None:
        ts = round(time.time() if ts is None else ts, 3)
        self._inner.append(event, ts=ts)
        self._send(EventRecorded(self._run_id, {**event_to_dict(event), "ts": ts}))

    def close(self) -> None:
        self._inner.close()


class RelayingStore(RunStore):
    """A run store in a scratch folder whose every write is also sent to the driver."""

    def __init__(self, scratch: Path, send: Send) -> None:
        super().__init__(scratch)
        self._send = send

    def create(self, run_id: str, meta: dict[str, Any]) -> RunWriter:
        writer = super().create(run_id, meta)
        self._send(RunCreated(run_id, meta))
        return RelayingWriter(writer, run_id, self._send)  # type: ignore[return-value]

    def reopen(self, run_id: str) -> RunWriter:
        return RelayingWriter(super().reopen(run_id), run_id, self._send)  # type: ignore[return-value]

    def write_result(self, run_id: str, result: dict[str, Any]) -> None:
        super().write_result(run_id, result)
        self._send(ResultWritten(run_id, result))

    def scratch(self) -> RunStore:
        """The same folder as a plain store, whose writes are not sent (to seed a run being resumed)."""
        return RunStore(self.runs_dir)


def seed_run(store: RunStore, run_id: str, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write a run recorded elsewhere into `store` as it was (timestamps kept), so that it can be resumed."""
    writer = store.create(run_id, meta)
    try:
        for record in records:
            writer.append(event_from_dict(record), ts=float(record["ts"]))
    finally:
        writer.close()


class StoreMirror:
    """The driver's side: applies one run's messages to the run store, in the order they came."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._writers: dict[str, RunWriter] = {}

    def apply(self, message: Message) -> None:
        if isinstance(message, RunCreated):
            self._writers[message.run_id] = self.store.create(message.run_id, message.meta)
        elif isinstance(message, EventRecorded):
            writer = self._writers.get(message.run_id)
            if writer is None:  # a resumed run: its folder is here from an earlier attempt
                writer = self._writers[message.run_id] = self.store.reopen(message.run_id)
            writer.append(event_from_dict(message.record), ts=float(message.record["ts"]))
        elif isinstance(message, ResultWritten):
            self.store.write_result(message.run_id, message.result)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
