"""A run's events as server-sent events: its log read from the start, then tailed as it grows.

Tailing the log (rather than listening to the Agent) means a run another process drives (`autogpt run`,
`autogpt resume`) streams the same way as one started from the page. Messages:
  event  {seq, ts, event, view}   one log line, in order; `id` is its 1-based line number
  status {state, here, approval, text, error}   whenever it changes
  end    {}                       the run has ended and everything was sent
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from agent.cli.web.views import RunViewer
from agent.events import RunFinished, event_from_dict, event_to_dict
from agent.store import EVENTS_FILE

POLL_S = 0.2
MAX_READ = 4 * 1024 * 1024  # bytes read per poll; a longer backlog comes over several polls
ACTIVE_STATES = ("running", "stopping", "awaiting_approval")


class LogTail:
    """Reads the complete lines appended to a JSONL log since the last read (a half-written one waits)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def read(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(MAX_READ)
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return [line for line in data[:end].split(b"\n") if line.strip()]


def parse_record(line: bytes) -> dict[str, Any] | None:
    """One log line as a record, or None when it is not a valid event (shown as damaged, not fatal)."""
    try:
        record = json.loads(line)
        event_from_dict(record)
    except (ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


async def run_events(folder: Path, after: int, live_status: Callable[[], dict[str, Any] | None],
                     closing: Callable[[], bool] = lambda: False,
                     poll_s: float = POLL_S) -> AsyncIterator[dict[str, Any]]:
    """The messages for one run's page; `after` skips lines the page already has (Last-Event-ID).
    Ends after the run's end, or when `closing()` (the server shuts down)."""
    tail, viewer = LogTail(folder / EVENTS_FILE), RunViewer()
    seq, ended, last_status = 0, False, None
    while not closing():
        for line in tail.read():
            seq += 1
            record = parse_record(line)
            if record is None:
                if seq > after:
                    yield {"event": "damaged", "id": str(seq), "data": json.dumps({"seq": seq})}
                continue
            event = event_from_dict(record)
            view = viewer.view(event)  # every line goes through the viewer: diffs need earlier writes
            ended = ended or isinstance(event, RunFinished)
            if seq > after:
                data = {"seq": seq, "ts": record.get("ts"), "event": event_to_dict(event), "view": view}
                yield {"event": "event", "id": str(seq), "data": json.dumps(data, ensure_ascii=False)}
        status = live_status() or {"state": "ended" if ended else "interrupted", "here": False, "error": "",
                                   "text": "", "approval": None}
        if status != last_status:
            last_status = status
            yield {"event": "status", "data": json.dumps(status, ensure_ascii=False)}
        if ended and status["state"] not in ACTIVE_STATES:
            yield {"event": "end", "data": "{}"}
            return
        await asyncio.sleep(poll_s)
