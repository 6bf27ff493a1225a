"""The shipped sentiment model (MiniLM with fine-tuned top layers) with the real base model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.nlp import tasks as nlp_tasks
from tools.nlp.sentiment import MANIFEST, WEIGHTS, TopShape, base_hidden_states, top_from_base

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = [  # written for this test, not taken from any data set
    ("A moving, beautifully shot film with a terrific cast.", "positive"),
    ("The plot is predictable and every joke falls flat.", "negative"),
    ("Works exactly as described and the battery lasts for days.", "positive"),
    ("Stopped charging after a week; a complete waste of money.", "negative"),
]


def test_top_layers_started_from_minilm_reproduce_its_output() -> None:
    """Our copy of the BERT layer computes what transformers' does, so fine-tuned weights mean the same."""
    import torch

    from tools.nlp.models import shared_embedder

    base = shared_embedder()[0].auto_model
    texts = ["Short.", "A somewhat longer sentence, so that the first one is padded in the batch."]
    shape = TopShape(first_layer=4, num_layers=2)
    top = top_from_base(base, shape, dropout=0.0).eval()
    (hidden, mask), = base_hidden_states(texts, shape.first_layer)
    (last, _), = base_hidden_states(texts, 6)
    with torch.inference_mode():
        for layer in top.layers:
            hidden = layer(hidden, mask == 0)
    real = mask.bool()
    assert torch.allclose(hidden[real], last[real], atol=1e-4)


def test_sentiment_labels_short_reviews() -> None:
    labels = nlp_tasks.classify_sentiment([text for text, _ in REVIEWS])
    assert [x.label for x in labels] == [gold for _, gold in REVIEWS]
    for x in labels:
        assert set(x.scores) == {"negative", "positive"}
        assert sum(x.scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert x.score == max(x.scores.values())


def test_results_come_back_in_input_order_over_several_batches() -> None:
    # texts are batched by length; 70 alternating texts of growing length span two batches of 64
    texts = [REVIEWS[i % 4][0] + " Really." * (i // 4) for i in range(70)]
    labels = [x.label for x in nlp_tasks.classify_sentiment(texts)]
    assert labels == [REVIEWS[i % 4][1] for i in range(70)]


def test_the_model_is_loaded_once_and_shares_the_embedder() -> None:
    from tools.nlp import models as nlp_models

    nlp_tasks.classify_sentiment(["fine"])
    first = nlp_tasks._sentiment_model()
    nlp_tasks.classify_sentiment(["fine again"])
    assert nlp_tasks._sentiment_model() is first
    assert "embedder" in nlp_models.loaded()


def test_shipped_weights_are_small_and_load_offline() -> None:
    folder = ROOT / "tools" / "nlp" / "data" / "sentiment"
    assert (folder / WEIGHTS).stat().st_size < 10_000_000
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["labels"] == ["negative", "positive"]
    code = ("from tools.nlp.tasks import classify_sentiment; "
            "print(classify_sentiment(['What a wonderful, warm film.'])[0].label)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "positive"
