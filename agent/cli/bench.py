"""`autogpt bench SUITE.jsonl`: run a task suite and show (and optionally save) the report."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
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
from agent.cli.options import (
    ModelOpt,
    RayAddressOpt,
    RayFlag,
    RetriesOpt,
    SandboxOpt,
    WorkerCpusOpt,
    WorkerMemoryOpt,
    fail,
    open_worker_pool,
    ray_settings,
)
from agent.config import AgentConfig
from agent.scale.executor import WorkerOptions
from agent.scale.runner import GoalRunner
from agent.store import RunStore
from sandbox.base import SandboxConfig, SandboxKind


def bench_command(
    suite: Annotated[Path, typer.Argument(help="JSONL file, one task per line")],
    model: ModelOpt = "default",
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
    ray: RayFlag = False,
    ray_address: RayAddressOpt = "",
    worker_cpus: WorkerCpusOpt = None,
    worker_memory: WorkerMemoryOpt = "",
    retries: RetriesOpt = 2,
) -> None:
    """Run the agent on every task of SUITE, check each result, and report pass rate, steps and time."""
    console = Console()
    try:
        tasks = select_tasks(load_suite(suite), only, limit)
    except SuiteError as exc:
        fail(str(exc))
    settings = BenchSettings(model=model, sandbox=sandbox, task_seconds=task_seconds,
                             check_seconds=check_seconds, runs_dir=runs_dir, keep_workspaces=keep_workspaces,
                             extra_args=("--unsafe-local",) if unsafe_local else ())
    on_ray = ray_settings(ray, ray_address, worker_cpus, worker_memory)
    pool = runner = None
    if on_ray is not None:  # one model per actor, loaded before the first task
        pool = open_worker_pool(console, workers, WorkerOptions(model), on_ray)
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
            base = AgentConfig(sandbox=sandbox, sandbox_config=SandboxConfig(unsafe_local=unsafe_local))
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
    table = Table(title=f"{report.suite}  ·  model {report.model}  ·  sandbox {report.sandbox}")
    for name, justify in [("task", "left"), ("pass", "center"), ("status", "left"), ("steps", "right"),
                          ("tokens in/out", "right"), ("seconds", "right"), ("answer", "left")]:
        table.add_column(name, justify=justify, overflow="fold" if name in ("task", "answer") else "ellipsis")
    for r in report.tasks:
        answer = (r.answer or r.error).replace("\n", " ")
        table.add_row(escape(r.id), "[green]✓[/]" if r.passed else "[red]✗[/]", r.status, str(r.steps),
                      f"{r.tokens_in}/{r.tokens_out}", f"{r.seconds:.1f}",
                      escape(answer[:80] + ("…" if len(answer) > 80 else "")))
    return table


def _result_line(r: TaskResult) -> str:
    mark = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
    return f"{mark} {escape(r.id)}  [dim]{r.status}, {r.steps} steps, {r.seconds:.1f} s[/]"


def _totals_line(report: BenchReport) -> str:
    t = report.totals
    extra = "".join(f", {n} {what}" for n, what in [(t.crashed, "crashed"), (t.timed_out, "timed out")] if n)
    return (f"[bold]{t.passed}/{t.tasks} passed ({t.pass_rate:.0%})[/]{extra}; median {t.median_steps:g} "
            f"steps, {t.median_tokens:g} tokens, {t.median_seconds:g} s per task; "
            f"wall {report.wall_seconds:.0f} s with {report.workers} worker(s)")
