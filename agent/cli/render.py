"""Turning events into terminal output (rich). Only the CLI calls this."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from agent.cli.terminal_text import printable
from agent.events import ActionChosen, ErrorEvent, Event, Observation, PlanUpdated, RunFinished, RunStarted

STATUS_STYLE = {"done": "bold green", "failed": "bold red", "budget_exhausted": "bold yellow"}
MARK = {"pending": " ", "in_progress": ">", "done": "x", "failed": "!"}


def shown(text: str) -> str:
    """Text from the model, a tool or a file, ready for console.print: no control characters (they are shown
    as escapes, agent/cli/terminal_text.py) and no rich markup."""
    return escape(printable(text))


def render_event(console: Console, event: Event, *, verbose: bool = False) -> None:
    if isinstance(event, RunStarted):
        console.print(f"[bold]run[/] {event.run_id}  model [cyan]{shown(event.model)}[/] on "
                      f"[cyan]{event.device}[/]  workspace {shown(event.workspace)}")
        console.print(f"[bold]goal[/] {shown(event.goal)}")
    elif isinstance(event, PlanUpdated):
        steps = "  ".join(shown(f"[{MARK[s.status]}] {s.text}") for s in event.steps)
        console.print(f"[bold]plan[/] {steps}")
    elif isinstance(event, ActionChosen):
        args = json.dumps(event.args, ensure_ascii=False)
        args = args if verbose or len(args) <= 160 else args[:157] + "..."
        thought = f"  [dim]{shown(event.thought)}[/]" if event.thought else ""
        console.print(f"[bold cyan]step {event.step}[/] {shown(event.tool)} {shown(args)}{thought}")
    elif isinstance(event, Observation):
        text = event.output.strip()
        text = text if verbose or len(text) <= 300 else text[:297] + "..."
        style = "green" if event.ok else "red"
        console.print(f"  [{style}]{'ok' if event.ok else 'failed'}[/] {shown(text)}")
    elif isinstance(event, ErrorEvent):
        console.print(f"  [yellow]{event.kind}[/] {shown(event.message)}")
    elif isinstance(event, RunFinished):
        style = STATUS_STYLE.get(event.status, "bold")
        reason = f" ({shown(event.reason)})" if event.reason else ""
        console.print(f"[{style}]{event.status}[/]{reason}")
        if event.answer:
            console.print(f"[bold]answer[/] {shown(event.answer)}")
