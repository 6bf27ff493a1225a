"""`autogpt bench SUITE.jsonl`: run a task suite and show (and optionally save) the report."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.bench import (
    Bench,
    BenchReport,
    BenchSettings,
    SuiteError,
    SuiteTask,
    TaskResult,
    load_suite,
    make_report,
    pool_run_task,
    report_json,
)
from agent.cli.batch import retry_line
from agent.cli.mcp_tools import mcp_settings
from agent.cli.options import (
    ActionFormatOpt,
    AdapterOpt,
    AttemptsOpt,
    KeepInputsOpt,
    McpConfigOpt,
    McpCwdOpt,
    McpOpt,
    ModelOpt,
    PythonSessionOpt,
    RayAddressOpt,
    RayFlag,
    RetriesOpt,
    SandboxOpt,
    SeedOpt,
    TemperatureOpt,
    WorkerCpusOpt,
    WorkerMemoryOpt,
    action_format_for,
    fail,
    finish_checks_for,
    open_worker_pool,
    ray_settings,
    worked_examples_for,
)
from agent.cli.render import shown
from agent.config import AgentConfig
from agent.scale.executor import WorkerOptions
from agent.scale.runner import GoalRunner
from agent.store import RunStore
from sandbox.base import SandboxConfig, SandboxKind
from tools.mcp_config import McpServerConfig


def bench_command(
    suite: Annotated[Path, typer.Argument(help="JSONL file, one task per line")],
    model: ModelOpt = "default",
    adapter: AdapterOpt = None,
    sandbox: SandboxOpt = SandboxKind.AUTO,
    workers: Annotated[int, typer.Option(min=1, help="tasks run at once: each in its own `autogpt run` "
                                         "process, or with --ray on a pool of this many actors")] = 1,
    out: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    only: Annotated[str, typer.Option(help="run only tasks whose id matches this glob, e.g. 'csv-*'")] = "",
    limit: Annotated[int, typer.Option(min=0, help="run at most this many tasks (0: all)")] = 0,
    task_seconds: Annotated[float, typer.Option(min=1, help="wall-clock budget of each run")] = 600.0,
    check_seconds: Annotated[float, typer.Option(min=1, help="time limit of each check command")] = 60.0,
    unsafe_local: Annotated[bool, typer.Option(help="allow the local sandbox without isolation")] = False,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="where the runs are recorded")] = None,
    keep_workspaces: Annotated[bool, typer.Option(help="keep each task's workspace to look at")] = False,
    mcp: McpOpt = None,
    mcp_config: McpConfigOpt = None,
    mcp_cwd: McpCwdOpt = None,
    action_format: ActionFormatOpt = None,
    python_session: PythonSessionOpt = True,
    keep_inputs: KeepInputsOpt = True,
    worked_examples: Annotated[int | None, typer.Option(min=0, help="worked example runs shown before each "
                                                        "goal (default: the run's own default)")] = None,
    finish_checks: Annotated[int | None, typer.Option(min=0, help="send finish back this many times while a "
                                                      "file the goal asks to write is missing (default: the "
                                                      "run's own default)")] = None,
    temperature: TemperatureOpt = 0.0,
    seed: SeedOpt = 0,
    attempts: AttemptsOpt = None,
    ray: RayFlag = False,
    ray_address: RayAddressOpt = "",
    worker_cpus: WorkerCpusOpt = None,
    worker_memory: WorkerMemoryOpt = "",
    retries: RetriesOpt = 2,
) -> None:
    """Run the agent on every task of SUITE, check each result, and report pass rate, steps and time.
    Each task's run starts the MCP servers given here for itself."""
    console = Console()
    try:
        tasks = select_tasks(load_suite(suite), only, limit)
    except SuiteError as exc:
        fail(str(exc))
    if adapter is not None and not adapter.is_dir():
        fail(f"adapter {adapter} is not a directory (give the folder `autogpt tune --out` wrote)")
    extra = (("--unsafe-local",) if unsafe_local else ()) + (
        ("--worked-examples", str(worked_examples)) if worked_examples is not None else ()) + (
        ("--finish-checks", str(finish_checks)) if finish_checks is not None else ()) + (
        ("--temperature", f"{temperature:g}") if temperature else ()) + (("--seed", str(seed)) if seed else ()) + (
        ("--attempts", str(attempts)) if attempts is not None else ())
    settings = BenchSettings(model=model, adapter=adapter, sandbox=sandbox, task_seconds=task_seconds,
                             check_seconds=check_seconds, runs_dir=runs_dir, keep_workspaces=keep_workspaces,
                             extra_args=extra + mcp_run_args(mcp, mcp_config, mcp_cwd)
                             + (("--action-format", action_format.value) if action_format else ())
                             + (() if python_session else ("--no-python-session",))
                             + (() if keep_inputs else ("--no-keep-inputs",)))
    on_ray = ray_settings(ray, ray_address, worker_cpus, worker_memory)
    if on_ray is not None and attempts is not None and attempts > 1:
        fail("--attempts runs each task's attempts in its own `autogpt run` process: drop --ray to use it")
    pool = runner = base = None
    if on_ray is not None:  # one model per actor, loaded before the first task
        base = actor_run_config(sandbox, unsafe_local, mcp_settings(mcp, mcp_config, mcp_cwd),
                                action_format_for(action_format, model), python_session,
                                worked_examples_for(worked_examples, model, adapter),
                                finish_checks_for(finish_checks, model, adapter)
                                ).model_copy(update={"temperature": temperature, "seed": seed,
                                                     "keep_inputs": keep_inputs})
        pool = open_worker_pool(console, workers, WorkerOptions(model, adapter=_adapter_path(adapter)), on_ray)
    finished: list[TaskResult] = []
    started = datetime.now(UTC)
    with Progress(TextColumn("[bold]bench[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console) as progress:
        bar = progress.add_task("", total=len(tasks))

        def show(result: TaskResult) -> None:
            finished.append(result)
            progress.console.print(_result_line(result))
            progress.update(bar, advance=1, description=f"last: {result.id}")
            if out is not None:  # the file always holds what was measured so far
                _write(out, make_report(finished, tasks, bench, str(suite), started))

        run_task = None
        if pool is not None:
            runner = GoalRunner(pool, RunStore(runs_dir), retries=retries,
                                on_retry=lambda retry: progress.console.print(retry_line(retry)))
            run_task = pool_run_task(runner.run, base)
        bench = Bench(settings, run_task=run_task, workers=workers, on_result=show)
        try:
            report = make_report(bench.run(tasks), tasks, bench, str(suite), started)
        except KeyboardInterrupt:
            report = make_report(finished, tasks, bench, str(suite), started)
        finally:
            if pool is not None:
                pool.close()
    console.print(report_table(report))
    console.print(_totals_line(report))
    if pool is not None:
        console.print(f"[dim]{pool.loads} model load(s) in {pool.size} {pool.kind}"
                      + (f"; retried after an actor died: {', '.join(sorted(runner.retried))}[/]"
                         if runner is not None and runner.retried else "[/]"))
    if out is not None:
        _write(out, report)
        console.print(f"[dim]report written to {out}[/]")
    if not report.complete:
        console.print(f"[yellow]interrupted[/]: {len(report.tasks)} of {report.planned} tasks ran")
        raise typer.Exit(130)


def actor_run_config(sandbox: SandboxKind, unsafe_local: bool, mcp: tuple[list[McpServerConfig], Path | None],
                     action_format: str, python_session: bool, worked_examples: int | None,
                     finish_checks: int = 0) -> AgentConfig:
    """What each task's run on an actor is given: the options an `autogpt run` of the task would get."""
    config = AgentConfig(sandbox=sandbox, mcp=mcp[0], mcp_config=mcp[1], action_format=action_format,
                         finish_checks=finish_checks,
                         sandbox_config=SandboxConfig(unsafe_local=unsafe_local, python_session=python_session))
    return config if worked_examples is None else config.model_copy(update={"worked_examples": worked_examples})


def _adapter_path(adapter: Path | None) -> str:
    return str(adapter.resolve()) if adapter is not None else ""


def mcp_run_args(commands: list[str] | None, config_file: Path | None, cwd: Path | None) -> tuple[str, ...]:
    """The `autogpt run` options that give each task the same MCP servers (checked here, once)."""
    servers, config_path = mcp_settings(commands, config_file, cwd)
    if not servers and config_path is None:
        return ()
    args = [arg for text in commands or [] for arg in ("--mcp", text)]
    if config_path is not None:
        args += ["--mcp-config", str(config_path)]
    return (*args, "--mcp-cwd", str((cwd or Path.cwd()).resolve()))


def _write(out: Path, report: BenchReport) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".partial")
    temporary.write_text(report_json(report), encoding="utf-8")
    temporary.replace(out)


def select_tasks(tasks: list[SuiteTask], only: str, limit: int) -> list[SuiteTask]:
    chosen = [t for t in tasks if not only or fnmatch.fnmatchcase(t.id, only)]
    if not chosen:
        raise SuiteError(f"no task id matches {only!r}")
    return chosen[:limit] if limit else chosen


def report_table(report: BenchReport) -> Table:
    adapter = f" + adapter {report.adapter}" if report.adapter else ""
    table = Table(title=f"{report.suite}  ·  model {report.model}{adapter}  ·  sandbox {report.sandbox}")
    for name, justify in [("task", "left"), ("pass", "center"), ("status", "left"), ("steps", "right"),
                          ("tokens in/out", "right"), ("seconds", "right"), ("answer", "left")]:
        table.add_column(name, justify=justify, overflow="fold" if name in ("task", "answer") else "ellipsis")
    for r in report.tasks:
        answer = (r.answer or r.error).replace("\n", " ")
        table.add_row(shown(r.id), "[green]✓[/]" if r.passed else "[red]✗[/]", r.status, str(r.steps),
                      f"{r.tokens_in}/{r.tokens_out}", f"{r.seconds:.1f}",
                      shown(answer[:80] + ("…" if len(answer) > 80 else "")))
    return table


def _result_line(r: TaskResult) -> str:
    mark = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
    return f"{mark} {shown(r.id)}  [dim]{r.status}, {r.steps} steps, {r.seconds:.1f} s[/]"


def _totals_line(report: BenchReport) -> str:
    t = report.totals
    extra = "".join(f", {n} {what}" for n, what in [(t.crashed, "crashed"), (t.timed_out, "timed out")] if n)
    return (f"[bold]{t.passed}/{t.tasks} passed ({t.pass_rate:.0%})[/]{extra}; median {t.median_steps:g} "
            f"steps, {t.median_tokens:g} tokens, {t.median_seconds:g} s per task; "
            f"wall {report.wall_seconds:.0f} s with {report.workers} worker(s)")
