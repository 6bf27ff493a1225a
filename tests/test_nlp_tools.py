"""The NLP tools with their real models (MiniLM embeddings, spaCy NER) on small fixed examples."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.classify import classify_app
from tools.base import ToolContext, ToolError
from tools.nlp.tools import NLP_TOOLS, classify_sentiment, classify_topic, extract_entities, summarize_text

ROOT = Path(__file__).resolve().parents[1]
POSITIVE = "I absolutely loved this movie. The acting was wonderful and I would watch it again."
NEGATIVE = "Terrible product. It broke after one day, support never answered, and I want my money back."


@pytest.fixture()
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=tmp_path)


def _call(t, ctx: ToolContext, **args) -> dict:
    return json.loads(t.invoke(ctx, args))


def test_sentiment_labels_a_clear_positive_and_a_clear_negative(ctx: ToolContext) -> None:
    out = _call(classify_sentiment, ctx, texts=[POSITIVE, NEGATIVE])
    assert [r["label"] for r in out["results"]] == ["positive", "negative"]
    assert all(0.5 < r["score"] <= 1.0 for r in out["results"])
    assert out["label_counts"] == {"negative": 1, "positive": 1}


def test_topic_picks_the_obvious_label_among_the_users_labels(ctx: ToolContext) -> None:
    texts = ["The striker scored a hat-trick and the team won the championship.",
             "The central bank raised interest rates and stocks fell sharply.",
             "The senate voted on the new election law after a long debate."]
    out = _call(classify_topic, ctx, texts=texts, labels=["sports", "finance", "politics"])
    assert [r["label"] for r in out["results"]] == ["sports", "finance", "politics"]


def test_entities_find_a_person_and_a_city_with_exact_offsets(ctx: ToolContext) -> None:
    text = "Yesterday Barack Obama flew to Chicago to meet the board of Microsoft."
    entities = _call(extract_entities, ctx, text=text)["entities"]
    found = {(e["text"], e["type"]) for e in entities}
    assert ("Barack Obama", "person") in found
    assert ("Chicago", "location") in found
    for e in entities:
        assert text[e["start"]:e["end"]] == e["text"]


def test_entity_offsets_stay_exact_with_unicode_and_odd_spacing(ctx: ToolContext) -> None:
    text = "  Émile Zola 🙂 moved to  Paris in 1858.\n\nLater he met Paul Cézanne in Aix-en-Provence. "
    entities = _call(extract_entities, ctx, text=text)["entities"]
    assert entities, "expected at least one entity"
    for e in entities:
        assert text[e["start"]:e["end"]] == e["text"]


def test_entity_types_filter_keeps_only_the_asked_types(ctx: ToolContext) -> None:
    text = "Angela Merkel visited Warsaw on 3 May 2019."
    entities = _call(extract_entities, ctx, text=text, types=["location"])["entities"]
    assert entities and {e["type"] for e in entities} == {"location"}


def test_reads_a_workspace_csv_and_writes_labels_back(ctx: ToolContext) -> None:
    with (ctx.workspace / "reviews.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review"])
        writer.writerows([[1, POSITIVE], [2, NEGATIVE], [3, "Great value, works perfectly, highly recommended!"]])
    out = _call(classify_sentiment, ctx, input_path="reviews.csv", column="review", output_path="out/labels.csv")
    assert out["count"] == 3 and out["written_to"] == "out/labels.csv"
    rows = list(csv.DictReader((ctx.workspace / "out/labels.csv").open()))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert [r["label"] for r in rows] == ["positive", "negative", "positive"]


def test_reads_a_txt_file_and_writes_one_label_per_line(ctx: ToolContext) -> None:
    (ctx.workspace / "headlines.txt").write_text("The goalkeeper saved a penalty in the final.\n\n"
                                                 "Parliament passed the budget after a long debate.\n")
    _call(classify_topic, ctx, input_path="headlines.txt", labels=["sports", "politics"], output_path="t.txt")
    assert (ctx.workspace / "t.txt").read_text().split() == ["sports", "politics"]


def test_entities_from_a_jsonl_file_are_written_as_jsonl(ctx: ToolContext) -> None:
    lines = [{"text": "Tim Cook spoke in Berlin."}, {"text": "Nothing to see here."}]
    (ctx.workspace / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    _call(extract_entities, ctx, input_path="in.jsonl", output_path="ents.jsonl")
    rows = [json.loads(x) for x in (ctx.workspace / "ents.jsonl").read_text().splitlines()]
    assert {e["text"] for e in rows[0]["entities"]} >= {"Tim Cook", "Berlin"}
    assert rows[1]["entities"] == []


@pytest.mark.parametrize(("tool_", "args", "message"), [
    (classify_sentiment, {"texts": ["fine", "   "]}, "empty"),
    (classify_sentiment, {}, "no texts"),
    (classify_sentiment, {"input_path": "../outside.txt"}, "outside the workspace"),
    (classify_sentiment, {"input_path": "/etc/passwd"}, "absolute"),
    (classify_sentiment, {"texts": ["good"], "input_path": "a.txt"}, "not both"),
    (classify_sentiment, {"texts": ["good"], "output_path": "../x.csv"}, "outside the workspace"),
    (classify_sentiment, {"texts": ["good"], "output_path": "x.xlsx"}, "must end in"),
    (classify_sentiment, {"input_path": "missing.txt"}, "no such file"),
    (classify_topic, {"texts": ["a goal"], "labels": ["sports"]}, "at least two"),
    (extract_entities, {"text": "Paris", "types": ["weapon"]}, "unknown entity type"),
    (classify_topic, {"texts": ["x"]}, "labels"),
    (summarize_text, {}, "either text"),
    (summarize_text, {"text": "One two.", "input_path": "a.txt"}, "either text"),
    (summarize_text, {"input_path": "missing.txt"}, "no such file"),
    (summarize_text, {"text": "A b. C d.", "sentences": 0}, "greater than or equal to 1"),
    (summarize_text, {"text": "Hello"}, "no sentences"),
])
def test_bad_input_gives_a_clear_tool_error(ctx: ToolContext, tool_, args: dict, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        tool_.invoke(ctx, args)


ARTICLE = ("Solar panels convert sunlight into electricity using photovoltaic cells. My cousin Bob likes to bake "
           "bread on Sundays. Over the last decade solar modules became ninety percent cheaper, so solar power is "
           "now among the cheapest electricity.\n\nHouseholds put solar panels on their roofs to cut their "
           "electricity bills.")


def test_summary_keeps_the_central_sentences_in_their_order(ctx: ToolContext) -> None:
    summary = summarize_text.invoke(ctx, {"text": ARTICLE, "sentences": 2})
    assert "Bob" not in summary and summary.count(".") == 2 and "solar" in summary.lower()
    first, second = summary.split(". ", 1)
    assert ARTICLE.index(first) < ARTICLE.index(second[:30])
    assert summarize_text.invoke(ctx, {"text": "Only one sentence here."}) == "Only one sentence here."


def test_summary_of_a_file_is_written_to_the_output_file(ctx: ToolContext) -> None:
    (ctx.workspace / "article.txt").write_text(ARTICLE)
    out = summarize_text.invoke(ctx, {"input_path": "article.txt", "sentences": 1, "output_path": "s/summary.txt"})
    written = (ctx.workspace / "s" / "summary.txt").read_text().strip()
    assert out == f"wrote s/summary.txt: {written}"
    assert written.count(".") == 1 and "solar" in written.lower()


def test_missing_column_in_input_file_names_the_columns(ctx: ToolContext) -> None:
    (ctx.workspace / "r.csv").write_text("id,body\n1,hello\n")
    with pytest.raises(ToolError, match="column 'text' is not in r.csv; its columns are: id, body"):
        classify_sentiment.invoke(ctx, {"input_path": "r.csv"})


def test_the_registry_offers_every_nlp_tool_with_a_json_schema() -> None:
    from tools.registry import default_tools

    registry = default_tools()
    for t in NLP_TOOLS:
        assert t.name in registry
        schema = t.args_model.model_json_schema()
        assert len(schema.get("required", [])) <= 2, "the tiny model must fill few required args"


def test_importing_the_tools_loads_no_model_library() -> None:
    code = ("import sys, tools.nlp.tools, agent.cli.classify, tools.nlp.models, tools.nlp.text_classifier; "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'spacy', 'transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- CLI ----------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_sentiment_prints_json_labels() -> None:
    result = runner.invoke(classify_app, ["sentiment", "--text", NEGATIVE, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["label"] == "negative"


def test_cli_topic_and_entities_from_a_file(tmp_path: Path) -> None:
    data = tmp_path / "news.txt"
    data.write_text("Serena Williams won the final in Melbourne.\nThe company reported record quarterly profits.\n")
    topic = runner.invoke(classify_app, ["topic", "--labels", "sports,business", "--file", str(data), "--json"])
    assert topic.exit_code == 0, topic.output
    assert [r["label"] for r in json.loads(topic.output)] == ["sports", "business"]
    ents = runner.invoke(classify_app, ["entities", "--file", str(data)])
    first = json.loads(ents.output.splitlines()[0])
    assert {"Serena Williams", "Melbourne"} <= {e["text"] for e in first["entities"]}


def test_cli_refuses_both_or_neither_text_and_file() -> None:
    neither = runner.invoke(classify_app, ["sentiment"])
    assert neither.exit_code == 2 and "exactly one of --text or --file" in neither.output
    empty = runner.invoke(classify_app, ["sentiment", "--text", "   "])
    assert empty.exit_code == 2 and "empty" in empty.output
