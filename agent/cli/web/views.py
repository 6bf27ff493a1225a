"""What the page shows for a run, computed from its log: the list's rows and one view per event.

Pure functions over the run store's records; every text that reaches the page as HTML is escaped and
neutralised by `display`. A view travels with the raw event it was made from, so the page gets the same
events the CLI prints plus what it needs to draw them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agent.approval import Preview, file_diff
from agent.cli.web.display import code_html, text_html
from agent.events import ActionChosen, ErrorEvent, Event, Observation, PlanUpdated, RunFinished, RunStarted
from agent.state import RunState
from agent.store import RunLog

HEAD_LINES = 12  # a long observation shows this many lines, the rest folded
FOLD_CHARS = 2_000
GOAL_CHARS = 140  # of a goal's first line, in the list


def summary_row(log: RunLog, *, live_status: str | None = None) -> dict[str, Any]:
    """One row of the runs list: the fields of `autogpt runs list --json`, plus `live`, `tokens` and
    `goal_html` (the goal's first line, as the list shows it)."""
    state = RunState.from_events(log.events)
    status = live_status or (state.final.status if state.final else "interrupted")
    goal = str(log.meta.get("goal", ""))
    line = goal.strip().split("\n", 1)[0]
    line = line if len(line) <= GOAL_CHARS else line[:GOAL_CHARS - 3] + "..."
    return {"id": log.run_id, "goal": goal, "status": status, "steps": state.step, "goal_html": text_html(line),
            "started": log.meta.get("started") or (log.timestamps[0] if log.timestamps else None),
            "duration_s": round(log.elapsed_s, 2), "answer": state.final.answer if state.final else "",
            "model": log.meta.get("model", ""), "live": live_status is not None,
            "tokens": state.tokens_in + state.tokens_out}


def matches(row: dict[str, Any], query: str) -> bool:
    """Whether a list row matches a search: every word appears in its id, goal, status, model or answer."""
    haystack = " ".join(str(row.get(k, "")) for k in ("id", "goal", "status", "model", "answer")).lower()
    return all(word in haystack for word in query.lower().split())


def preview_view(preview: Preview) -> dict[str, str]:
    """An approval preview (agent.approval.preview_action) as the page shows it."""
    return {"title_html": text_html(preview.title), "body_html": code_html(preview.body, preview.syntax),
            "syntax": preview.syntax}


@dataclass
class RunViewer:
    """Turns a run's events, in order, into views; remembers what earlier writes put in each file."""

    files_at_start: frozenset[str] = frozenset()
    written: dict[str, str] = field(default_factory=dict)  # path -> content of the run's last write to it
    pending_writes: dict[int, tuple[str, str]] = field(default_factory=dict)  # step -> (path, content)

    def view(self, event: Event) -> dict[str, Any]:
        if isinstance(event, RunStarted):
            self.files_at_start = frozenset(event.files)
            return {"goal_html": text_html(event.goal), "workspace_html": text_html(event.workspace),
                    "model_html": text_html(event.model)}
        if isinstance(event, PlanUpdated):
            return {"steps": [{"text_html": text_html(s.text), "status": s.status} for s in event.steps]}
        if isinstance(event, ActionChosen):
            return self._action(event)
        if isinstance(event, Observation):
            return self._observation(event)
        if isinstance(event, ErrorEvent):
            return {"message_html": text_html(event.message)}
        if isinstance(event, RunFinished):
            return {"answer_html": text_html(event.answer), "reason_html": text_html(event.reason)}
        return {}

    def _action(self, event: ActionChosen) -> dict[str, Any]:
        args = event.args
        view: dict[str, Any] = {"thought_html": text_html(event.thought),
                                "decode_seconds": round(max(0.0, event.seconds - event.prefill_seconds), 3)}
        code, path = args.get("code"), args.get("path")
        if event.tool == "run_python" and isinstance(code, str):
            view.update(code_html=code_html(code, "python"), code_label="Python")
        elif event.tool == "run_shell" and isinstance(args.get("command"), str):
            view.update(code_html=code_html(args["command"], "bash"), code_label="shell")
        elif event.tool == "write_file" and isinstance(path, str) and isinstance(args.get("content"), str):
            view.update(self._write(path, args["content"]), path_html=text_html(path))
            self.pending_writes[event.step] = (path, args["content"])
        else:
            view.update(code_html=code_html(json.dumps(args, indent=2, ensure_ascii=False), "json"),
                        code_label="arguments")
        return view

    def _write(self, path: str, content: str) -> dict[str, str]:
        """A diff against the run's previous write to the file, or from nothing for a new file; a file that
        was there before the run (content unknown to the log) shows its new text."""
        if path in self.written or path not in self.files_at_start:
            diff = file_diff(path, self.written.get(path), content)
            return {"code_html": code_html(diff, "diff"), "code_label": "diff"}
        return {"code_html": code_html(content, filename=path), "code_label": "new text (replaces a file "
                "that was there before the run)"}

    def _observation(self, event: Observation) -> dict[str, Any]:
        text = event.output
        lines = text.splitlines()
        view: dict[str, Any] = {"output_html": text_html(text), "lines": len(lines)}
        if len(lines) > HEAD_LINES or len(text) > FOLD_CHARS:
            view["head_html"] = text_html("\n".join(lines[:HEAD_LINES])[:FOLD_CHARS])
        write = self.pending_writes.pop(event.step, None)
        if write is not None and event.ok:
            path, content = write
            self.written[path] = content
            view["file_written"] = {"path_html": text_html(path), "path": path, "bytes": len(content.encode()),
                                    "code_html": code_html(content, filename=path)}
        return view

