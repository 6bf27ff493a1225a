"""`autogpt batch GOALS.jsonl`: many goals on a pool of workers (processes here, or Ray actors), results as
JSONL in input order, progress live on stderr."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.batch import Batch, BatchGoal, BatchSettings, BatchSummary, GoalResult, load_goals, summarize
from agent.bench import SuiteError
from agent.cli.options import (
    ActionFormatOpt,
    AdapterOpt,
    DeviceOpt,
    DtypeOpt,
    ModelOpt,
    PythonSessionOpt,
    RayAddressOpt,
    RayFlag,
    RetriesOpt,
    RunsDir,
    SandboxOpt,
    WorkerCpusOpt,
    WorkerMemoryOpt,
    action_format_for,
    fail,
    open_worker_pool,
    ray_settings,
    worked_examples_for,
)
from agent.scale.executor import WorkerOptions
from agent.scale.runner import GoalRunner, Retry
from agent.store import RunStore, default_runs_dir, new_run_id
from sandbox.base import SandboxConfig, SandboxKind
from sandbox.factory import unavailable_reason


def batch_command(
    goals_file: Annotated[Path, typer.Argument(metavar="GOALS.jsonl", help="JSONL file, one goal per line: "
                                               '{"id", "goal", "workspace"?, "files"?, "max_steps"?}')],
    out: Annotated[Path | None, typer.Option(help="write the results here as JSONL, in input order, as goals "
                                             "finish (default: print them on stdout at the end)")] = None,
    model: ModelOpt = "default",
    adapter: AdapterOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    workers: Annotated[int, typer.Option(min=1, help="goals run at once, each worker loading the model once "
                                         "(worker processes, or Ray actors with --ray)")] = 1,
    ray: RayFlag = False,
    ray_address: RayAddressOpt = "",
    worker_cpus: WorkerCpusOpt = None,
    worker_memory: WorkerMemoryOpt = "",
    retries: RetriesOpt = 2,
    max_steps: Annotated[int, typer.Option(min=1, help="step limit of goals that do not set max_steps")] = 12,
    max_seconds: Annotated[float, typer.Option(min=1, help="wall-clock budget of each goal")] = 900.0,
    sandbox: SandboxOpt = SandboxKind.AUTO,
    unsafe_local: Annotated[bool, typer.Option(help="allow the local sandbox without isolation")] = False,
    action_format: ActionFormatOpt = None,
    python_session: PythonSessionOpt = True,
    worked_examples: Annotated[int | None, typer.Option(min=0, help="worked example runs shown before the goal "
                                                        "(default: none for a tuned model, 2 for others)")] = None,
    workspaces: Annotated[Path | None, typer.Option(help="where fresh workspaces are made, one folder per "
                                                    "goal (default $AUTOGPT_HOME/batches/BATCH_ID)")] = None,
    runs_dir: RunsDir = None,
) -> None:
    """Run every goal of GOALS.jsonl in its own workspace; each run is recorded, and resumed if its worker dies."""
    console = Console(stderr=True)
    try:
        goals = load_goals(goals_file)
    except SuiteError as exc:
        fail(str(exc))
    if (problem := unavailable_reason(sandbox, SandboxConfig(unsafe_local=unsafe_local))) is not None:
        fail(problem)
    settings = BatchSettings(workspaces=(workspaces or default_runs_dir().parent / "batches" / new_run_id()),
                             base_dir=goals_file.resolve().parent, max_steps=max_steps, max_seconds=max_seconds,
                             sandbox=sandbox, unsafe_local=unsafe_local,
                             action_format=action_format_for(action_format, model), python_session=python_session,
                             worked_examples=worked_examples_for(worked_examples, model, adapter))
    on_ray = ray_settings(ray, ray_address, worker_cpus, worker_memory)
    if adapter is not None and not adapter.is_dir():
        fail(f"adapter {adapter} is not a directory (give the folder `autogpt tune --out` wrote)")
    options = WorkerOptions(model, device, dtype, adapter=str(adapter.resolve()) if adapter is not None else "")
    pool = open_worker_pool(console, workers, options, on_ray)
    started = time.monotonic()
    finished: list[GoalResult] = []
    stopped = threading.Event()  # after Ctrl-C: goals that end because their worker was stopped are not results
    try:
        with _progress(console) as progress:
            bar = progress.add_task("", total=len(goals))

            def show(result: GoalResult) -> None:
                if stopped.is_set():
                    return
                finished.append(result)
                progress.console.print(result_line(result))
                progress.update(bar, advance=1, description=f"last: {escape(result.id)}")
                if out is not None:  # the file always holds every result so far, in input order
                    write_results(out, finished, goals)

            def retrying(retry: Retry) -> None:
                progress.console.print(retry_line(retry))

            runner = GoalRunner(pool, RunStore(runs_dir), retries=retries, on_retry=retrying)
            results = Batch(runner, settings, on_result=show).run(goals)
    except KeyboardInterrupt:
        stopped.set()
        pool.close()
        _report(console, finished, goals, out, time.monotonic() - started, f"{pool.size} {pool.kind}")
        console.print(f"[yellow]interrupted[/]: {len(finished)} of {len(goals)} goals ran; an unfinished run "
                      "goes on with `autogpt resume RUN_ID` (`autogpt runs list`)")
        raise typer.Exit(130) from None
    pool.close()
    _report(console, results, goals, out, time.monotonic() - started, f"{pool.size} {pool.kind}")
    console.print(f"[dim]workspaces: {settings.workspaces}[/]")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]batch[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.description}"), console=console)


def _report(console: Console, results: list[GoalResult], goals: list[BatchGoal], out: Path | None,
            wall_seconds: float, workers: str) -> None:
    if out is not None:
        write_results(out, results, goals)
    else:
        order = {goal.id: i for i, goal in enumerate(goals)}
        for result in sorted(results, key=lambda r: order[r.id]):
            sys.stdout.write(result.to_json() + "\n")
        sys.stdout.flush()
    console.print(summary_line(summarize(results, wall_seconds), workers))
    if out is not None:
        console.print(f"[dim]results written to {out}[/]")


def write_results(out: Path, results: list[GoalResult], goals: list[BatchGoal]) -> None:
    order = {goal.id: i for i, goal in enumerate(goals)}
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".partial")
    lines = [r.to_json() + "\n" for r in sorted(results, key=lambda r: order[r.id])]
    temporary.write_text("".join(lines), encoding="utf-8")
    temporary.replace(out)


def result_line(r: GoalResult) -> str:
    colour = {"done": "green", "crashed": "red"}.get(r.status, "yellow")
    retried = f", retried {r.retried}x" if r.retried else ""
    tail = (r.answer or r.reason).replace("\n", " ")
    tail = tail[:70] + ("…" if len(tail) > 70 else "")
    return (f"[{colour}]{r.status}[/] {escape(r.id)}  [dim]{r.steps} steps, {r.seconds:.1f} s{retried}, "
            f"run {r.run_id or '-'}[/]  {escape(tail)}")


def retry_line(retry: Retry) -> str:
    where = f"resuming run {retry.run_id} after step {retry.resume_step}" if retry.resume_step else "starting over"
    return f"[yellow]retry[/] {escape(retry.goal_id)}: {escape(retry.reason)}; {where}"


def summary_line(summary: BatchSummary, workers: str) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.by_status.items()))
    retried = ("; retried: " + ", ".join(f"{escape(goal)} ({n}x)" for goal, n in summary.retried.items())
               if summary.retried else "; nothing retried")
    return (f"[bold]{summary.goals} goals[/]: {counts or 'none ran'}{retried}; wall {summary.wall_seconds:.0f} s "
            f"on {workers}")
