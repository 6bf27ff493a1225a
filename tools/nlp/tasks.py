"""The ready-made text tasks as plain functions over lists of texts (the tools and the CLI call these).

- sentiment: all-MiniLM-L6-v2 with its top two layers fine-tuned (+ a linear head), shipped in
  `tools/nlp/data/sentiment/` (trained on the VADER human-rated ground truth; see tools/nlp/sentiment.py
  and benchmarks/train_sentiment.py).
- topic: zero-shot, the cosine similarity between a text's embedding and each label's ("This text is about
  LABEL."), turned into probabilities with a softmax.
- entities: spaCy's en_core_web_sm named-entity recognizer, its labels mapped to four types.
- summary: extractive, the sentences whose embeddings lie closest to the mean of all of them (the text's
  centroid), kept in their original order.

Each function embeds or parses its whole list in batches: one model call per batch, never one per text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tools.nlp.models import embed, shared_ner

SENTIMENT_DIR = Path(__file__).parent / "data" / "sentiment"
TOPIC_TEMPLATE = "This text is about {}."
TOPIC_TEMPERATURE = 0.05  # cosine gaps between labels are small; this spreads them into usable scores
ENTITY_TYPES = ("person", "organization", "location", "date")
MAX_SUMMARY_SENTENCES = 10
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")
_SPACY_TO_TYPE = {"PERSON": "person", "ORG": "organization", "GPE": "location", "LOC": "location",
                  "FAC": "location", "DATE": "date"}


@dataclass(frozen=True)
class Label:
    label: str
    score: float
    scores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "scores": self.scores}


@dataclass(frozen=True)
class Entity:
    text: str
    type: str
    start: int
    end: int

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "type": self.type, "start": self.start, "end": self.end}


class TaskError(ValueError):
    """A request the task cannot serve (no texts, bad labels or types); the message says what to change."""


def _check_texts(texts: list[str]) -> None:
    if not texts:
        raise TaskError("no texts given: pass at least one non-empty text")
    empty = [i for i, t in enumerate(texts) if not t or not t.strip()]
    if empty:
        raise TaskError(f"text {empty[0]} is empty; every text must have some words in it")


@cache
def _sentiment_model() -> Any:
    from tools.nlp.sentiment import load_sentiment_model

    return load_sentiment_model(SENTIMENT_DIR)


def classify_sentiment(texts: list[str]) -> list[Label]:
    """positive / negative with the probability of each (the model has no neutral class)."""
    _check_texts(texts)
    model = _sentiment_model()
    probs = model.probabilities(texts)
    return [_label_from(model.labels, [float(p) for p in row]) for row in probs]


def parse_labels(labels: list[str] | str) -> list[str]:
    """Labels from a list or a comma-separated string; at least two distinct, non-empty ones."""
    items = labels.split(",") if isinstance(labels, str) else [p for item in labels for p in item.split(",")]
    cleaned = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    if len(cleaned) < 2:
        raise TaskError("give at least two different labels to choose between, e.g. sports,business,politics")
    return cleaned


def classify_topic(texts: list[str], labels: list[str] | str) -> list[Label]:
    """Zero-shot: for each text, the label whose description is closest in embedding space."""
    import numpy as np

    _check_texts(texts)
    names = parse_labels(labels)
    label_vectors = embed([TOPIC_TEMPLATE.format(name) for name in names])  # (L, 384)
    similarity = embed(texts) @ label_vectors.T  # (N, L) cosines: both sides are unit length
    logits = similarity / TOPIC_TEMPERATURE
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return [_label_from(names, [float(p) for p in row]) for row in probs]


def _label_from(names: list[str], probs: list[float]) -> Label:
    best = max(range(len(names)), key=probs.__getitem__)
    rounded = {n: round(p, 4) for n, p in zip(names, probs, strict=True)}
    return Label(names[best], rounded[names[best]], rounded)


def parse_types(types: list[str] | str | None) -> tuple[str, ...]:
    if not types:
        return ENTITY_TYPES
    items = types.split(",") if isinstance(types, str) else [p for item in types for p in item.split(",")]
    wanted = tuple(dict.fromkeys(_normalise_type(item) for item in items if item.strip()))
    unknown = [t for t in wanted if t not in ENTITY_TYPES]
    if unknown:
        raise TaskError(f"unknown entity type {unknown[0]!r}; use any of: {', '.join(ENTITY_TYPES)}")
    return wanted or ENTITY_TYPES


def _normalise_type(name: str) -> str:
    name = name.strip().lower()
    aliases = {"per": "person", "people": "person", "persons": "person", "org": "organization",
               "organisation": "organization", "organizations": "organization", "loc": "location",
               "locations": "location", "place": "location", "gpe": "location", "dates": "date"}
    return aliases.get(name, name)


def extract_entities(texts: list[str], types: list[str] | str | None = None,
                     batch_size: int = 64) -> list[list[Entity]]:
    """Entity spans per text; `text[start:end] == entity.text` holds for every span returned."""
    _check_texts(texts)
    wanted = parse_types(types)
    results = []
    for text, doc in zip(texts, shared_ner().pipe(texts, batch_size=batch_size), strict=True):
        spans = []
        for ent in doc.ents:
            kind = _SPACY_TO_TYPE.get(ent.label_)
            if kind in wanted and text[ent.start_char:ent.end_char] == ent.text:
                spans.append(Entity(ent.text, kind, ent.start_char, ent.end_char))
        results.append(spans)
    return results


def split_sentences(text: str) -> list[str]:
    """Sentences (a blank line also ends one); lines of a single word, like headings, are left out."""
    pieces = (" ".join(piece.split()) for piece in _SENTENCE_END.split(text))
    return [piece for piece in pieces if len(piece.split()) > 1]


def summarize(text: str, sentences: int = 2) -> list[str]:
    """The `sentences` most central sentences of `text` (cosine to the centroid), in their original order."""
    import numpy as np

    if not 1 <= sentences <= MAX_SUMMARY_SENTENCES:
        raise TaskError(f"sentences must be between 1 and {MAX_SUMMARY_SENTENCES}")
    found = split_sentences(text)
    if not found:
        raise TaskError("the text has no sentences to summarize")
    if len(found) <= sentences:
        return found
    vectors = embed(found)  # (N, 384), unit length
    centroid = vectors.mean(axis=0)
    scores = vectors @ (centroid / np.linalg.norm(centroid))
    keep = sorted(np.argsort(-scores, kind="stable")[:sentences])
    return [found[i] for i in keep]
