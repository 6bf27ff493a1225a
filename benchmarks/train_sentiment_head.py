"""Rebuild the shipped sentiment head (tools/nlp_data/sentiment/) from the VADER ground-truth data.

The data: the four human-rated sets of Hutto & Gilbert (ICWSM 2014) that ship inside the PyPI source
distribution of vaderSentiment 3.3.2 (MIT), in `additional_resources/hutto_ICWSM_2014.tar.gz`:
tweets, NYT editorial snippets, Amazon review snippets, movie review snippets, each with a mean rating in
[-4, 4]. Snippets rated |r| >= 0.5 are used (positive when r > 0). Every snippet that appears in
benchmarks/data/reviews_sentiment.jsonl is left out, so the benchmark measures unseen reviews.

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/v && tar -C /tmp/v -xzf ...
    python benchmarks/train_sentiment_head.py /tmp/v/.../hutto_ICWSM_2014
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCES = ("tweets", "nytEditorialSnippets", "amazonReviewSnippets", "movieReviewSnippets")
MIN_ABS_RATING = 0.5


def load(vader_dir: Path) -> tuple[list[str], list[int]]:
    bench = ROOT / "benchmarks/data/reviews_sentiment.jsonl"
    held_out = {json.loads(line)["text"] for line in bench.open(encoding="utf-8")}
    texts, y = [], []
    for source in SOURCES:
        with (vader_dir / f"{source}_GroundTruth.txt").open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                parts = line.rstrip("\r\n").split("\t")
                if len(parts) < 3 or parts[2] in held_out or abs(float(parts[1])) < MIN_ABS_RATING:
                    continue
                texts.append(parts[2])
                y.append(int(float(parts[1]) > 0))
    return texts, y


def main(vader_dir: Path) -> None:
    import torch

    from tools.nlp_models import embed
    from tools.nlp_tasks import SENTIMENT_DIR
    from tools.text_classifier import Classifier, TrainReport, fit_linear_head, scores

    started = time.monotonic()
    texts, y = load(vader_dir)
    x = torch.from_numpy(embed(texts)).float()
    order = list(range(len(y)))
    random.Random(0).shuffle(order)
    cut = int(0.9 * len(order))  # a 10% validation split, for the figures in classifier.json
    train, val = order[:cut], order[cut:]
    names = ["negative", "positive"]
    head = fit_linear_head(x[train], [y[i] for i in train], 2)
    with torch.inference_mode():
        predicted = head(x[val]).argmax(-1).tolist()
    accuracy, macro_f1, per_label = scores([names[y[i]] for i in val], [names[p] for p in predicted], names)
    print(f"validation: accuracy {accuracy} macro-F1 {macro_f1} on {len(val)} snippets")
    head = fit_linear_head(x, y, 2)  # the shipped head uses every training snippet
    report = TrainReport("embedding", names, len(y), len(val), accuracy, macro_f1, per_label,
                         round(time.monotonic() - started, 1), "tools/nlp_data/sentiment",
                         {"data": "VADER ground truth (Hutto & Gilbert 2014), |rating| >= 0.5, benchmark "
                                  "rows excluded; metrics from a 90/10 split",
                          "embedder": "all-MiniLM-L6-v2"})
    Classifier("embedding", names, head, {}).save(SENTIMENT_DIR, report)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
