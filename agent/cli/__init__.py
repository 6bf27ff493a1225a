"""The `autogpt` command line: every command, and everything that prints, lives in this package.

Each command is a function in a module of its own (`run`, `chat`, `runs`, `bench`, `batch`, `classify`,
`sandbox`, `cache`, `serve`, `mcp-server`, `ui`, `tune`, `tune_data`, `tune_eval`);
`app` mounts them. The agent's core (`agent.loop` and its parts) never prints: it yields events that
`agent.cli.render` turns into terminal output.
"""

from __future__ import annotations

import typer

from agent.cli.batch import batch_command
from agent.cli.bench import bench_command
from agent.cli.cache import cache_app
from agent.cli.chat import chat_command
from agent.cli.classify import classify_app, train_classifier_command
from agent.cli.mcp_server import mcp_server_command
from agent.cli.run import resume_command, run_command
from agent.cli.runs import runs_app
from agent.cli.sandbox import sandbox_app
from agent.cli.serve import serve_command
from agent.cli.tune import tune_command, with_optional_values
from agent.cli.tune_data import tune_data_command
from agent.cli.tune_eval import tune_eval_command
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
app.add_typer(cache_app, name="cache")
app.command("ui")(ui_command)
app.command("serve")(serve_command)
app.command("mcp-server")(mcp_server_command)
app.command("tune")(tune_command)
app.command("tune-data")(tune_data_command)
app.command("tune-eval")(tune_eval_command)


def main() -> None:
    import sys

    app(args=with_optional_values(sys.argv[1:]))
