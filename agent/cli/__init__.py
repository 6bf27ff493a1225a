"""The `autogpt` command line: every command, and everything that prints, lives in this package.

Each command is a function in a module of its own (`run`, `chat`, `runs`, `bench`, `batch`, `classify`,
`sandbox`, `ui`); `app` mounts them. The agent's core (`agent.loop` and its parts) never prints: it yields events that
`agent.cli.render` turns into terminal output.
"""

from __future__ import annotations

import typer

from agent.cli.batch import batch_command
from agent.cli.bench import bench_command
from agent.cli.chat import chat_command
from agent.cli.classify import classify_app, train_classifier_command
from agent.cli.run import resume_command, run_command
from agent.cli.runs import runs_app
from agent.cli.sandbox import sandbox_app
from agent.cli.ui import ui_command

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Auto-GPT: a local-first autonomous task runner.")
app.command("run")(run_command)
app.command("resume")(resume_command)
app.command("chat")(chat_command)
app.add_typer(runs_app, name="runs")
app.command("bench")(bench_command)
app.command("batch")(batch_command)
app.add_typer(classify_app, name="classify")
app.command("train-classifier")(train_classifier_command)
app.add_typer(sandbox_app, name="sandbox")
app.command("ui")(ui_command)


def main() -> None:
    app()
