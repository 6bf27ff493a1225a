"""`autogpt runs list|show|replay|rm`: reading recorded runs back (and removing them), no model needed.

Every command that takes a run id also takes a unique prefix of one.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agent.cli.options import JsonFlag, RunsDir, fail
from agent.cli.render import render_event, shown
from agent.cli.terminal_text import printable, safe_json
from agent.errors import SetupError
from agent.events import event_to_dict
from agent.state import RunState
from agent.store import RunIdError, RunLog, RunStore

runs_app = typer.Typer(no_args_is_help=True, help="List, show, replay and remove recorded runs.")
RunIdArg = Annotated[str, typer.Argument(help="a run id, or a unique prefix of one")]


def summarize(log: RunLog, running: bool = False) -> dict[str, Any]:
    state = RunState.from_events(log.events)
    status = state.final.status if state.final else ("running" if running else "interrupted")
    goal = log.meta.get("goal") or state.goal
    return {"id": log.run_id, "goal": goal, "status": status, "steps": state.step,
            "started": log.meta.get("started") or (log.timestamps[0] if log.timestamps else None),
            "duration_s": round(log.elapsed_s, 2), "answer": state.final.answer if state.final else "",
            "model": log.meta.get("model", ""), "damaged": log.damaged, "problems": log.problems}


def _started(timestamp: float | None) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(timestamp)) if timestamp else ""


def run_table(rows: list[dict[str, Any]], width: int) -> list[str]:
    """Lines of a table of runs in `width` columns: every column whole but the goal, which gets what is left."""
    cells = [(r["id"], status_text(r), str(r["steps"]), _started(r["started"]), f"{r['duration_s']:.1f}s")
             for r in rows]
    header = ("id", "status", "steps", "started", "time")
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    right = {2, 4}  # numbers line up on the right

    def line(values: tuple[str, ...], goal: str) -> str:
        padded = (v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True)))
        fixed = "  ".join(padded)
        room = max(10, width - len(fixed) - 2)
        return f"{fixed}  {goal if len(goal) <= room else goal[: room - 3] + '...'}".rstrip()

    goals = [printable(r["goal"].splitlines()[0]) if r["goal"].strip() else "" for r in rows]
    return [line(header, "goal"), *(line(c, g) for c, g in zip(cells, goals, strict=True))]


def resolve_id(store: RunStore, wanted: str) -> str:
    """The full id of the run `wanted` names (an id or a unique prefix), or exit 2 saying why not."""
    try:
        return store.resolve(wanted)
    except RunIdError as exc:
        fail(str(exc))


def load_run(store: RunStore, wanted: str) -> RunLog:
    return store.load(resolve_id(store, wanted))


def status_text(row: dict[str, Any]) -> str:
    return f"{row['status']} (damaged)" if row["damaged"] else row["status"]


@runs_app.command("list")
def list_runs(runs_dir: RunsDir = None, json_output: JsonFlag = False) -> None:
    """Recorded runs, newest first."""
    store = RunStore(runs_dir)
    rows = [summarize(store.load(i), store.is_running(i)) for i in store.list_ids()]
    if json_output:
        print(safe_json(rows))
        return
    console = Console(highlight=False, soft_wrap=True)
    if not rows:
        console.print(f"no runs in {shown(str(store.runs_dir))}")
        return
    for line in run_table(rows, console.width):
        console.print(escape(line))


@runs_app.command("show")
def show_run(run_id: RunIdArg, runs_dir: RunsDir = None, json_output: JsonFlag = False) -> None:
    """One run's steps."""
    store = RunStore(runs_dir)
    log = load_run(store, run_id)
    if json_output:
        print(safe_json({**summarize(log, store.is_running(log.run_id)), "run_id": log.run_id,
                         "torn_tail": log.torn_tail, "events": [event_to_dict(e) for e in log.events]}))
        return
    console = Console()
    for problem in log.problems:
        console.print(f"[yellow]damaged log:[/] {escape(problem)}; the other events follow")
    for event in log.events:
        render_event(console, event, verbose=True)
    if log.torn_tail:
        console.print("[yellow]the log's last line was torn (the process died while writing it)[/]")


@runs_app.command("replay")
def replay_run(run_id: RunIdArg, runs_dir: RunsDir = None,
               delay: Annotated[float, typer.Option(min=0, help="seconds between events")] = 0.0) -> None:
    """Re-render a run from its log as it was shown live."""
    log = load_run(RunStore(runs_dir), run_id)
    console = Console()
    for event in log.events:
        render_event(console, event)
        if delay:
            time.sleep(delay)


@runs_app.command("rm")
def remove_runs(run_ids: Annotated[list[str], typer.Argument(help="run ids, or unique prefixes of them")],
                runs_dir: RunsDir = None) -> None:
    """Delete runs (their folders: goal, config, log and result). A run in progress is refused."""
    store = RunStore(runs_dir)
    ids = list(dict.fromkeys(resolve_id(store, wanted) for wanted in run_ids))  # all named, or none removed
    running = [i for i in ids if store.is_running(i)]
    if running:
        fail(f"run {running[0]} is in progress; stop it before removing it (nothing was removed)")
    for run_id in ids:
        try:
            store.remove(run_id)
        except (SetupError, OSError) as exc:
            fail(f"{exc}")
        typer.echo(f"removed {run_id}")
