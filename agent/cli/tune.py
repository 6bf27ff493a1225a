"""`autogpt tune`: train a LoRA adapter of the local model on verified trajectories, with a live progress bar.

    autogpt tune [--data FILE.jsonl] [--from-runs [RUNS_DIR]] [--out DIR] [--epochs N] [--rank R]
                 [--device auto|cpu|cuda] [--resume] [--from-adapter DIR|default]

Writes an adapter folder that `--adapter DIR` runs on top of the model (run, chat, bench, serve), with its
loss curve (loss.png). A killed run continues from its last checkpoint with the same command and `--resume`.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agent.cli.options import JsonFlag, fail
from agent.llm.base import ModelSetupError

FROM_RUNS = "--from-runs"
LOSS_CURVE = "loss.png"


def tune_command(
    data: Annotated[Path | None, typer.Option("--data", help="training data: JSONL, one example a line "
                                              "(docs/tuning.md)")] = None,
    from_runs: Annotated[str | None, typer.Option(FROM_RUNS, metavar="[RUNS_DIR]", help="also learn from the "
                                                  "successful runs in RUNS_DIR (default $AUTOGPT_HOME/runs)")] = None,
    out: Annotated[Path, typer.Option("--out", help="adapter folder to write")] = Path("adapter"),
    epochs: Annotated[int, typer.Option(min=1, help="passes over the data")] = 2,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank (alpha is twice the rank)")] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="continue from the checkpoint in --out")] = False,
    model: Annotated[str, typer.Option(help="the model to tune: default/base (the embedded model), a model "
                                       "directory or a .gguf file")] = "default",
    batch_size: Annotated[int, typer.Option(min=1, help="examples per step")] = 8,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="peak learning rate (AdamW)")] = 3e-4,
    max_tokens: Annotated[int, typer.Option(min=16, help="longest example in tokens (longer ones are "
                                            "skipped)")] = 1024,
    seed: Annotated[int, typer.Option(help="seed of the data order and the adapter's initialization")] = 0,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="steps between checkpoints")] = 25,
    from_adapter: Annotated[str | None, typer.Option("--from-adapter", metavar="DIR|default", help="start from "
                                                     "this adapter's weights (default: the shipped one) and tune "
                                                     "it further")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Train a LoRA adapter of the local model on training data and/or your successful runs."""
    from agent.tune.model import TuneError, TuneSettings

    if data is None and from_runs is None:
        fail(f"give training data: --data FILE.jsonl and/or {FROM_RUNS} [RUNS_DIR]")
    if missing := [name for name in ("peft", "matplotlib") if importlib.util.find_spec(name) is None]:
        fail(f"autogpt tune needs {' and '.join(missing)}: pip install 'autogpt-local[tune]'")
    console = Console(stderr=json_output)
    settings = TuneSettings(epochs=epochs, rank=rank, alpha=2 * rank, learning_rate=learning_rate,
                            batch_size=batch_size, max_tokens=max_tokens, seed=seed,
                            checkpoint_every=checkpoint_every)
    base, tokenizer = _base_model(model)
    _check_out(out, base)
    start_from = _start_adapter(from_adapter)
    encoded = _encoded_data(console, tokenizer, data, from_runs, max_tokens)
    try:
        finished = _train_with_progress(console, encoded, base, out, settings, device, resume, tokenizer,
                                        start_from)
    except TuneError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: continue with the same command and --resume (checkpoints in "
                      f"{out / 'checkpoint'})")
        raise typer.Exit(130) from None
    _report(console, finished, json_output)


def with_optional_values(argv: list[str]) -> list[str]:
    """`autogpt tune --from-runs` may be given without RUNS_DIR (then it means the default store): the command
    line's parser takes a value after every option, so a bare one becomes `--from-runs=` (the empty value: the
    default). Only `tune`'s arguments are touched (`tune-data --from-runs` is a plain flag)."""
    if not argv or argv[0] != "tune":
        return list(argv)
    out = []
    for i, arg in enumerate(argv):
        following = argv[i + 1] if i + 1 < len(argv) else None
        bare = arg == FROM_RUNS and (following is None or following.startswith("-"))
        out.append(f"{FROM_RUNS}=" if bare else arg)
    return out


def _base_model(spec: str) -> tuple[Any, Any]:
    from agent.llm import OPENAI_PREFIX
    from agent.llm.chat_tokenizer import ChatTokenizer
    from agent.llm.loading import float_checkpoint, resolve_model
    from agent.tune.model import BaseCheckpoint

    if spec.startswith(OPENAI_PREFIX):
        fail("tune trains a local model: give default, base, a model directory or a .gguf file")
    try:
        source = resolve_model(spec)
        directory = float_checkpoint(source)
    except ModelSetupError as exc:
        fail(str(exc))
    tokenizer = ChatTokenizer.from_directory(directory, set())
    if tokenizer is None:
        fail(f"model {spec}: no tokenizer.json with a chat template in {directory}; tune needs both")
    return BaseCheckpoint(source.name, directory, spec), tokenizer


def _encoded_data(console: Console, tokenizer: Any, data: Path | None, from_runs: str | None,
                  max_tokens: int) -> Any:
    from agent.tune.dataset import DatasetError, load_examples
    from agent.tune.encoding import encode_all

    conversations: list[Any] = []
    try:
        if data is not None:
            conversations += load_examples(data)
        if from_runs is not None:
            conversations += _run_examples(console, Path(from_runs) if from_runs else None)
    except DatasetError as exc:  # RunsError is one
        fail(str(exc))
    encoded = encode_all(tokenizer, conversations, max_tokens)
    if not encoded.examples:
        fail(f"none of the {len(conversations)} examples can be trained on: {encoded.skipped_long} are longer "
             f"than --max-tokens {max_tokens}, {encoded.skipped_untrained} have no trained reply")
    return encoded


def _run_examples(console: Console, runs_dir: Path | None) -> list[Any]:
    """The successful runs' examples, saying which runs were skipped and why."""
    from agent.tune.runs import extract_runs

    extraction = extract_runs(runs_dir)
    for line in extraction.skipped:
        console.print(f"[yellow]run {line}[/]")
    count = len(extraction.examples)
    console.print(f"{count} example{'' if count == 1 else 's'} from {len(extraction.used)} of {extraction.runs} runs "
                  f"({extraction.successful} successful)")
    return extraction.examples


def _check_out(out: Path, base: Any) -> None:
    """An adapter already in --out is only replaced by one for the same model (retraining it)."""
    from agent.llm import lora

    if not (out / lora.METADATA_FILE).is_file():
        return
    try:
        existing = lora.read_adapter(out)
    except ModelSetupError as exc:
        fail(f"--out {out} holds something else ({exc}); give another --out")
    if existing.base_fingerprint != lora.base_fingerprint(base.directory):
        fail(f"--out {out} holds an adapter for another model ({existing.base_name}); give another --out")


def _start_adapter(spec: str | None) -> Any:
    """The adapter `--from-adapter` names (`default`: the shipped one), checked; None without the option."""
    from agent.llm import lora

    if spec is None:
        return None
    try:
        return lora.read_adapter(lora.SHIPPED if spec == "default" else Path(spec))
    except ModelSetupError as exc:
        fail(f"--from-adapter: {exc}")


def _train_with_progress(console: Console, encoded: Any, base: Any, out: Path, settings: Any, device: str,
                         resume: bool, tokenizer: Any, start_from: Any) -> Any:
    from agent.tune.loss_curve import moving_average
    from agent.tune.model import train

    losses: list[float] = []
    columns = (TextColumn("[bold]tune[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TextColumn("{task.fields[rate]} tok/s"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    finished = None
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("", total=None, loss="-", rate="-")
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        for event in train(encoded, base, out, settings, device, resume, pad_id, start_from):
            if event.kind == "started":
                progress.console.print(
                    f"[bold]{base.name}[/] on {event.device}: {event.examples} examples ({event.skipped} skipped), "
                    f"{event.tokens} tokens a pass, {event.trained_tokens} of them trained; {event.steps} steps; "
                    f"{event.parameters / 1e6:.1f} M trainable parameters"
                    + (f"; starting from the adapter in {start_from.directory}" if start_from else "")
                    + (f"; resumed at step {event.first_step}" if event.first_step else ""))
                progress.update(bar, total=event.steps, completed=event.first_step)
            elif event.kind == "step":
                losses.append(event.loss)
                progress.update(bar, completed=event.step, loss=f"{moving_average(losses, 10)[-1]:.3f}",
                                rate=f"{event.tokens_per_second:.0f}")
            elif event.kind == "checkpoint":
                progress.console.print(f"[dim]checkpoint at step {event.step}[/]")
            else:
                finished = event
    return finished


def _report(console: Console, finished: Any, json_output: bool) -> None:
    from agent.tune.loss_curve import write_loss_curve

    summary = finished.summary
    steps_per_epoch = summary.steps // max(1, summary.epochs)
    curve = write_loss_curve(summary.losses, finished.adapter / LOSS_CURVE,
                             f"LoRA tuning: {summary.examples} examples, {summary.epochs} epochs, "
                             f"{summary.steps} steps", steps_per_epoch)
    console.print(f"[bold green]adapter written to {finished.adapter}[/]: final loss {summary.final_loss:g}, "
                  f"{summary.seconds:.0f} s, {summary.tokens_per_second:.0f} tokens/s on {summary.device}; "
                  f"loss curve {curve}")
    console.print(f"use it with: autogpt run --adapter {finished.adapter} GOAL")
    if json_output:
        record = {k: v for k, v in asdict(summary).items() if k != "losses"}
        sys.stdout.write(json.dumps({"adapter": str(finished.adapter), "loss_curve": str(curve), **record}) + "\n")
