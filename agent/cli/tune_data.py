"""`autogpt tune-data`: generate the seeded training data set (verified trajectories), optionally with the
user's own successful runs, and report what was kept and dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.cli.options import ActionFormatOpt, JsonFlag, RunsDir, SandboxOpt, action_format_for, fail
from sandbox.base import SandboxKind


def tune_data_command(
    out: Annotated[Path | None, typer.Option(help="where to write the JSONL data (default "
                                             "$AUTOGPT_HOME/tune/data-seed<SEED>.jsonl)")] = None,
    seed: Annotated[int, typer.Option(help="the data set's seed: the same seed gives the same data")] = 0,
    tasks: Annotated[int, typer.Option(min=0, help="training tasks drawn per family")] = 40,
    heldout_tasks: Annotated[int, typer.Option(min=0, help="held-out tasks per family (own wordings and "
                                               "content; split \"heldout\" in the file)")] = 4,
    families: Annotated[str, typer.Option(help="comma-separated families (default: all)")] = "",
    name_variety: Annotated[float, typer.Option(min=0.0, max=1.0, help="the share of file and module names "
                                                "drawn from a large pool of unusual ones instead of the "
                                                "names such a task usually has (0: the usual names only)")] = 0.0,
    send_back_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="the share of tasks that write a "
                                                   "file also drawn as a recovery: the file written under "
                                                   "another name, finish sent back (--finish-checks), the "
                                                   "right file written")] = 0.0,
    function_variety: Annotated[float, typer.Option(min=0.0, max=1.0, help="the share of functions to "
                                                    "write or repair drawn from a pool four times larger "
                                                    "(0: the original pool only)")] = 0.0,
    look_first: Annotated[float, typer.Option(min=0.0, max=1.0, help="the share of CSV and JSON tasks that "
                                              "read the file before the code that computes on it, with "
                                              "JSON documents in several layouts (0: straight to the code)")] = 0.0,
    worked_examples: Annotated[int, typer.Option(min=0, help="worked examples in each prompt, as the tuned "
                                                 "model will run")] = 0,
    action_format: ActionFormatOpt = None,
    sandbox: SandboxOpt = SandboxKind.LOCAL,
    from_runs: Annotated[bool, typer.Option("--from-runs", help="add your own successful runs (from "
                                            "--runs-dir) as examples")] = False,
    runs_dir: RunsDir = None,
    json_output: JsonFlag = False,
) -> None:
    """Generate training examples: every trajectory is replayed through the real tools and sandbox and kept
    only when it verifies; nothing that overlaps held-out evaluation text is kept."""
    from agent.tune.dataset import DatasetError, GenerationSettings, default_data_path, generate, write_examples
    from agent.tune.families import FAMILIES
    from agent.tune.replay import ReplaySettings

    chosen = tuple(f.strip() for f in families.split(",") if f.strip()) or tuple(FAMILIES)
    if unknown := [f for f in chosen if f not in FAMILIES]:
        fail(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
             f"choose from {', '.join(FAMILIES)}")
    _check_sandbox(sandbox)
    console = Console(stderr=json_output)
    text = _model_text()
    settings = GenerationSettings(seed=seed, tasks=tasks, heldout_tasks=heldout_tasks, families=chosen,
                                  name_variety=name_variety, send_back_share=send_back_share,
                                  function_variety=function_variety, look_first=look_first,
                                  replay=ReplaySettings(worked_examples=worked_examples, sandbox=sandbox,
                                                        action_format=action_format_for(action_format, "")))
    with Progress(TextColumn("[bold]tune-data[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console) as progress:
        bar = progress.add_task("", total=len(chosen) * (tasks + heldout_tasks))
        examples, report = generate(settings, text, on_task=lambda planned, reason: progress.update(
            bar, advance=1, description=f"{planned.family}: {'dropped' if reason else 'kept'}"))
    summary = report.to_json()
    if from_runs:
        from agent.tune.runs import extract_runs

        try:
            extraction = extract_runs(runs_dir, text, worked_examples=worked_examples)
        except DatasetError as exc:
            fail(str(exc))
        examples += extraction.examples
        for line in extraction.skipped:
            console.print(f"[yellow]skipped[/] {escape(line)}")
        summary["runs"] = {"runs": extraction.runs, "successful": extraction.successful,
                           "used": len(extraction.used), "examples": len(extraction.examples),
                           "skipped": extraction.skipped}
    path = out or default_data_path(seed)
    summary["out"], summary["examples"] = str(path), write_examples(examples, path)
    if json_output:
        typer.echo(json.dumps(summary))
        return
    console.print(_table(summary))
    console.print(f"[bold]{summary['examples']} examples[/] written to {escape(str(path))} in "
                  f"{summary['seconds']:.0f} s")


def _check_sandbox(kind: SandboxKind) -> None:
    from sandbox.base import SandboxConfig
    from sandbox.factory import unavailable_reason

    if (problem := unavailable_reason(kind, SandboxConfig())) is not None:
        fail(problem)


def _model_text():
    from agent.llm.base import ModelSetupError
    from agent.tune.replay import ModelText

    try:
        return ModelText.load("default")
    except ModelSetupError as exc:
        fail(str(exc))


def _table(summary: dict) -> Table:
    table = Table(title=f"training data, seed {summary['seed']}")
    for name in ("family", "split", "tasks", "kept", "recoveries", "dropped", "examples", "tokens/example",
                 "max tokens"):
        table.add_column(name, justify="left" if name in ("family", "split", "dropped") else "right")
    for split in ("train", "heldout"):
        for family, r in summary[split].items():
            dropped = ", ".join(f"{n} {why}" for why, n in r["dropped"].items()) or "-"
            per = r["tokens"] // r["examples"] if r["examples"] else 0
            table.add_row(family, split, str(r["tasks"]), str(r["verified"]), str(r["recoveries"]), dropped,
                          str(r["examples"]), str(per), str(r["max_tokens"]))
    return table
