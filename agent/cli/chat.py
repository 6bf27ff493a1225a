"""`autogpt chat`: a terminal session. Each goal is one run in the same workspace, with live progress;
a follow-up goal carries a short summary of the earlier goals and their answers. Commands start with "/".

Ctrl-C during a run stops that run (its log stays resumable) and returns to the prompt; a second Ctrl-C,
at the prompt or while the first is still being handled, leaves the session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.approval import ApprovalPolicy
from agent.cli.approval import TerminalApprover
from agent.cli.mcp_tools import mcp_registry, mcp_settings
from agent.cli.options import (
    ActionFormatOpt,
    AdapterOpt,
    DeviceOpt,
    DtypeOpt,
    McpConfigOpt,
    McpCwdOpt,
    McpOpt,
    ModelOpt,
    RunsDir,
    SandboxOpt,
    action_format_for,
    fail,
    load_model,
    worked_examples_for,
)
from agent.cli.render import MARK, render_event, shown
from agent.cli.run import check_inputs
from agent.cli.runs import status_text, summarize
from agent.config import AgentConfig, Budget
from agent.errors import SetupError
from agent.events import ActionChosen, ErrorEvent, Event, Observation, PlanUpdated, RunFinished, RunStarted
from agent.goal import goal_problem
from agent.llm.base import ModelSetupError
from agent.llm.loading import device_problem, dtype_problem
from agent.loop import Agent
from agent.state import RunState
from agent.store import RunStore, new_run_id
from sandbox.base import SandboxKind
from tools.base import ToolRegistry

MAX_REMEMBERED = 4  # earlier goals summarized into a follow-up goal
PROMPT = "autogpt> "
# Words the model reads: appended to a follow-up goal (the loop itself is unchanged).
CONTEXT_HEADER = "Earlier in this session, in the same workspace (files made then are still there):"
HELP = """\
Type a goal and press Enter; the agent works on it in the workspace. A follow-up goal builds on the
earlier ones. Commands:
  /help           this text
  /plan           the last run's plan, with each step's status
  /runs           recent runs (resume one with `autogpt resume ID`)
  /model          the model and the device it runs on
  /approve on|off ask before writing files or running code (now: {approval})
  /quit           leave (also Ctrl-D)
Ctrl-C stops the current run; Ctrl-C again at the prompt leaves."""


# -- pure session state --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Exchange:
    goal: str
    status: str  # done, failed, budget_exhausted, or stopped (Ctrl-C) / crashed
    answer: str = ""


@dataclass
class ChatSession:
    """What the session remembers between goals."""

    history: list[Exchange] = field(default_factory=list)
    last_run: RunState | None = None

    def goal_text(self, goal: str) -> str:
        """The goal as the model sees it: the user's words, then what the session did before."""
        if not self.history:
            return goal
        lines = [goal, "", CONTEXT_HEADER]
        for ex in self.history[-MAX_REMEMBERED:]:
            outcome = f"{ex.status}, answer: {_shorten(ex.answer, 200)}" if ex.answer else ex.status
            lines.append(f"- {_shorten(ex.goal, 150)} ({outcome})")
        return "\n".join(lines)

    def record(self, goal: str, state: RunState, status: str | None = None) -> None:
        self.last_run = state
        final = state.final
        self.history.append(Exchange(goal, status or (final.status if final else "stopped"),
                                     final.answer if final else ""))


@dataclass
class InterruptGuard:
    """One Ctrl-C stops a run; a second one before the user types anything else leaves."""

    armed: bool = False

    def press(self) -> bool:
        """Record a Ctrl-C; True when it is the second one."""
        leave, self.armed = self.armed, True
        return leave

    def reset(self) -> None:
        self.armed = False


def _first_line(text: str) -> str:
    """A chat goal's own words, without the session context appended to it."""
    return text.strip().split("\n", 1)[0]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the terminal ----------------------------------------------------------------------------------------

class LiveStatus:
    """A spinner line under the output: what the agent is doing now and the model's text as it streams."""

    def __init__(self, console: Console) -> None:
        self._status = console.status("")
        self._what = ""
        self._text = ""
        self._running = False

    def show(self, what: str) -> None:
        self._what, self._text = what, ""
        self._refresh()
        if not self._running:
            self._status.start()
            self._running = True

    def on_text(self, chunk: str) -> None:
        self._text = (self._text + chunk)[-400:]
        self._refresh()

    def stop(self) -> None:
        if self._running:
            self._status.stop()
            self._running = False

    def paused(self, read: Callable[[], str]) -> str:
        """Run `read` (a prompt for the user) with the spinner out of the way."""
        was_running = self._running
        self.stop()
        try:
            return read()
        finally:
            if was_running:
                self.show(self._what)

    def follow(self, event: Event, state: RunState) -> None:
        if isinstance(event, RunFinished):
            self.stop()
        elif isinstance(event, ActionChosen):
            self.show(f"step {event.step}: running {event.tool}")
        elif isinstance(event, RunStarted):
            self.show("thinking")
        elif isinstance(event, (PlanUpdated, Observation, ErrorEvent)):
            self.show(f"step {state.step + 1}: thinking")

    def _refresh(self) -> None:
        tail = _shorten(self._text, 10_000)[-60:]
        self._status.update(f"[bold]{shown(self._what)}[/] [dim]{shown(tail)}[/]")


class Chat:
    """One terminal session over one Agent (the model is loaded once)."""

    def __init__(self, console: Console, agent: Agent, approve: bool, verbose: bool = False) -> None:
        self.console = console
        self.agent = agent
        self.verbose = verbose
        self.session = ChatSession()
        self.guard = InterruptGuard()
        self.live = LiveStatus(console)
        agent.on_text = self.live.on_text
        self.approver = TerminalApprover(console, agent.config.workspace.resolve(), ask=self._ask,
                                         policy=ApprovalPolicy())
        self.set_approval(approve)

    def loop(self) -> int:
        """Read goals and commands until /quit, Ctrl-D or a second Ctrl-C; returns the exit code."""
        self.console.print(f"[bold]Auto-GPT chat[/]  model [cyan]{shown(self.agent.model.name)}[/] on "
                           f"[cyan]{self.agent.model.device}[/]  workspace {shown(str(self.workspace))}  "
                           f"approval {'on' if self.approving else 'off'}.  Type a goal, or /help.")
        while True:
            try:
                line = self.console.input(PROMPT).strip()
            except EOFError:
                self.console.print()
                return 0
            except KeyboardInterrupt:
                self.console.print()
                if self.guard.press():
                    return 130
                self.console.print("[dim](Ctrl-C again, or /quit, to leave)[/]")
                continue
            self.guard.reset()
            try:
                if line.startswith("/"):
                    if not self.command(line):
                        return 0
                elif line:
                    self.work_on(line)
            except KeyboardInterrupt:  # a second Ctrl-C while the first one was still being handled
                return 130

    @property
    def workspace(self) -> Path:
        return self.agent.config.workspace.resolve()

    @property
    def approving(self) -> bool:
        return self.agent.approver is not None

    def set_approval(self, on: bool) -> None:
        self.agent.approver = self.approver if on else None

    def work_on(self, goal: str) -> None:
        if (problem := goal_problem(goal)) is not None:
            self.console.print(f"[bold red]error:[/] {escape(problem)}")
            return
        run_id, state, stopped, stream = new_run_id(), RunState(), None, None
        try:
            stream = self.agent.stream(self.session.goal_text(goal), run_id=run_id)
            for event in stream:
                state.apply(event)
                self.live.follow(event, state)
                if isinstance(event, RunStarted):  # its goal is what the user just typed, plus context
                    self.console.print(f"[dim]run {event.run_id}[/]")
                else:
                    render_event(self.console, event, verbose=self.verbose)
        except KeyboardInterrupt:
            self.guard.press()
            stopped = ("interrupted", "stopped by Ctrl-C")
            self.live.stop()
            self.console.print(f"[yellow]stopped[/] at step {state.step}; the run is kept "
                               f"(`autogpt resume {run_id}` continues it).  Ctrl-C again leaves.")
        except SetupError as exc:
            self.live.stop()
            self.console.print(f"[bold red]error:[/] {shown(str(exc))}")
            return
        except Exception as exc:  # the session outlives a crashed run; its log stays resumable
            stopped = ("crashed", " ".join(f"{type(exc).__name__}: {exc}".split()))
            self.live.stop()
            self.console.print(f"[bold red]the run crashed:[/] {shown(stopped[1])}")
        finally:
            self.live.stop()
            if stream is not None:
                stream.close()  # type: ignore[attr-defined]  # a generator: its finally closes the log
        if stopped is not None and state.final is None:
            self._record_stop(run_id, state.step, *stopped)
        outcome = {"interrupted": "stopped", "crashed": "crashed"}[stopped[0]] if stopped else None
        self.session.record(goal, state, outcome)

    def _record_stop(self, run_id: str, step: int, kind: str, why: str) -> None:
        """The run's last record says why it stopped (it stays resumable)."""
        try:
            self.agent.store.append(run_id, ErrorEvent(step, kind, why))
        except (OSError, SetupError):
            pass  # the run never got a log (stopped while starting), or it cannot be written

    def command(self, line: str) -> bool:
        """Run a /command; False means leave."""
        name, _, arg = line.partition(" ")
        arg = arg.strip().lower()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            self.console.print(escape(HELP.format(approval="on" if self.approving else "off")))
        elif name == "/plan":
            self.show_plan()
        elif name == "/runs":
            self.show_runs()
        elif name == "/model":
            model = self.agent.model
            self.console.print(f"model [cyan]{shown(model.name)}[/] on [cyan]{model.device}[/] (spec "
                               f"{shown(self.agent.model_spec)}, context {model.context_window} tokens)")
        elif name == "/approve" and arg in ("on", "off", ""):
            if arg:
                self.set_approval(arg == "on")
            self.console.print(f"approval is {'on' if self.approving else 'off'}")
        else:
            self.console.print(f"unknown command {shown(line)}; /help lists them")
        return True

    def show_plan(self) -> None:
        run = self.session.last_run
        if run is None or not run.plan:
            self.console.print("no plan yet" if run is None else "the last run had no plan")
            return
        self.console.print(f"[bold]plan[/] of run {run.run_id}")
        for index, step in enumerate(run.plan, start=1):
            mark = escape(f"[{MARK[step.status]}]")
            self.console.print(f"  {mark} {index}. {shown(step.text)}  [dim]{step.status}[/]")

    def show_runs(self, limit: int = 10) -> None:
        table = Table()
        table.add_column("id", no_wrap=True, min_width=22)  # an id is never cut: it is what you copy
        table.add_column("status", no_wrap=True)
        table.add_column("steps")
        table.add_column("goal", no_wrap=True, overflow="ellipsis", ratio=1)
        store = self.agent.store
        for run_id in store.list_ids()[:limit]:
            row = summarize(store.load(run_id), store.is_running(run_id))
            table.add_row(row["id"], status_text(row), str(row["steps"]), shown(_first_line(row["goal"])))
        self.console.print(table if table.row_count else "no runs yet")

    def _ask(self, prompt: str) -> str:
        return self.live.paused(lambda: self.console.input(escape(prompt)))


def chat_command(
    workspace: Annotated[Path, typer.Option(help="folder the agent works in")] = Path("."),
    model: ModelOpt = "default",
    adapter: AdapterOpt = None,
    sandbox: SandboxOpt = SandboxKind.AUTO,
    unsafe_local: Annotated[bool, typer.Option(help="allow the local sandbox without isolation")] = False,
    shell: Annotated[bool, typer.Option(help="offer the run_shell tool")] = False,
    plan: Annotated[bool, typer.Option(help="ask the model for a short plan first")] = False,
    max_steps: Annotated[int, typer.Option(min=1, help="most model decisions per goal")] = 12,
    action_format: ActionFormatOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    runs_dir: RunsDir = None,
    approve: Annotated[bool, typer.Option("--approve/--no-approve",
                                          help="ask before writing files or running code")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show full arguments and outputs")] = False,
    mcp: McpOpt = None,
    mcp_config: McpConfigOpt = None,
    mcp_cwd: McpCwdOpt = None,
) -> None:
    """An interactive session: type goals, follow-ups and /commands; the agent works in one workspace.
    MCP servers run for the whole session."""
    console = Console()
    check_inputs(device_problem(device), dtype_problem(dtype))
    workspace = workspace.resolve()
    if not workspace.is_dir():
        fail(f"workspace {workspace} is not a directory")
    mcp_servers, mcp_file = mcp_settings(mcp, mcp_config, mcp_cwd)
    config = AgentConfig(workspace=workspace, budget=Budget(max_steps=max_steps), plan=plan, shell=shell,
                         sandbox=sandbox, mcp=mcp_servers, mcp_config=mcp_file,
                         action_format=action_format_for(action_format, model),
                         worked_examples=worked_examples_for(None, model, adapter))
    config.sandbox_config.unsafe_local = unsafe_local
    with mcp_registry(config, console) as tools:
        _session(console, config, tools, model, device, dtype, runs_dir, approve, verbose, adapter)


def _session(console: Console, config: AgentConfig, tools: ToolRegistry | None, model: str, device: str,
             dtype: str, runs_dir: Path | None, approve: bool, verbose: bool, adapter: Path | None = None) -> None:
    try:
        with console.status(f"loading model {model} ..."):
            chat_model = load_model(model, device=device, dtype=dtype, adapter=adapter)
    except ModelSetupError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    _enable_line_editing()
    agent = Agent(chat_model, config=config, tools=tools, store=RunStore(runs_dir), model_spec=model,
                  adapter=str(adapter.resolve()) if adapter else "")
    raise typer.Exit(Chat(console, agent, approve, verbose).loop())


def _enable_line_editing() -> None:
    """Arrow keys and history at the prompt, where the platform has readline."""
    try:
        import readline  # noqa: F401 - importing it is what makes input() use it
    except ImportError:
        pass
