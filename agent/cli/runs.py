"""`autogpt runs list|show|replay`: reading recorded runs back, no model needed."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.cli.options import JsonFlag, RunsDir, fail
from agent.cli.render import render_event, shown
from agent.cli.terminal_text import safe_json
from agent.events import event_to_dict
from agent.state import RunState
from agent.store import RunLog, RunStore

runs_app = typer.Typer(no_args_is_help=True, help="List, show and replay recorded runs.")


def summarize(log: RunLog) -> dict[str, Any]:
    state = RunState.from_events(log.events)
    status = state.final.status if state.final else "interrupted"
    return {"id": log.run_id, "goal": log.meta.get("goal", ""), "status": status, "steps": state.step,
            "started": log.meta.get("started") or (log.timestamps[0] if log.timestamps else None),
            "duration_s": round(log.elapsed_s, 2), "answer": state.final.answer if state.final else "",
            "model": log.meta.get("model", "")}


def _load(store: RunStore, run_id: str) -> RunLog:
    try:
        return store.load(run_id)
    except FileNotFoundError as exc:
        fail(str(exc))


@runs_app.command("list")
def list_runs(runs_dir: RunsDir = None, json_output: JsonFlag = False) -> None:
    """Recorded runs, newest first."""
    store = RunStore(runs_dir)
    rows = []
    for run_id in store.list_ids():
        try:
            rows.append(summarize(store.load(run_id)))
        except ValueError:
            continue  # a damaged log is shown by `runs show`, not allowed to break the list
    if json_output:
        print(safe_json(rows))
        return
    table = Table("id", "status", "steps", "started", "duration", "goal")
    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"])) if r["started"] else ""
        first_line = r["goal"].splitlines()[0][:60] if r["goal"] else ""
        table.add_row(r["id"], r["status"], str(r["steps"]), started, f"{r['duration_s']:.1f}s", shown(first_line))
    Console().print(table)


@runs_app.command("show")
def show_run(run_id: str, runs_dir: RunsDir = None, json_output: JsonFlag = False) -> None:
    """One run's steps."""
    log = _load(RunStore(runs_dir), run_id)
    if json_output:
        print(safe_json({**summarize(log), "run_id": log.run_id, "torn_tail": log.torn_tail,
                          "events": [event_to_dict(e) for e in log.events]}))
        return
    console = Console()
    for event in log.events:
        render_event(console, event, verbose=True)
    if log.torn_tail:
        console.print("[yellow]the log's last line was torn (the process died while writing it)[/]")


@runs_app.command("replay")
def replay_run(run_id: str, runs_dir: RunsDir = None,
               delay: Annotated[float, typer.Option(help="seconds between events")] = 0.0) -> None:
    """Re-render a run from its log as it was shown live."""
    log = _load(RunStore(runs_dir), run_id)
    console = Console()
    for event in log.events:
        render_event(console, event)
        if delay:
            time.sleep(delay)
