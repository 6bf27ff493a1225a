"""`autogpt run GOAL` and `autogpt resume RUN_ID`: one run, printed live as it happens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agent.cli.approval import make_run_approver
from agent.cli.mcp_tools import mcp_registry, mcp_settings
from agent.cli.options import (
    AdapterOpt,
    DeviceOpt,
    DtypeOpt,
    JsonFlag,
    McpConfigOpt,
    McpCwdOpt,
    McpOpt,
    ModelOpt,
    RunsDir,
    SandboxOpt,
    fail,
    load_model,
)
from agent.cli.render import render_event
from agent.cli.terminal_text import safe_json
from agent.config import AgentConfig, Budget
from agent.errors import SetupError
from agent.llm.base import ModelSetupError
from agent.store import RunStore
from sandbox.base import SandboxKind
from sandbox.factory import unavailable_reason
from tools.base import ToolRegistry


def run_command(
    goal: Annotated[str, typer.Argument(help="what the agent should do, in plain language")],
    workspace: Annotated[Path, typer.Option(help="folder the agent works in")] = Path("."),
    model: ModelOpt = "default",
    adapter: AdapterOpt = None,
    max_steps: Annotated[int, typer.Option(min=1, help="most model decisions")] = 12,
    max_tokens: Annotated[int, typer.Option(min=1, help="most prompt + completion tokens")] = 200_000,
    max_seconds: Annotated[float, typer.Option(min=1, help="most wall-clock seconds")] = 900.0,
    sandbox: SandboxOpt = SandboxKind.AUTO,
    unsafe_local: Annotated[bool, typer.Option(help="allow the local sandbox without isolation")] = False,
    shell: Annotated[bool, typer.Option(help="offer the run_shell tool")] = False,
    plan: Annotated[bool, typer.Option(help="ask the model for a short plan first (off by default: "
                                       "the 135M default model does worse with one)")] = False,
    thoughts: Annotated[bool, typer.Option(help="each action starts with a short thought (off by default: "
                                           "the 135M default model copies a guessed answer from it)")] = False,
    finish_checks: Annotated[int, typer.Option(min=0, help="send finish back this many times while a file "
                                               "the goal asks to write is missing (off by default: the 135M "
                                               "default model ignores it)")] = 0,
    worked_examples: Annotated[int, typer.Option(min=0, help="worked example runs shown before the goal")] = 2,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    runs_dir: RunsDir = None,
    json_output: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show full arguments and outputs")] = False,
    approve: Annotated[bool, typer.Option("--approve", help="ask before side-effect tools run")] = False,
    mcp: McpOpt = None,
    mcp_config: McpConfigOpt = None,
    mcp_cwd: McpCwdOpt = None,
) -> None:
    """Run the agent on GOAL until it finishes or a budget runs out."""
    mcp_servers, mcp_file = mcp_settings(mcp, mcp_config, mcp_cwd)
    config = AgentConfig(workspace=workspace, budget=Budget(max_steps=max_steps, max_tokens=max_tokens,
                                                            max_seconds=max_seconds),
                         plan=plan, thoughts=thoughts, shell=shell, sandbox=sandbox,
                         finish_checks=finish_checks, worked_examples=worked_examples, mcp=mcp_servers,
                         mcp_config=mcp_file)
    config.sandbox_config.unsafe_local = unsafe_local
    if (problem := unavailable_reason(config.sandbox, config.sandbox_config)) is not None:
        fail(problem)
    console = Console(stderr=json_output)
    with mcp_registry(config, console) as tools:
        agent = _build_agent(config, model, device, dtype, runs_dir, console, tools, adapter)
        if approve:
            agent.approver = make_run_approver(console, config.workspace.resolve())
        _drive(console, agent.stream(goal), agent, json_output, verbose)


def resume_command(
    run_id: Annotated[str, typer.Argument(help="id of an interrupted run")],
    model: Annotated[str, typer.Option(help="model to continue with (default: the run's model spec)")] = "",
    adapter: Annotated[Path | None, typer.Option("--adapter", help="adapter to continue with (default: the "
                                                 "run's adapter, if it had one)")] = None,
    runs_dir: RunsDir = None,
    json_output: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Continue an interrupted run from its last completed step; recorded tool calls are never repeated."""
    store = RunStore(runs_dir)
    try:
        log = store.load(run_id)
    except FileNotFoundError as exc:
        fail(str(exc))
    config = AgentConfig.model_validate(log.meta["config"])
    console = Console(stderr=json_output)
    recorded = log.meta.get("adapter") or None  # with another --model, the run's adapter is not assumed
    adapter = adapter or (Path(recorded) if recorded and not model else None)
    with mcp_registry(config, console) as tools:  # the run's MCP servers, started again
        agent = _build_agent(config, model or log.meta.get("model_spec", "default"), "auto", "auto", runs_dir,
                             console, tools, adapter)
        try:
            events = agent.resume(run_id)
        except SetupError as exc:
            fail(str(exc))
        _drive(console, events, agent, json_output, verbose)


def _build_agent(config: AgentConfig, model_spec: str, device: str, dtype: str, runs_dir: Path | None,
                 console: Console, tools: ToolRegistry | None = None, adapter: Path | None = None):
    from agent.loop import Agent

    if not config.workspace.is_dir():
        fail(f"workspace {config.workspace} is not a directory")
    with console.status(f"loading model {model_spec} ..."):
        try:
            model = load_model(model_spec, device=device, dtype=dtype, adapter=adapter)
        except ModelSetupError as exc:
            fail(str(exc))
    console.print(f"[dim]model {model.name} on {model.device}[/]")
    return Agent(model, config=config, tools=tools, store=RunStore(runs_dir), model_spec=model_spec,
                 adapter=str(adapter.resolve()) if adapter else "")


def _drive(console: Console, events, agent, json_output: bool, verbose: bool) -> None:
    try:
        for event in events:
            render_event(console, event, verbose=verbose)
    except SetupError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: resume with `autogpt resume RUN_ID`")
        raise typer.Exit(130) from None
    if json_output and agent.result is not None:
        sys.stdout.write(safe_json(agent.result.to_json()) + "\n")
