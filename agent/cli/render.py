"""Turning events into terminal output (rich). Only the CLI calls this."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from agent.events import ActionChosen, ErrorEvent, Event, Observation, PlanUpdated, RunFinished, RunStarted

STATUS_STYLE = {"done": "bold green", "failed": "bold red", "budget_exhausted": "bold yellow"}
MARK = {"pending": " ", "in_progress": ">", "done": "x", "failed": "!"}


def render_event(console: Console, event: Event, *, verbose: bool = False) -> None:
    if isinstance(event, RunStarted):
        console.print(f"[bold]run[/] {event.run_id}  model [cyan]{escape(event.model)}[/] on "
                      f"[cyan]{event.device}[/]  workspace {escape(event.workspace)}")
        console.print(f"[bold]goal[/] {escape(event.goal)}")
    elif isinstance(event, PlanUpdated):
        steps = "  ".join(escape(f"[{MARK[s.status]}] {s.text}") for s in event.steps)
        console.print(f"[bold]plan[/] {steps}")
    elif isinstance(event, ActionChosen):
        args = json.dumps(event.args, ensure_ascii=False)
        args = args if verbose or len(args) <= 160 else args[:157] + "..."
        thought = f"  [dim]{escape(event.thought)}[/]" if event.thought else ""
        console.print(f"[bold cyan]step {event.step}[/] {event.tool} {escape(args)}{thought}")
    elif isinstance(event, Observation):
        text = event.output.strip()
        text = text if verbose or len(text) <= 300 else text[:297] + "..."
        style = "green" if event.ok else "red"
        console.print(f"  [{style}]{'ok' if event.ok else 'failed'}[/] {escape(text)}")
    elif isinstance(event, ErrorEvent):
        console.print(f"  [yellow]{event.kind}[/] {escape(event.message)}")
    elif isinstance(event, RunFinished):
        style = STATUS_STYLE.get(event.status, "bold")
        reason = f" ({escape(event.reason)})" if event.reason else ""
        console.print(f"[{style}]{event.status}[/]{reason}")
        if event.answer:
            console.print(f"[bold]answer[/] {escape(event.answer)}")
