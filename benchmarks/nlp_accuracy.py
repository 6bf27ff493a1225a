"""Accuracy and speed of the NLP tools on labeled data none of them was tuned against.

    .venv/bin/python benchmarks/nlp_accuracy.py [--only sentiment,topic,entities,train,llm] [--json]

Data (benchmarks/data/):
- reviews_sentiment.jsonl: 600 Amazon product-review snippets and 600 movie-review snippets drawn at random
  (seed 7) from the human-rated ground truth of Hutto & Gilbert, ICWSM 2014 (shipped in the vaderSentiment
  3.3.2 source distribution on PyPI, MIT). Gold label: positive when the mean rating > 0. The headline figure
  leaves out near-neutral snippets (|rating| < 1); the figure over all snippets with |rating| >= 0.5 is
  printed as well. These rows are excluded from the sentiment model's training data
  (benchmarks/train_sentiment.py).
- topics.jsonl: 60 news-style sentences, 15 each for sports / business / technology / politics, written
  for this benchmark before the topic classifier was run on them.
- entities.jsonl: 36 news-style sentences with their person / organization / location spans, written by
  hand for this benchmark. Scored as exact (start, end, type) matches, micro-averaged.
- product_reviews_train.csv: 400 Amazon review snippets with |rating| >= 1.5 (200 positive, 200 negative),
  none of them in reviews_sentiment.jsonl; train_classifier holds out 20% of it, and the trained model is
  also scored on the 600 Amazon benchmark snippets (|rating| >= 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
sys.path.insert(0, str(ROOT))

from tools.nlp import tasks as nlp_tasks  # noqa: E402
from tools.nlp.text_classifier import TrainConfig, load_classifier, scores, train_classifier  # noqa: E402

TOPICS = ["sports", "business", "technology", "politics"]
ENTITY_TYPES = {"PER": "person", "ORG": "organization", "LOC": "location"}


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).open(encoding="utf-8") if line.strip()]


def _timed(call, *args):
    started = time.monotonic()
    out = call(*args)
    return out, time.monotonic() - started


def bench_sentiment() -> dict:
    rows = _jsonl("reviews_sentiment.jsonl")
    nlp_tasks.classify_sentiment(["warm-up"])  # model loading is not throughput
    labels, seconds = _timed(nlp_tasks.classify_sentiment, [r["text"] for r in rows])
    result: dict = {"texts_per_second": round(len(rows) / seconds, 1)}
    for source in ("amazon", "movie", "all"):
        for threshold in (1.0, 0.5):
            keep = [i for i, r in enumerate(rows)
                    if (source == "all" or r["source"] == source) and abs(r["rating"]) >= threshold]
            truth = ["positive" if rows[i]["rating"] > 0 else "negative" for i in keep]
            accuracy, macro_f1, _ = scores(truth, [labels[i].label for i in keep], ["negative", "positive"])
            result[f"{source}_abs_rating_ge_{threshold}"] = {"n": len(keep), "accuracy": accuracy,
                                                           "macro_f1": macro_f1}
    return result


def bench_topic() -> dict:
    rows = _jsonl("topics.jsonl")
    nlp_tasks.classify_topic(["warm-up"], TOPICS)
    labels, seconds = _timed(nlp_tasks.classify_topic, [r["text"] for r in rows], TOPICS)
    accuracy, macro_f1, _ = scores([r["label"] for r in rows], [x.label for x in labels], TOPICS)
    return {"n": len(rows), "accuracy": accuracy, "macro_f1": macro_f1,
            "texts_per_second": round(len(rows) / seconds, 1)}


def bench_entities() -> dict:
    rows = _jsonl("entities.jsonl")
    types = list(ENTITY_TYPES.values())
    nlp_tasks.extract_entities(["warm-up"], types)
    found, seconds = _timed(nlp_tasks.extract_entities, [r["text"] for r in rows], types)
    tp = fp = fn = 0
    per_type = {t: [0, 0, 0] for t in types}
    for row, spans in zip(rows, found, strict=True):
        gold = set()
        for surface, kind in row["entities"]:
            start = row["text"].index(surface)
            gold.add((start, start + len(surface), ENTITY_TYPES[kind]))
        predicted = {(e.start, e.end, e.type) for e in spans}
        assert all(row["text"][e.start:e.end] == e.text for e in spans), "an offset points at other text"
        for kind in types:
            g = {x for x in gold if x[2] == kind}
            p = {x for x in predicted if x[2] == kind}
            per_type[kind][0] += len(g & p)
            per_type[kind][1] += len(p - g)
            per_type[kind][2] += len(g - p)
        tp, fp, fn = tp + len(gold & predicted), fp + len(predicted - gold), fn + len(gold - predicted)
    f1 = lambda a, b, c: round(2 * a / (2 * a + b + c), 4) if a else 0.0  # noqa: E731
    return {"sentences": len(rows), "gold_entities": tp + fn, "micro_f1": f1(tp, fp, fn),
            "precision": round(tp / max(1, tp + fp), 4), "recall": round(tp / max(1, tp + fn), 4),
            "f1_by_type": {k: f1(*v) for k, v in per_type.items()},
            "texts_per_second": round(len(rows) / seconds, 1)}


def bench_train() -> dict:
    reviews = [r for r in _jsonl("reviews_sentiment.jsonl")
               if r["source"] == "amazon" and abs(r["rating"]) >= 1]
    truth = ["positive" if r["rating"] > 0 else "negative" for r in reviews]
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("embedding", "transformer"):
            out = Path(tmp) / kind
            report = train_classifier(DATA / "product_reviews_train.csv", "review", "label", out,
                                      TrainConfig(kind=kind))
            predicted = [label for label, _ in load_classifier(out).predict([r["text"] for r in reviews])]
            accuracy, macro_f1, _ = scores(truth, predicted, ["negative", "positive"])
            result[kind] = {"train": report.train_size, "held_out": report.test_size,
                            "held_out_accuracy": report.accuracy, "held_out_macro_f1": report.macro_f1,
                            "train_seconds": report.seconds,
                            "amazon_benchmark": {"n": len(reviews), "accuracy": accuracy,
                                                 "macro_f1": macro_f1}}
    return result


def _llm_label(model, text: str, labels: list[str], task: str) -> str:
    from agent.llm.base import ChatMessage, DecodingParams

    schema = {"type": "object", "properties": {"label": {"enum": labels}}, "required": ["label"],
              "additionalProperties": False}
    messages = [ChatMessage("system", f"You label text. {task} Answer in JSON."),
                ChatMessage("user", f"Text: {text}\nLabels: {', '.join(labels)}")]
    out = model.generate(messages, json_schema=schema, params=DecodingParams(max_new_tokens=16))
    try:
        return json.loads(out.text)["label"]
    except (ValueError, KeyError):
        return labels[0]


def bench_llm(limit: int = 100) -> dict:
    """The agent's own LLM (SmolLM2-135M, label as a JSON enum) on the same data, for comparison only."""
    from agent.llm import load_chat_model

    model = load_chat_model("default")
    reviews = [r for r in _jsonl("reviews_sentiment.jsonl") if abs(r["rating"]) >= 1]
    reviews = reviews[::max(1, len(reviews) // limit)][:limit]  # spread over Amazon and movie snippets
    started = time.monotonic()
    predicted = [_llm_label(model, r["text"], ["positive", "negative"], "Is the review positive or negative?")
                 for r in reviews]
    seconds = time.monotonic() - started
    truth = ["positive" if r["rating"] > 0 else "negative" for r in reviews]
    sentiment = dict(zip(("accuracy", "macro_f1"), scores(truth, predicted, ["negative", "positive"])[:2],
                         strict=True))
    topics = _jsonl("topics.jsonl")
    topic_pred = [_llm_label(model, r["text"], TOPICS, "Which topic is the text about?") for r in topics]
    topic = dict(zip(("accuracy", "macro_f1"), scores([r["label"] for r in topics], topic_pred, TOPICS)[:2],
                     strict=True))
    speed = round(len(reviews) / seconds, 1)
    return {"sentiment": {"n": len(reviews), **sentiment, "texts_per_second": speed},
            "topic": {"n": len(topics), **topic}}


BENCHES = {"sentiment": bench_sentiment, "topic": bench_topic, "entities": bench_entities,
           "train": bench_train, "llm": bench_llm}
DEFAULT = "sentiment,topic,entities,train"  # llm: the comparison with the agent's LLM, slow on CPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=DEFAULT, help="comma-separated: " + ", ".join(BENCHES))
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args()
    results = {}
    for name in args.only.split(","):
        results[name] = BENCHES[name.strip()]()
        if not args.json:
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
