"""`autogpt tune-eval SUITE...`: base vs tuned (or any arms) on held-out suites through `autogpt bench`, in one
table: pass rate, median steps and median seconds per task for each suite and arm."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.cli.options import JsonFlag, SandboxOpt, fail
from sandbox.base import SandboxKind


def tune_eval_command(
    suites: Annotated[list[Path], typer.Argument(help="suite files (JSONL), e.g. examples/suites/heldout.jsonl")],
    arm: Annotated[list[str] | None, typer.Option("--arm", help="NAME=BENCH_OPTIONS, repeatable, e.g. "
                                                  "--arm base='--model base' --arm tuned='--model default' "
                                                  "(default: one arm, default='--model default')")] = None,
    out_dir: Annotated[Path, typer.Option(help="where each bench's report and log, and evaluation.json, go")]
    = Path("tune-eval"),
    workers: Annotated[int, typer.Option(min=1, help="tasks each bench runs at once")] = 1,
    side_by_side: Annotated[bool, typer.Option("--side-by-side", help="run a suite's arms at the same time, "
                                               "so that they share the machine's load alike")] = False,
    only: Annotated[str, typer.Option(help="only tasks whose id matches this glob")] = "",
    limit: Annotated[int, typer.Option(min=0, help="at most this many tasks per suite (0: all)")] = 0,
    sandbox: SandboxOpt = SandboxKind.AUTO,
    task_seconds: Annotated[float, typer.Option(min=1, help="wall-clock budget of each run")] = 600.0,
    json_output: JsonFlag = False,
) -> None:
    """Run every suite under every arm with the real `autogpt bench` and compare them in one table."""
    import json

    from agent.tune.evaluator import (
        DEFAULT_ARMS,
        Arm,
        EvalSettings,
        EvaluationError,
        Row,
        evaluate,
        write_evaluation,
    )

    if missing := [str(s) for s in suites if not s.is_file()]:
        fail(f"no such suite file: {', '.join(missing)}")
    try:
        arms = tuple(Arm.parse(a) for a in arm) if arm else DEFAULT_ARMS
    except ValueError as exc:
        fail(str(exc))
    if len({a.name for a in arms}) != len(arms):
        fail("two arms have the same name")
    settings = EvalSettings(tuple(suites), arms, out_dir, workers, only, limit,
                            ("--sandbox", str(sandbox), "--task-seconds", f"{task_seconds:g}"), side_by_side)
    console = Console(stderr=json_output)

    def show(row: Row) -> None:
        console.print(f"[bold]{escape(row.arm)}[/] on {escape(row.suite)}: {row.passed}/{row.tasks} passed, "
                      f"median {row.median_steps:g} steps, {row.median_seconds:g} s per task")

    try:
        evaluation = evaluate(settings, on_row=show)
    except EvaluationError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: the reports so far are in {escape(str(out_dir))}")
        raise typer.Exit(130) from None
    write_evaluation(evaluation, out_dir / "evaluation.json")
    if json_output:
        typer.echo(json.dumps(evaluation.to_json()))
        return
    console.print(_table(evaluation.rows))
    for suite, pairs in evaluation.to_json()["flips"].items():
        for side, ids in pairs.items():
            if ids:
                console.print(f"[dim]{escape(suite)}, {escape(side)}:[/] {escape(', '.join(ids))}")
    console.print(f"[dim]evaluation written to {escape(str(out_dir / 'evaluation.json'))} "
                  f"({evaluation.wall_seconds:.0f} s)[/]")


def _table(rows) -> Table:
    table = Table(title="held-out evaluation")
    for name in ("suite", "arm", "passed", "pass rate", "median steps", "median s/task", "crashed/timeout"):
        table.add_column(name, justify="left" if name in ("suite", "arm") else "right")
    for r in rows:
        table.add_row(escape(Path(r.suite).name), escape(r.arm), f"{r.passed}/{r.tasks}"
                      + ("" if r.complete else " (partial)"), f"{r.pass_rate:.0%}", f"{r.median_steps:g}",
                      f"{r.median_seconds:g}", f"{r.crashed}/{r.timed_out}")
    return table
