"""`autogpt run GOAL` and `autogpt resume RUN_ID`: one run, printed live as it happens.

Everything the user can get wrong (the goal, the device, the workspace, the sandbox, the run id) is checked
before the model loads. Once a run has started, however it stops (Ctrl-C, a closed stdout, a crash), its
log says so in a last record, and the run stays resumable.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agent.cli.approval import make_run_approver
from agent.cli.mcp_tools import mcp_registry, mcp_settings
from agent.cli.options import (
    ActionFormatOpt,
    AdapterOpt,
    AttemptsOpt,
    DeviceOpt,
    DtypeOpt,
    JsonFlag,
    KeepInputsOpt,
    McpConfigOpt,
    McpCwdOpt,
    McpOpt,
    ModelOpt,
    PythonSessionOpt,
    RunsDir,
    SandboxOpt,
    SeedOpt,
    TemperatureOpt,
    action_format_for,
    attempts_for,
    attempts_problem,
    fail,
    finish_checks_for,
    load_model,
    worked_examples_for,
)
from agent.cli.render import render_event
from agent.cli.runs import resolve_id
from agent.cli.terminal_text import printable, safe_json
from agent.config import AgentConfig, Budget
from agent.errors import SetupError
from agent.events import ErrorEvent, Event, RunStarted
from agent.goal import goal_problem
from agent.llm.base import ModelSetupError
from agent.llm.loading import device_problem, dtype_problem
from agent.result import RunResult
from agent.state import RunState
from agent.store import RunLog, RunStore, new_run_id
from sandbox.base import SandboxKind
from sandbox.factory import unavailable_reason
from tools.base import ToolRegistry

if TYPE_CHECKING:
    from agent.loop import Agent

EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
EXIT_OUTPUT_CLOSED = 141  # stdout closed under us, as a shell reports SIGPIPE


class RunConsole(Console):
    """rich's Console, but a closed stdout raises BrokenPipeError (rich exits the process), so the run can
    record why it stopped."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _silence_stdout()
        raise BrokenPipeError("stdout was closed")


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
    finish_checks: Annotated[int | None, typer.Option(min=0, help="send finish back this many times while a "
                                                      "file the goal asks to write is missing (default: "
                                                      "none; the untuned model ignores it)")] = None,
    action_format: ActionFormatOpt = None,
    python_session: PythonSessionOpt = True,
    keep_inputs: KeepInputsOpt = True,
    worked_examples: Annotated[int | None, typer.Option(min=0, help="worked example runs shown before the goal "
                                                        "(default: none for a tuned model, 2 for others)")] = None,
    temperature: TemperatureOpt = 0.0,
    seed: SeedOpt = 0,
    attempts: AttemptsOpt = None,
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
    check_inputs(goal_problem(goal), device_problem(device), dtype_problem(dtype))
    mcp_servers, mcp_file = mcp_settings(mcp, mcp_config, mcp_cwd)
    config = AgentConfig(workspace=workspace.resolve(), budget=Budget(max_steps=max_steps, max_tokens=max_tokens,
                                                                      max_seconds=max_seconds),
                         plan=plan, thoughts=thoughts, shell=shell, sandbox=sandbox,
                         finish_checks=finish_checks_for(finish_checks, model, adapter),
                         mcp=mcp_servers, mcp_config=mcp_file,
                         action_format=action_format_for(action_format, model),
                         worked_examples=worked_examples_for(worked_examples, model, adapter),
                         temperature=temperature, seed=seed, keep_inputs=keep_inputs)
    config.sandbox_config.unsafe_local = unsafe_local
    config.sandbox_config.python_session = python_session
    check_setup(config)
    uses_mcp = bool(mcp_servers or mcp_file)
    check_inputs(attempts_problem(attempts, approve, uses_mcp))
    console = RunConsole(stderr=json_output)
    with mcp_registry(config, console) as tools:
        agent = _build_agent(config, model, device, dtype, runs_dir, console, tools, adapter)
        if approve:
            agent.approver = make_run_approver(console, config.workspace)
        runs_of_goal = attempts_for(attempts, agent.model, approve=approve, mcp=uses_mcp,
                                    workspace=config.workspace, console=console)
        if runs_of_goal > 1:
            _drive_attempts(console, agent, goal, runs_of_goal, json_output, verbose)
            return
        run_id = new_run_id()
        _drive(console, agent, run_id, lambda: agent.stream(goal, run_id=run_id), json_output, verbose)


def _drive_attempts(console: Console, first: Agent, goal: str, planned: int, json_output: bool,
                    verbose: bool) -> None:
    """`planned` runs of `goal`, each in its own copy of the workspace; the best is kept
    (agent/attempts.py). A run that stops (Ctrl-C, a crash) stops them all and leaves the workspace as it
    was; the stopped run can be resumed in its copy."""
    from agent.attempts import Attempts
    from agent.loop import Agent
    from sandbox.factory import open_sandbox
    from tools.files import workspace_files

    config = first.config
    attempts = Attempts(config, goal, tuple(workspace_files(config.workspace)), planned,
                        sandbox_for=lambda copy: open_sandbox(config.sandbox, copy, config.sandbox_config))
    for attempt in attempts:
        agent = Agent(first.model, config=attempt.config, tools=first.tools, store=first.store,
                      model_spec=first.model_spec, adapter=first.adapter)
        how = ("as configured" if attempt.index == 0 and not config.temperature
               else f"sampled at temperature {attempt.config.temperature:g}, seed {attempt.config.seed}")
        console.print(f"[bold]attempt {attempt.index + 1} of {attempt.planned}[/] [dim]({how})[/]")
        run_id = new_run_id()
        _drive(console, agent, run_id, lambda a=agent, r=run_id: a.stream(goal, run_id=r), False, verbose)
        outcome = attempts.record(agent.result, agent.store.load(run_id).events)
        if not outcome.complete:
            missing = f"; not written: {', '.join(outcome.missing)}" if outcome.missing else ""
            console.print(f"[dim]attempt {attempt.index + 1} did not finish with everything asked for "
                          f"({outcome.result.status}{missing})[/]")
    kept = attempts.keep()
    changed = f"; workspace changes: {', '.join(kept.changed[:8])}" if kept.changed else "; no workspace changes"
    console.print(f"[bold]kept attempt {kept.index + 1} of {len(kept.outcomes)}[/] (run {kept.result.run_id}, "
                  f"{kept.result.status}){escape(changed)}")
    console.print(f"[bold]answer:[/] {escape(printable(kept.result.answer))}")
    if json_output:
        _write_line(safe_json(kept.summary()))


def resume_command(
    run_id: Annotated[str, typer.Argument(help="id of an interrupted run, or a unique prefix of one")],
    model: Annotated[str, typer.Option(help="model to continue with (default: the run's model spec)")] = "",
    max_steps: Annotated[int | None, typer.Option(min=1, help="most model decisions over the whole run, "
                                                  "the steps already taken included (default: the run's own)")]
    = None,
    adapter: Annotated[Path | None, typer.Option("--adapter", help="adapter to continue with (default: the "
                                                 "run's adapter, if it had one)")] = None,
    runs_dir: RunsDir = None,
    json_output: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Continue an interrupted run from its last completed step; recorded tool calls are never repeated."""
    store = RunStore(runs_dir)
    run_id = resolve_id(store, run_id)
    log = store.load(run_id)
    config = resumable_config(store, log, max_steps)
    check_setup(config)
    console = RunConsole(stderr=json_output)
    with mcp_registry(config, console) as tools:  # the run's MCP servers, started again
        recorded = log.meta.get("adapter") or None  # with another --model, the run's adapter is not assumed
        adapter = adapter or (Path(recorded) if recorded and not model else None)
        agent = _build_agent(config, model or log.meta.get("model_spec", "default"), "auto", "auto", runs_dir,
                             console, tools, adapter)
        _drive(console, agent, run_id, lambda: agent.resume(run_id), json_output, verbose)


def check_inputs(*problems: str | None) -> None:
    """Exit 2 with the first problem found, if any."""
    for problem in problems:
        if problem is not None:
            fail(problem)


def check_setup(config: AgentConfig) -> None:
    if not config.workspace.is_dir():
        fail(f"workspace {config.workspace} is not a directory")
    if (problem := unavailable_reason(config.sandbox, config.sandbox_config)) is not None:
        fail(problem)


def resumable_config(store: RunStore, log: RunLog, max_steps: int | None) -> AgentConfig:
    """The run's own config, in its own recorded workspace, or exit 2 saying why it cannot continue."""
    run_id = log.run_id
    if log.damaged:
        fail(f"run {run_id} cannot be continued: {'; '.join(log.problems)} "
             f"(`autogpt runs show {run_id}` shows the rest)")
    final = RunState.from_events(log.events).final
    if final is not None:
        fail(f"run {run_id} already ended ({final.status}); nothing to resume")
    if store.is_running(run_id):
        fail(f"run {run_id} is in progress in another process")
    try:
        config = AgentConfig.model_validate(log.meta["config"])
    except (KeyError, ValueError):
        fail(f"run {run_id} has no valid recorded config; it cannot be continued")
    started = next((e for e in log.events if isinstance(e, RunStarted)), None)
    workspace = Path(started.workspace) if started is not None else config.workspace
    if not workspace.is_absolute() or not workspace.is_dir():
        fail(f"run {run_id} worked in {workspace}, which is not there any more; it cannot be continued")
    budget = config.budget.model_copy(update={"max_steps": max_steps}) if max_steps else config.budget
    return config.model_copy(update={"workspace": workspace, "budget": budget})


def _build_agent(config: AgentConfig, model_spec: str, device: str, dtype: str, runs_dir: Path | None,
                 console: Console, tools: ToolRegistry | None = None, adapter: Path | None = None) -> Agent:
    from agent.loop import Agent

    try:
        with console.status(f"loading model {model_spec} ..."):
            model = load_model(model_spec, device=device, dtype=dtype, adapter=adapter)
    except ModelSetupError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    try:
        console.print(f"[dim]model {model.name} on {model.device}[/]")
    except BrokenPipeError:  # stdout closed before any run began: nothing to record
        _silence_stdout()
        raise typer.Exit(EXIT_OUTPUT_CLOSED) from None
    return Agent(model, config=config, tools=tools, store=RunStore(runs_dir), model_spec=model_spec,
                 adapter=str(adapter.resolve()) if adapter else "")


def _drive(console: Console, agent: Agent, run_id: str, start: Callable[[], Iterator[Event]], json_output: bool,
           verbose: bool) -> None:
    state, started = RunState(), time.monotonic()
    events: Iterator[Event] | None = None

    def stopped(kind: str, why: str, code: int, json_line: bool = json_output, detail: str = "") -> NoReturn:
        if events is not None:
            events.close()  # type: ignore[attr-defined]  # a generator: its finally closes the sandbox and the log
        _record_stop(agent, run_id, state, kind, why, detail)
        result = agent.result or RunResult(run_id, kind, "", state.step, state.tokens_in, state.tokens_out,
                                           round(time.monotonic() - started, 2), agent.model.name, why)
        if json_line:
            _write_line(safe_json(result.to_json()))
        raise typer.Exit(code)

    seen = 0
    try:
        events = start()
        for event in events:
            seen += 1
            state.apply(event)
            render_event(console, event, verbose=verbose)
    except SetupError as exc:  # before the first event: the run was refused; later: a part gave out
        if not seen:
            fail(str(exc))
        stopped("interrupted", " ".join(str(exc).split()), 2)
    except KeyboardInterrupt:
        stopped("interrupted", "stopped by Ctrl-C", EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        stopped("interrupted", "the output was closed", EXIT_OUTPUT_CLOSED, json_line=False)
    except typer.Exit:
        raise
    except Exception as exc:  # a bug or a broken part: the run is kept, the user gets one line
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        stopped("crashed", why, 1, detail=_save_traceback(agent.store.folder(run_id)))
    if json_output and agent.result is not None:
        _write_line(safe_json(agent.result.to_json()))


def _record_stop(agent: Agent, run_id: str, state: RunState, kind: str, why: str, detail: str) -> None:
    """The last record of a run that did not finish says why; the run can be resumed."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    why, detail = printable(why), printable(detail)
    if state.final is not None:  # it ended before the trouble: nothing to add
        err.print(f"{why}; run {run_id} ended ({state.final.status}) and is recorded")
        return
    if not agent.store.exists(run_id):
        err.print(f"[yellow]{kind}[/]: {escape(why)} before the run started")
        return
    try:
        agent.store.append(run_id, ErrorEvent(state.step, kind, why))
    except (OSError, SetupError):
        pass  # the log keeps what it had; resume still works from it
    extra = f" ({detail})" if detail else ""
    err.print(f"[yellow]{kind}[/]: {escape(why)} at step {state.step}{escape(extra)}; "
              f"resume with `autogpt resume {run_id}`")


def _save_traceback(folder: Path) -> str:
    try:
        (folder / "crash.txt").write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        return ""
    return f"traceback in {folder / 'crash.txt'}"


def _write_line(text: str) -> None:
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        Console(stderr=True).print("the output was closed before the result line; the run is recorded")
        raise typer.Exit(EXIT_OUTPUT_CLOSED) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail on the closed pipe too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
