"""The `autogpt` command line. The only module that prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agent.approval import make_run_approver
from agent.bench_cli import bench_command
from agent.chat import chat_command
from agent.config import AgentConfig, Budget, SandboxKind
from agent.errors import SetupError
from agent.llm.base import ModelSetupError
from agent.render import render_event
from agent.runs_cli import runs_app
from agent.store import RunStore
from sandbox.cli import sandbox_app
from sandbox.factory import unavailable_reason
from tools.nlp_cli import classify_app, train_classifier_command

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Auto-GPT: a local-first autonomous task runner.")
app.add_typer(runs_app, name="runs")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(classify_app, name="classify")
app.command("train-classifier")(train_classifier_command)
app.command("bench")(bench_command)
app.command("chat")(chat_command)

RunsDir = Annotated[Path | None, typer.Option("--runs-dir", help="where runs are recorded "
                                              "(default $AUTOGPT_HOME/runs)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _fail(message: str, code: int = 2) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def run(
    goal: Annotated[str, typer.Argument(help="what the agent should do, in plain language")],
    workspace: Annotated[Path, typer.Option(help="folder the agent works in")] = Path("."),
    model: Annotated[str, typer.Option(help="default, a model directory, a .gguf file, or openai:URL#MODEL")]
    = "default",
    max_steps: Annotated[int, typer.Option(min=1, help="most model decisions")] = 12,
    max_tokens: Annotated[int, typer.Option(min=1, help="most prompt + completion tokens")] = 200_000,
    max_seconds: Annotated[float, typer.Option(min=1, help="most wall-clock seconds")] = 900.0,
    sandbox: Annotated[str, typer.Option(help="docker, local or auto")] = "auto",
    unsafe_local: Annotated[bool, typer.Option(help="allow the local sandbox without isolation")] = False,
    shell: Annotated[bool, typer.Option(help="offer the run_shell tool")] = False,
    plan: Annotated[bool, typer.Option(help="ask the model for a short plan first (off by default: "
                                       "the 135M default model does worse with one)")] = False,
    thoughts: Annotated[bool, typer.Option(help="each action starts with a short thought (off by default: "
                                           "the 135M default model copies a guessed answer from it)")] = False,
    finish_checks: Annotated[int, typer.Option(min=0, help="send finish back this many times while a file "
                                               "the goal asks to write is missing (off by default: the 135M "
                                               "default model ignores it)")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16")] = "auto",
    runs_dir: RunsDir = None,
    json_output: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show full arguments and outputs")] = False,
    approve: Annotated[bool, typer.Option("--approve", help="ask before side-effect tools run")] = False,
) -> None:
    """Run the agent on GOAL until it finishes or a budget runs out."""
    if sandbox not in ("docker", "local", "auto"):
        _fail(f"--sandbox must be docker, local or auto, not {sandbox!r}")
    config = AgentConfig(workspace=workspace, budget=Budget(max_steps=max_steps, max_tokens=max_tokens,
                                                            max_seconds=max_seconds),
                         plan=plan, thoughts=thoughts, shell=shell, sandbox=_sandbox_kind(sandbox),
                         finish_checks=finish_checks)
    config.sandbox_config.unsafe_local = unsafe_local
    if (problem := unavailable_reason(config.sandbox, config.sandbox_config)) is not None:
        _fail(problem)
    console = Console(stderr=json_output)
    agent = _build_agent(config, model, device, dtype, runs_dir, console)
    if approve:
        agent.approver = make_run_approver(console, config.workspace.resolve())
    _drive(console, agent.stream(goal), agent, json_output, verbose)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="id of an interrupted run")],
    model: Annotated[str, typer.Option(help="model to continue with (default: the run's model spec)")] = "",
    runs_dir: RunsDir = None,
    json_output: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Continue an interrupted run from its last completed step; recorded tool calls are never repeated."""
    store = RunStore(runs_dir)
    try:
        log = store.load(run_id)
    except FileNotFoundError as exc:
        _fail(str(exc))
    config = AgentConfig.model_validate(log.meta["config"])
    console = Console(stderr=json_output)
    agent = _build_agent(config, model or log.meta.get("model_spec", "default"), "auto", "auto", runs_dir,
                         console)
    try:
        events = agent.resume(run_id)
    except SetupError as exc:
        _fail(str(exc))
    _drive(console, events, agent, json_output, verbose)


def _sandbox_kind(value: str) -> SandboxKind:
    return value  # type: ignore[return-value]  # checked by the caller


def _build_agent(config: AgentConfig, model_spec: str, device: str, dtype: str, runs_dir: Path | None,
                 console: Console):
    from agent.chat import load_model
    from agent.loop import Agent

    if not config.workspace.is_dir():
        _fail(f"workspace {config.workspace} is not a directory")
    with console.status(f"loading model {model_spec} ..."):
        try:
            model = load_model(model_spec, device=device, dtype=dtype)
        except ModelSetupError as exc:
            _fail(str(exc))
    console.print(f"[dim]model {model.name} on {model.device}[/]")
    return Agent(model, config=config, store=RunStore(runs_dir), model_spec=model_spec)


def _drive(console: Console, events, agent, json_output: bool, verbose: bool) -> None:
    try:
        for event in events:
            render_event(console, event, verbose=verbose)
    except SetupError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: resume with `autogpt resume RUN_ID`")
        raise typer.Exit(130) from None
    if json_output and agent.result is not None:
        sys.stdout.write(json.dumps(agent.result.__dict__) + "\n")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
