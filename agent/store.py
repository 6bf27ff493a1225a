"""The run store: one folder per run with its goal, config, an append-only event log and the result.

The log is JSONL, flushed and fsync'd as each event happens, so a killed process loses at most the line
it was writing; a torn last line is detected on read and cut off before the run is appended to again.
A damaged line elsewhere (a disk error, a hand edit) is skipped and reported with its line number, so
the rest of the run can still be read. While a process appends to a run it holds a lock on the log:
that is how a run in progress is told from an interrupted one (the lock dies with the process).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import SetupError
from agent.events import Event, event_from_dict, event_to_dict

EVENTS_FILE = "events.jsonl"
META_FILE = "run.json"
RESULT_FILE = "result.json"


class RunIdError(LookupError):
    """An id (or id prefix) that names no run, or more than one."""


def default_runs_dir() -> Path:
    home = os.environ.get("AUTOGPT_HOME") or os.path.join(Path.home(), ".autogpt")
    return Path(home) / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class LogRecords:
    """An event log as read: the valid records, whether the last line was torn, and what was skipped."""

    records: list[dict[str, Any]]
    torn_tail: bool = False
    damaged_lines: tuple[int, ...] = ()  # 1-based numbers of lines that are not valid events


@dataclass
class RunLog:
    """What a run's folder holds, read back from disk."""

    run_id: str
    meta: dict[str, Any]
    events: list[Event]
    result: dict[str, Any] | None
    torn_tail: bool
    timestamps: list[float]
    problems: list[str] = field(default_factory=list)  # what could not be read, file and line named

    @property
    def elapsed_s(self) -> float:
        """Wall time the run has spent so far, first event to last."""
        return self.timestamps[-1] - self.timestamps[0] if len(self.timestamps) > 1 else 0.0

    @property
    def damaged(self) -> bool:
        return bool(self.problems)


class RunWriter:
    """Appends a run's events to its log, durably, one line per event; holds the run's lock meanwhile."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise SetupError(f"run {path.parent.name} is in progress in another process") from None

    def append(self, event: Event, ts: float | None = None) -> None:
        """`ts`: when the event happened, if not now (an event recorded elsewhere first and copied here)."""
        record = {**event_to_dict(event), "ts": round(time.time() if ts is None else ts, 3)}
        self._file.write(json_text(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def json_text(data: dict[str, Any], indent: int | None = None) -> str:
    """`data` as JSON: UTF-8 as it is, or escaped where it holds no character (a lone surrogate)."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, indent=indent)
    return text


class RunStore:
    def __init__(self, runs_dir: Path | None = None) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()

    def folder(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def create(self, run_id: str, meta: dict[str, Any]) -> RunWriter:
        folder = self.folder(run_id)
        folder.mkdir(parents=True, exist_ok=False)
        _write_json(folder / META_FILE, meta)
        return RunWriter(folder / EVENTS_FILE)

    def reopen(self, run_id: str) -> RunWriter:
        """Open an existing run for appending, first cutting off a torn last line if there is one.

        A log with a damaged line is not appended to: a resumed run would act on a history with a hole."""
        path = self.folder(run_id) / EVENTS_FILE
        damaged = read_log(path).damaged_lines
        if damaged:
            raise SetupError(f"run {run_id} cannot be continued: {_damage(damaged)}")
        writer = RunWriter(path)
        _cut_torn_tail(path)
        return writer

    def append(self, run_id: str, event: Event) -> None:
        """Add one event to the log of a run that is not in progress (why it stopped, say)."""
        writer = self.reopen(run_id)
        try:
            writer.append(event)
        finally:
            writer.close()

    def write_result(self, run_id: str, result: dict[str, Any]) -> None:
        _write_json(self.folder(run_id) / RESULT_FILE, result)

    def exists(self, run_id: str) -> bool:
        return (self.folder(run_id) / META_FILE).is_file()

    def resolve(self, wanted: str) -> str:
        """The id of the one run whose id is `wanted` or starts with it; RunIdError otherwise."""
        if wanted and self.exists(wanted) and Path(wanted).name == wanted:
            return wanted
        matches = [i for i in self.list_ids() if wanted and i.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunIdError(f"no run {wanted!r} in {self.runs_dir} (`autogpt runs list` shows the ids)")
        shown = ", ".join(matches[:3]) + (", ..." if len(matches) > 3 else "")
        raise RunIdError(f"{wanted!r} matches {len(matches)} runs ({shown}); give more of the id")

    def is_running(self, run_id: str) -> bool:
        """True while a process appends to the run (it holds the log's lock)."""
        path = self.folder(run_id) / EVENTS_FILE
        try:
            with open(path, "rb") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False

    def remove(self, run_id: str) -> None:
        """Delete a run's folder; refused while the run is in progress."""
        if self.is_running(run_id):
            raise SetupError(f"run {run_id} is in progress; stop it before removing it")
        shutil.rmtree(self.folder(run_id))

    def load(self, run_id: str) -> RunLog:
        folder = self.folder(run_id)
        if not (folder / META_FILE).is_file():
            raise FileNotFoundError(f"no run {run_id!r} in {self.runs_dir}")
        problems: list[str] = []
        meta = _read_json(folder / META_FILE, problems) or {}
        log = read_log(folder / EVENTS_FILE)
        if log.damaged_lines:
            problems.append(_damage(log.damaged_lines))
        result = _read_json(folder / RESULT_FILE, problems)
        events = [event_from_dict(r) for r in log.records]
        return RunLog(run_id, meta, events, result, log.torn_tail, [float(r.get("ts", 0.0)) for r in log.records],
                      problems)

    def list_ids(self) -> list[str]:
        """Run ids, newest first."""
        if not self.runs_dir.is_dir():
            return []
        ids = [p.name for p in self.runs_dir.iterdir() if (p / META_FILE).is_file()]
        return sorted(ids, key=lambda i: (self.folder(i) / META_FILE).stat().st_mtime_ns, reverse=True)


def read_log(path: Path) -> LogRecords:
    """Parse a JSONL event log. A last line without its newline (a torn write) is skipped and reported;
    so is any other line that is not a valid event, by its number."""
    if not path.is_file():
        return LogRecords([])
    data = path.read_bytes()
    torn = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    if torn:
        lines = lines[:-1]
    records, damaged = [], []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            event_from_dict(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            damaged.append(number)
            continue
        records.append(record)
    return LogRecords(records, torn, tuple(damaged))


def read_records(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The valid records of a log and whether its last line was torn (see `read_log`)."""
    log = read_log(path)
    return log.records, log.torn_tail


def _damage(lines: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
    return f"{EVENTS_FILE} line{'s' if len(lines) > 1 else ''} {shown} {'are' if len(lines) > 1 else 'is'} " \
           "not a valid event (skipped)"


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        problems.append(f"{path.name} is not a JSON object (left out)")
        return None
    return data


def _cut_torn_tail(path: Path) -> None:
    data = path.read_bytes() if path.is_file() else b""
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json_text(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)
