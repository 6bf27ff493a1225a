"""The run store: one folder per run with its goal, config, an append-only event log and the result.

The log is JSONL, flushed and fsync'd as each event happens, so a killed process loses at most the line
it was writing; a torn last line is detected on read and cut off before the run is appended to again.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.events import Event, event_from_dict, event_to_dict

EVENTS_FILE = "events.jsonl"
META_FILE = "run.json"
RESULT_FILE = "result.json"


def default_runs_dir() -> Path:
    home = os.environ.get("AUTOGPT_HOME") or os.path.join(Path.home(), ".autogpt")
    return Path(home) / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class RunLog:
    """What a run's folder holds, read back from disk."""

    run_id: str
    meta: dict[str, Any]
    events: list[Event]
    result: dict[str, Any] | None
    torn_tail: bool
    timestamps: list[float]

    @property
    def elapsed_s(self) -> float:
        """Wall time the run has spent so far, first event to last."""
        return self.timestamps[-1] - self.timestamps[0] if len(self.timestamps) > 1 else 0.0


class RunWriter:
    """Appends a run's events to its log, durably, one line per event."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run's lifetime

    def append(self, event: Event, ts: float | None = None) -> None:
        """`ts`: when the event happened, if not now (an event recorded elsewhere first and copied here)."""
        record = {**event_to_dict(event), "ts": round(time.time() if ts is None else ts, 3)}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


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
        """Open an existing run for appending, first cutting off a torn last line if there is one."""
        path = self.folder(run_id) / EVENTS_FILE
        _cut_torn_tail(path)
        return RunWriter(path)

    def write_result(self, run_id: str, result: dict[str, Any]) -> None:
        _write_json(self.folder(run_id) / RESULT_FILE, result)

    def exists(self, run_id: str) -> bool:
        return (self.folder(run_id) / META_FILE).is_file()

    def load(self, run_id: str) -> RunLog:
        folder = self.folder(run_id)
        if not (folder / META_FILE).is_file():
            raise FileNotFoundError(f"no run {run_id!r} in {self.runs_dir}")
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        records, torn = read_records(folder / EVENTS_FILE)
        result_path = folder / RESULT_FILE
        result = json.loads(result_path.read_text(encoding="utf-8")) if result_path.is_file() else None
        events = [event_from_dict(r) for r in records]
        return RunLog(run_id, meta, events, result, torn, [float(r.get("ts", 0.0)) for r in records])

    def list_ids(self) -> list[str]:
        """Run ids, newest first."""
        if not self.runs_dir.is_dir():
            return []
        ids = [p.name for p in self.runs_dir.iterdir() if (p / META_FILE).is_file()]
        return sorted(ids, key=lambda i: (self.folder(i) / META_FILE).stat().st_mtime_ns, reverse=True)


def read_records(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """Parse a JSONL event log. A last line without its newline (a torn write) is skipped and reported."""
    if not path.is_file():
        return [], False
    data = path.read_bytes()
    torn = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    if torn:
        lines = lines[:-1]
    records = []
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            event_from_dict(record)
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: line {index + 1} is not a valid event") from None
        records.append(record)
    return records, torn


def _cut_torn_tail(path: Path) -> None:
    data = path.read_bytes() if path.is_file() else b""
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
