"""`autogpt classify ...` and `autogpt train-classifier ...`: the NLP tasks from the command line.

Both print JSON. Errors the user must fix are one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli.options import fail
from agent.cli.terminal_text import safe_json

classify_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Label texts: sentiment, zero-shot topic, or named entities (JSON output).")

TextOpt = Annotated[str, typer.Option("--text", help="one text to classify")]
FileOpt = Annotated[Path | None, typer.Option("--file", help="a .txt (a text per line), .csv or .jsonl file")]
ColumnOpt = Annotated[str, typer.Option("--column", help="the text column of a .csv/.jsonl file")]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON document instead of one JSON line per text")]


def _texts(text: str, file: Path | None, column: str) -> list[str]:
    from tools.base import ToolError
    from tools.nlp.tools import read_texts

    if bool(text) == bool(file):
        fail("give exactly one of --text or --file")
    if file is None:
        return [text]
    try:
        texts, _ = read_texts(file, column)
    except ToolError as exc:
        fail(str(exc))
    if not texts:
        fail(f"{file} has no texts in it")
    return texts


def _emit(texts: list[str], results: list[dict[str, Any]], as_json: bool) -> None:
    records = [{"text": t, **r} for t, r in zip(texts, results, strict=True)]
    if as_json:
        typer.echo(safe_json(records, ensure_ascii=False, indent=2))
    else:
        for record in records:
            typer.echo(safe_json(record, ensure_ascii=False))


def _run(call: Any, *args: Any) -> Any:
    from tools.base import ToolError
    from tools.nlp.tasks import TaskError

    try:
        return call(*args)
    except (TaskError, ToolError) as exc:
        fail(str(exc))


@classify_app.command()
def sentiment(text: TextOpt = "", file: FileOpt = None, column: ColumnOpt = "text",
              json_out: JsonOpt = False) -> None:
    """positive / negative, with probabilities."""
    from tools.nlp import tasks as nlp_tasks

    texts = _texts(text, file, column)
    _emit(texts, [x.as_dict() for x in _run(nlp_tasks.classify_sentiment, texts)], json_out)


@classify_app.command()
def topic(labels: Annotated[str, typer.Option("--labels", help="comma-separated, e.g. sports,politics")],
          text: TextOpt = "", file: FileOpt = None, column: ColumnOpt = "text",
          json_out: JsonOpt = False) -> None:
    """Zero-shot: the best of your --labels for each text, with probabilities."""
    from tools.nlp import tasks as nlp_tasks

    texts = _texts(text, file, column)
    _emit(texts, [x.as_dict() for x in _run(nlp_tasks.classify_topic, texts, labels)], json_out)


@classify_app.command()
def entities(labels: Annotated[str, typer.Option("--labels", help="entity types to keep: person,organization,"
                                                                  "location,date (default all)")] = "",
             text: TextOpt = "", file: FileOpt = None, column: ColumnOpt = "text",
             json_out: JsonOpt = False) -> None:
    """People, organizations, locations and dates, with character offsets [start, end)."""
    from tools.nlp import tasks as nlp_tasks

    texts = _texts(text, file, column)
    found = _run(nlp_tasks.extract_entities, texts, labels or None)
    _emit(texts, [{"entities": [e.as_dict() for e in spans]} for spans in found], json_out)


def train_classifier_command(
    data: Annotated[Path, typer.Argument(help="labeled .csv or .jsonl file")],
    text_column: Annotated[str, typer.Option("--text-column", help="column with the text")] = "text",
    label_column: Annotated[str, typer.Option("--label-column", help="column with the label")] = "label",
    kind: Annotated[str, typer.Option("--kind", help="embedding or transformer")] = "embedding",
    out: Annotated[Path | None, typer.Option("--out", help="folder to save the model in")] = None,
    num_layers: Annotated[int, typer.Option(help="transformer: encoder layers")] = 2,
    hidden_size: Annotated[int, typer.Option(help="transformer: hidden size")] = 64,
    num_heads: Annotated[int, typer.Option(help="transformer: attention heads")] = 4,
    epochs: Annotated[int, typer.Option(help="0 picks a default per kind")] = 0,
    test_fraction: Annotated[float, typer.Option(help="share of rows held out for the scores")] = 0.2,
) -> None:
    """Train a text classifier, print its held-out accuracy and macro-F1 as JSON, and save it."""
    from dataclasses import asdict

    from tools.nlp.text_classifier import DataError, TrainConfig, train_classifier

    if not data.is_file():
        fail(f"no such file: {data}")
    target = out or Path("classifiers") / data.stem
    config = TrainConfig(kind=kind, num_layers=num_layers, hidden_size=hidden_size, num_heads=num_heads,
                         epochs=epochs, test_fraction=test_fraction)
    try:
        report = train_classifier(data, text_column, label_column, target, config)
    except DataError as exc:
        fail(str(exc))
    typer.echo(json.dumps(asdict(report), indent=2))
