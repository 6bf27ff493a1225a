"""NLP tools for the agent: sentiment, zero-shot topic, entities, extractive summaries, and training / using a
classifier.

Texts come either inline (`texts`) or from a workspace file (`input_path`: .txt one text per line, or
.csv / .jsonl with a `column`, "text" by default). With `output_path` the results are written back as a
workspace file (.csv, .jsonl, or .txt with one label per line) and the observation stays short.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import Field

from tools.base import ToolContext, ToolError, tool
from tools.files import (
    read_workspace_bytes,
    resolve_in_workspace,
    text_of,
    workspace_files_hint,
    workspace_parts,
    write_workspace_bytes,
)
from tools.nlp import tasks as nlp_tasks

MAX_TEXTS = 10_000
MAX_CLASSIFIER_FILE = 256 << 20  # a training data file or a saved classifier's file, read from the workspace
MAX_INPUT_BYTES = 16 * 1024 * 1024  # a workspace file read for texts
SHOWN = 20  # results listed in an observation; the rest are counted (and written to output_path)
SNIPPET = 80


# -- reading and writing workspace files ------------------------------------------------------------


def gather_texts(ctx: ToolContext, texts: list[str] | None, input_path: str,
                 column: str) -> tuple[list[str], list[dict[str, Any]] | None]:
    """The texts to work on, and the input rows when they came from a .csv / .jsonl file."""
    if texts and input_path:
        raise ToolError("give either texts or input_path, not both")
    if input_path:
        return parse_texts(input_path, read_workspace_text(ctx, input_path), column)
    if not texts:
        raise ToolError("no texts given: pass texts (a list of strings) or input_path (a workspace file)")
    return _limit(list(texts)), None


def read_workspace_text(ctx: ToolContext, path: str) -> str:
    """A workspace file as text, opened beneath the workspace in one step (no link followed)."""
    data = read_workspace_bytes(ctx.workspace, path, MAX_INPUT_BYTES + 1)
    if data is None:
        raise ToolError(f"no such file: {path}. {workspace_files_hint(ctx.workspace)}")
    if len(data) > MAX_INPUT_BYTES:
        raise ToolError(f"{path} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB; split it")
    return text_of(data, path)


def read_texts(path: Path, column: str = "text") -> tuple[list[str], list[dict[str, Any]] | None]:
    """The texts of a file the user names on the command line (not a workspace file)."""
    if not path.is_file():
        raise ToolError(f"no such file: {path.name}")
    return parse_texts(path.name, text_of(path.read_bytes(), path.name), column)


def parse_texts(name: str, text: str, column: str = "text") -> tuple[list[str], list[dict[str, Any]] | None]:
    """A .txt file's lines, or a .csv / .jsonl file's `column` (and its rows)."""
    suffix = Path(name).suffix.lower()
    if suffix in (".csv", ".jsonl", ".ndjson"):
        rows = _read_table(name, text)
        if rows and column not in rows[0]:
            raise ToolError(f"column {column!r} is not in {name}; its columns are: {', '.join(rows[0])}")
        rows = [r for r in rows if str(r.get(column) or "").strip()]
        return _limit([str(r[column]) for r in rows]), rows[:MAX_TEXTS]
    lines = [line.strip() for line in text.splitlines()]
    return _limit([line for line in lines if line]), None


def _read_table(name: str, text: str) -> list[dict[str, Any]]:
    if Path(name).suffix.lower() == ".csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    try:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ToolError(f"{name} is not valid JSONL: {exc}") from None
    if not all(isinstance(r, dict) for r in rows):
        raise ToolError(f"{name}: every line must be a JSON object")
    return rows


def _limit(texts: list[str]) -> list[str]:
    if len(texts) > MAX_TEXTS:
        raise ToolError(f"{len(texts)} texts is more than the {MAX_TEXTS} one call handles; split the file")
    return texts


def write_results(ctx: ToolContext, output_path: str, texts: list[str], rows: list[dict[str, Any]] | None,
                  results: list[dict[str, Any]]) -> str:
    """Write one result per text next to its input row; the format follows the output file's suffix."""
    workspace_parts(output_path)  # refused before anything is written
    base = rows if rows is not None else [{"text": t} for t in texts]
    merged = [{**row, **result} for row, result in zip(base, results, strict=True)]
    suffix = Path(output_path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in merged)
    elif suffix == ".csv":
        columns = list(dict.fromkeys(key for r in merged for key in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in r.items()} for r in merged)
        content = buffer.getvalue()
    elif suffix == ".txt":
        content = "".join(f"{_cell(r.get('label', r.get('entities')))}\n" for r in results)
    else:
        raise ToolError(f"output_path must end in .csv, .jsonl or .txt, not {suffix or '(nothing)'}")
    write_workspace_bytes(ctx.workspace, output_path, content.encode("utf-8"))
    return output_path


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def observation(texts: list[str], results: list[dict[str, Any]], written: str | None) -> str:
    """Compact JSON: label counts, the first SHOWN results, and where the full results were written."""
    summary: dict[str, Any] = {"count": len(results)}
    labels = [r["label"] for r in results if "label" in r]
    if labels:
        summary["label_counts"] = {name: labels.count(name) for name in sorted(set(labels))}
    shown = []
    for i, (text, result) in enumerate(zip(texts[:SHOWN], results[:SHOWN], strict=True)):
        brief = {k: v for k, v in result.items() if k != "scores"}
        shown.append({"i": i, "text": text if len(text) <= SNIPPET else text[:SNIPPET] + "...", **brief})
    summary["results"] = shown
    if len(results) > SHOWN:
        summary["not_shown"] = len(results) - SHOWN
    if written:
        summary["written_to"] = written
    return json.dumps(summary, ensure_ascii=False)


def _run(ctx: ToolContext, texts: list[str], rows: list[dict[str, Any]] | None,
         results: list[dict[str, Any]], output_path: str) -> str:
    written = write_results(ctx, output_path, texts, rows, results) if output_path else None
    return observation(texts, results, written)


def _task(call: Any, *args: Any) -> Any:
    """Run a task, turning its input errors and missing models into errors the model can act on."""
    try:
        return call(*args)
    except nlp_tasks.TaskError as exc:
        raise ToolError(str(exc)) from None


# -- the tools ----------------------------------------------------------------------------------------


@tool(writes_with="output_path")
def classify_sentiment(ctx: ToolContext, texts: list[str] | None = None, input_path: str = "",
                       output_path: str = "", column: str = "text") -> str:
    """Label each text positive or negative, with a score (probability).

    Args:
        texts: the texts to label (or use input_path)
        input_path: workspace file with the texts: .txt one per line, or .csv/.jsonl
        output_path: optional workspace file (.csv, .jsonl or .txt) to write the labels to
        column: the text column in a .csv/.jsonl input
    """
    items, rows = gather_texts(ctx, texts, input_path, column)
    labels = _task(nlp_tasks.classify_sentiment, items)
    return _run(ctx, items, rows, [label.as_dict() for label in labels], output_path)


@tool(writes_with="output_path")
def classify_topic(ctx: ToolContext, labels: list[str], texts: list[str] | None = None, input_path: str = "",
                   output_path: str = "", column: str = "text") -> str:
    """Give each text the best-fitting of your labels (zero-shot), with a score.

    Args:
        labels: the labels to choose from, e.g. ["sports", "business", "politics"]
        texts: the texts to label (or use input_path)
        input_path: workspace file with the texts: .txt one per line, or .csv/.jsonl
        output_path: optional workspace file (.csv, .jsonl or .txt) to write the labels to
        column: the text column in a .csv/.jsonl input
    """
    items, rows = gather_texts(ctx, texts, input_path, column)
    results = _task(nlp_tasks.classify_topic, items, labels)
    return _run(ctx, items, rows, [label.as_dict() for label in results], output_path)


@tool(writes_with="output_path")
def extract_entities(ctx: ToolContext, text: str = "", types: list[str] | None = None, input_path: str = "",
                     output_path: str = "", column: str = "text") -> str:
    """Find people, organizations, locations and dates in text, with character offsets [start, end).

    Args:
        text: the text to search (or use input_path)
        types: which of person, organization, location, date to keep (default: all)
        input_path: workspace file with texts: .txt one per line, or .csv/.jsonl
        output_path: optional workspace file (.csv, .jsonl or .txt) to write the entities to
        column: the text column in a .csv/.jsonl input
    """
    if not text and not input_path:
        raise ToolError("no text given: pass text (a string) or input_path (a workspace file)")
    items, rows = gather_texts(ctx, [text] if text else None, input_path, column)
    found = _task(nlp_tasks.extract_entities, items, types)
    results = [{"entities": [e.as_dict() for e in spans]} for spans in found]
    if not input_path and not output_path:
        return json.dumps(results[0], ensure_ascii=False)
    return _run(ctx, items, rows, results, output_path)


@tool(writes_with="output_path")
def summarize_text(ctx: ToolContext, text: str = "", input_path: str = "",
                   sentences: Annotated[int, Field(ge=1, le=nlp_tasks.MAX_SUMMARY_SENTENCES)] = 2,
                   output_path: str = "") -> str:
    """Summarize a text or a workspace file: its most central sentences, in their original order.

    Args:
        text: the text to summarize (or use input_path)
        input_path: workspace text file to summarize
        sentences: how many sentences the summary keeps
        output_path: optional workspace file to write the summary to
    """
    if bool(text) == bool(input_path):
        raise ToolError("give either text (a string) or input_path (a workspace file)")
    if input_path:
        text = read_workspace_text(ctx, input_path)
    summary = " ".join(_task(nlp_tasks.summarize, text, sentences))
    if not output_path:
        return summary
    write_workspace_bytes(ctx.workspace, output_path, (summary + "\n").encode("utf-8"))
    return f"wrote {output_path}: {summary}"


@tool(side_effects=True)
def train_classifier(ctx: ToolContext, data_path: str, text_column: str = "text", label_column: str = "label",
                     kind: str = "embedding", out_dir: str = "", num_layers: int = 2, hidden_size: int = 64,
                     num_heads: int = 4, epochs: int = 0) -> str:
    """Train a text classifier on a labeled .csv/.jsonl; reports held-out accuracy and macro-F1 and saves it.

    Args:
        data_path: workspace .csv or .jsonl file with a text column and a label column
        text_column: name of the text column
        label_column: name of the label column
        kind: "embedding" (fast, few examples) or "transformer" (small encoder trained from scratch)
        out_dir: workspace folder to save the model in (default: classifiers/<data file name>)
        num_layers: transformer only: encoder layers
        hidden_size: transformer only: hidden size, a multiple of num_heads
        num_heads: transformer only: attention heads
        epochs: training epochs (0 picks a default)
    """
    from tools.nlp.text_classifier import MANIFEST, WEIGHTS, DataError, TrainConfig
    from tools.nlp.text_classifier import train_classifier as train

    resolve_in_workspace(ctx.workspace, data_path)  # a clear error for a path outside the workspace
    name = PurePosixPath(data_path).name
    out_rel = out_dir or f"classifiers/{PurePosixPath(data_path).stem}"
    resolve_in_workspace(ctx.workspace, out_rel)
    config = TrainConfig(kind=kind, num_layers=num_layers, hidden_size=hidden_size, num_heads=num_heads,
                         epochs=epochs)
    with tempfile.TemporaryDirectory(prefix="autogpt-classifier-") as private:
        # the data is read, and the model written, beneath the workspace in one step each; training works
        # on private copies, so nothing the sandbox swaps in meanwhile can point it at another file
        data = Path(private) / name
        data.write_bytes(_read_whole(ctx, data_path, f"no such file: {data_path}"))
        try:
            report = train(data, text_column, label_column, Path(private) / "model", config)
        except DataError as exc:
            raise ToolError(str(exc)) from None
        for part in (MANIFEST, WEIGHTS):
            write_workspace_bytes(ctx.workspace, f"{out_rel}/{part}", (Path(private) / "model" / part).read_bytes())
    return json.dumps({"model_path": out_rel, "kind": report.kind, "labels": report.labels,
                       "train_size": report.train_size, "test_size": report.test_size,
                       "accuracy": report.accuracy, "macro_f1": report.macro_f1, "seconds": report.seconds})


@tool(writes_with="output_path")
def classify_with(ctx: ToolContext, model_path: str, texts: list[str] | None = None, input_path: str = "",
                  output_path: str = "", column: str = "text") -> str:
    """Label texts with a classifier made by train_classifier.

    Args:
        model_path: the workspace folder train_classifier saved the model in
        texts: the texts to label (or use input_path)
        input_path: workspace file with the texts: .txt one per line, or .csv/.jsonl
        output_path: optional workspace file (.csv, .jsonl or .txt) to write the labels to
        column: the text column in a .csv/.jsonl input
    """
    from tools.nlp.text_classifier import MANIFEST, WEIGHTS, DataError, load_classifier

    resolve_in_workspace(ctx.workspace, model_path)
    folder = str(PurePosixPath(model_path).parent) if PurePosixPath(model_path).name == MANIFEST else model_path
    missing = f"{PurePosixPath(folder).name or folder} is not a trained classifier (no {MANIFEST} / {WEIGHTS} in it)"
    with tempfile.TemporaryDirectory(prefix="autogpt-classifier-") as private:  # private copies, as above
        for part in (MANIFEST, WEIGHTS):
            (Path(private) / part).write_bytes(_read_whole(ctx, f"{folder}/{part}", missing))
        try:
            classifier = load_classifier(Path(private))
        except DataError as exc:
            raise ToolError(str(exc).replace(Path(private).name, folder)) from None
    items, rows = gather_texts(ctx, texts, input_path, column)
    if any(not t.strip() for t in items):
        raise ToolError("every text must have some words in it")
    results = [{"label": label, "score": score} for label, score in classifier.predict(items)]
    return _run(ctx, items, rows, results, output_path)


def _read_whole(ctx: ToolContext, path: str, missing: str) -> bytes:
    """A whole workspace file, opened beneath the workspace in one step; ToolError `missing` when absent."""
    data = read_workspace_bytes(ctx.workspace, path, MAX_CLASSIFIER_FILE + 1)
    if data is None:
        raise ToolError(missing)
    if len(data) > MAX_CLASSIFIER_FILE:
        raise ToolError(f"{path} is larger than {MAX_CLASSIFIER_FILE >> 20} MiB")
    return data


NLP_TOOLS = [classify_sentiment, classify_topic, extract_entities, summarize_text, train_classifier, classify_with]
