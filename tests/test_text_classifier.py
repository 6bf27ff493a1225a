"""Training classifiers on a user's labeled file: both kinds, held-out scores, saving, loading, bad input."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.base import ToolContext, ToolError
from tools.nlp.text_classifier import (
    DataError,
    TrainConfig,
    load_classifier,
    read_labeled,
    scores,
    stratified_split,
)
from tools.nlp.text_classifier import train_classifier as train
from tools.nlp.tools import classify_with, train_classifier

WEATHER = ["It will rain all afternoon in {}.", "Expect heavy snow and icy roads near {}.",
           "A warm sunny day is forecast for {}.", "Strong winds and thunderstorms are coming to {}.",
           "Fog will cover {} until noon, then clear skies."]
COOKING = ["Simmer the tomato sauce for {} minutes and add basil.", "Bake the bread for {} minutes until golden.",
           "Whisk the eggs with sugar, then fold in the flour for {} minutes.",
           "Fry the onions in butter for {} minutes before adding garlic.",
           "Roast the chicken with lemon and thyme for {} minutes."]
PLACES = ["Oslo", "Lima", "Denver", "Cairo", "Perth", "Leeds", "Quito", "Osaka"]


def _write_dataset(path: Path, rows_per_label: int = 30) -> None:
    rng = random.Random(3)
    rows = [(rng.choice(WEATHER).format(rng.choice(PLACES)), "weather") for _ in range(rows_per_label)]
    rows += [(rng.choice(COOKING).format(rng.randint(5, 90)), "cooking") for _ in range(rows_per_label)]
    rng.shuffle(rows)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence", "topic"])
        writer.writerows(rows)


@pytest.fixture()
def ctx(tmp_path: Path) -> ToolContext:
    _write_dataset(tmp_path / "data.csv")
    return ToolContext(workspace=tmp_path)


def test_embedding_classifier_trains_scores_saves_and_is_usable(ctx: ToolContext) -> None:
    report = json.loads(train_classifier.invoke(ctx, {"data_path": "data.csv", "text_column": "sentence",
                                                      "label_column": "topic", "out_dir": "models/topics"}))
    assert report["kind"] == "embedding" and report["labels"] == ["cooking", "weather"]
    assert report["test_size"] == 12 and report["train_size"] == 48
    assert report["accuracy"] >= 0.9 and report["macro_f1"] >= 0.9
    assert (ctx.workspace / "models/topics/classifier.json").is_file()
    out = json.loads(classify_with.invoke(ctx, {"model_path": "models/topics", "texts": [
        "Light rain and cold wind expected in Madrid tonight.", "Stir the risotto for 20 minutes."]}))
    assert [r["label"] for r in out["results"]] == ["weather", "cooking"]


def test_transformer_classifier_of_configurable_size_learns_a_separable_task(tmp_path: Path) -> None:
    _write_dataset(tmp_path / "data.csv", rows_per_label=40)
    config = TrainConfig(kind="transformer", num_layers=1, hidden_size=32, num_heads=2, epochs=15)
    report = train(tmp_path / "data.csv", "sentence", "topic", tmp_path / "enc", config)
    assert report.accuracy >= 0.8
    model = load_classifier(tmp_path / "enc")
    assert model.module.encoder.layers[0].self_attn.num_heads == 2
    assert model.module.head.in_features == 32
    texts = ["Snow and wind in Oslo.", "Bake the cake for 30 minutes."]
    assert [label for label, _ in model.predict(texts)] == [label for label, _ in
                                                            load_classifier(tmp_path / "enc").predict(texts)]


def test_jsonl_data_is_accepted(tmp_path: Path) -> None:
    rows = [{"t": f"great product number {i}", "y": "pos"} for i in range(5)]
    rows += [{"t": f"awful product number {i}", "y": "neg"} for i in range(5)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_labeled(tmp_path / "d.jsonl", "t", "y")[1].count("pos") == 5


@pytest.mark.parametrize(("args", "message"), [
    ({"text_column": "body"}, "column 'body' is not in data.csv; its columns are: sentence, topic"),
    ({"text_column": "sentence", "label_column": "topic", "kind": "svm"}, "unknown kind 'svm'"),
    ({"text_column": "sentence", "label_column": "topic", "kind": "transformer", "hidden_size": 30,
      "num_heads": 4}, "multiple of num_heads"),
    ({"data_path": "../data.csv"}, "outside the workspace"),
    ({"data_path": "nothing.csv"}, "no such file"),
])
def test_bad_training_requests_give_clear_errors(ctx: ToolContext, args: dict, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        train_classifier.invoke(ctx, {"data_path": "data.csv", **args})


def test_a_single_label_or_a_lonely_example_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text("text,label\na,x\nb,x\nc,x\n")
    with pytest.raises(DataError, match="at least 2 different labels"):
        train(tmp_path / "one.csv", "text", "label", tmp_path / "m")
    (tmp_path / "lonely.csv").write_text("text,label\na,x\nb,x\nc,y\n")
    with pytest.raises(DataError, match="label 'y' has only 1 example"):
        train(tmp_path / "lonely.csv", "text", "label", tmp_path / "m")
    (tmp_path / "data.txt").write_text("hello\n")
    with pytest.raises(DataError, match=".csv or .jsonl"):
        train(tmp_path / "data.txt", "text", "label", tmp_path / "m")


def test_classify_with_refuses_a_folder_that_is_no_classifier(ctx: ToolContext) -> None:
    (ctx.workspace / "empty").mkdir()
    with pytest.raises(ToolError, match="not a trained classifier"):
        classify_with.invoke(ctx, {"model_path": "empty", "texts": ["hi"]})


def test_a_link_swapped_in_for_the_data_or_the_model_is_refused(ctx: ToolContext, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    _write_dataset(outside / "secret.csv")
    (ctx.workspace / "linked.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(ToolError, match="symbolic link"):
        train_classifier.invoke(ctx, {"data_path": "linked.csv", "text_column": "sentence", "label_column": "topic"})
    trained = json.loads(train_classifier.invoke(ctx, {"data_path": "data.csv", "text_column": "sentence",
                                                      "label_column": "topic"}))
    assert (ctx.workspace / trained["model_path"] / "classifier.json").is_file()
    real = ctx.workspace / trained["model_path"] / "weights.safetensors"
    real.rename(outside / "weights.safetensors")
    real.symlink_to(outside / "weights.safetensors")
    with pytest.raises(ToolError, match="symbolic link"):
        classify_with.invoke(ctx, {"model_path": trained["model_path"], "texts": ["Snow in Oslo."]})
    (ctx.workspace / "models").symlink_to(ctx.workspace / trained["model_path"], target_is_directory=True)
    with pytest.raises(ToolError, match="symbolic link"):
        classify_with.invoke(ctx, {"model_path": "models", "texts": ["Snow in Oslo."]})
    with pytest.raises(ToolError, match="symbolic link"):  # and writing the model through a link
        train_classifier.invoke(ctx, {"data_path": "data.csv", "text_column": "sentence", "label_column": "topic",
                                      "out_dir": "models"})


def test_split_keeps_every_label_on_both_sides() -> None:
    labels = ["a"] * 10 + ["b"] * 2 + ["c"] * 3
    train_idx, test_idx = stratified_split(labels, 0.2, seed=0)
    assert sorted(train_idx + test_idx) == list(range(15))
    for label in "abc":
        assert any(labels[i] == label for i in train_idx) and any(labels[i] == label for i in test_idx)


def test_scores_compute_accuracy_and_macro_f1() -> None:
    accuracy, macro_f1, per_label = scores(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert accuracy == 0.75
    assert per_label == {"a": round(2 / 3, 4), "b": 0.8}
    assert macro_f1 == round((2 / 3 + 0.8) / 2, 4)


def test_cli_train_classifier_prints_metrics(tmp_path: Path) -> None:
    import typer

    from agent.cli.classify import train_classifier_command

    app = typer.Typer()
    app.command()(train_classifier_command)
    app.command("noop")(lambda: None)  # two commands, so typer keeps the command name as in the real CLI
    _write_dataset(tmp_path / "data.csv")
    result = CliRunner().invoke(app, ["train-classifier-command", str(tmp_path / "data.csv"), "--text-column",
                                      "sentence", "--label-column", "topic", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"] >= 0.9
    bad = CliRunner().invoke(app, ["train-classifier-command", str(tmp_path / "data.csv"), "--kind", "forest"])
    assert bad.exit_code == 2 and "unknown kind 'forest'" in bad.output
