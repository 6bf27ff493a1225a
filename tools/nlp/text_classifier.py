"""Training a text classifier on a user's labeled CSV/JSONL, evaluating it on a held-out split, saving it.

Two kinds, both PyTorch:
- `embedding`: a linear (softmax) head on frozen all-MiniLM-L6-v2 sentence embeddings. Fast; good with a
  few hundred examples.
- `transformer`: a small Transformer encoder trained from scratch (`tools/nlp/text_encoder.py`), sized by
  num_layers / hidden_size / num_heads. Needs more data; no pretrained knowledge.

A saved model is a directory: `classifier.json` (kind, labels, sizes, metrics, vocabulary) and
`weights.safetensors`.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools.nlp import text_encoder

KINDS = ("embedding", "transformer")
MANIFEST = "classifier.json"
WEIGHTS = "weights.safetensors"
MAX_ROWS = 200_000


class DataError(ValueError):
    """The training data or the request cannot be used; the message says why."""


@dataclass(frozen=True)
class TrainConfig:
    kind: str = "embedding"
    num_layers: int = 2
    hidden_size: int = 64
    num_heads: int = 4
    epochs: int = 0  # 0: a default per kind (200 L-BFGS steps for embedding, 20 epochs for transformer)
    test_fraction: float = 0.2
    seed: int = 0
    max_length: int = 64
    vocab_size: int = 20_000

    def check(self) -> None:
        if self.kind not in KINDS:
            raise DataError(f"unknown kind {self.kind!r}; use one of: {', '.join(KINDS)}")
        if not 0.05 <= self.test_fraction <= 0.5:
            raise DataError(f"test_fraction must be between 0.05 and 0.5, not {self.test_fraction}")
        if self.kind == "transformer":
            try:
                text_encoder.check_shape(self.num_layers, self.hidden_size, self.num_heads)
            except ValueError as exc:
                raise DataError(str(exc)) from None


@dataclass
class TrainReport:
    kind: str
    labels: list[str]
    train_size: int
    test_size: int
    accuracy: float
    macro_f1: float
    per_label_f1: dict[str, float]
    seconds: float
    model_dir: str = ""
    config: dict[str, Any] = field(default_factory=dict)


# -- data --------------------------------------------------------------------------------------------


def read_labeled(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and labels from a .csv (header row) or .jsonl file; rows missing either are skipped."""
    rows = _read_rows(path)
    if not rows:
        raise DataError(f"{path.name} has no rows")
    columns = list(rows[0].keys())
    for column in (text_column, label_column):
        if column not in rows[0]:
            raise DataError(f"column {column!r} is not in {path.name}; its columns are: {', '.join(columns)}")
    texts, labels = [], []
    for row in rows:
        text, label = str(row.get(text_column) or "").strip(), str(row.get(label_column) or "").strip()
        if text and label:
            texts.append(text)
            labels.append(label)
    return texts, labels


def _read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            return [dict(r) for r in itertools.islice(csv.DictReader(handle), MAX_ROWS)]
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        raise DataError(f"{path.name} line {number} is not valid JSON") from None
                    if not isinstance(record, dict):
                        raise DataError(f"{path.name} line {number} is not a JSON object")
                    rows.append(record)
                if len(rows) >= MAX_ROWS:
                    break
        return rows
    raise DataError(f"{path.name}: training data must be a .csv or .jsonl file")


def stratified_split(labels: list[str], test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of train and test rows; each label keeps at least one row on each side."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    train, test = [], []
    for label, rows in sorted(by_label.items()):
        if len(rows) < 2:
            raise DataError(f"label {label!r} has only {len(rows)} example; each label needs at least 2")
        rng.shuffle(rows)
        n_test = min(len(rows) - 1, max(1, round(len(rows) * test_fraction)))
        test.extend(rows[:n_test])
        train.extend(rows[n_test:])
    return sorted(train), sorted(test)


def scores(truth: list[str], predicted: list[str],
           labels: list[str]) -> tuple[float, float, dict[str, float]]:
    """Accuracy, macro-F1 (the unweighted mean of per-label F1) and the per-label F1."""
    per_label = {}
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        per_label[label] = round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / max(1, len(truth))
    return round(accuracy, 4), round(sum(per_label.values()) / max(1, len(labels)), 4), per_label


# -- training ----------------------------------------------------------------------------------------


def train_classifier(data: Path, text_column: str, label_column: str, out_dir: Path,
                     config: TrainConfig = TrainConfig()) -> TrainReport:
    """Train on a split of `data`, score on the held-out rest, save to `out_dir`, and report."""
    config.check()
    started = time.monotonic()
    texts, labels = read_labeled(data, text_column, label_column)
    names = sorted(set(labels))
    if len(names) < 2:
        raise DataError(f"need at least 2 different labels in {label_column!r}, found {len(names)}")
    train_idx, test_idx = stratified_split(labels, config.test_fraction, config.seed)
    index = {name: i for i, name in enumerate(names)}
    y = [index[label] for label in labels]
    fit = _fit_embedding if config.kind == "embedding" else _fit_transformer
    classifier = fit([texts[i] for i in train_idx], [y[i] for i in train_idx], names, config)
    predicted = [label for label, _ in classifier.predict([texts[i] for i in test_idx])]
    accuracy, macro_f1, per_label = scores([labels[i] for i in test_idx], predicted, names)
    report = TrainReport(config.kind, names, len(train_idx), len(test_idx), accuracy, macro_f1, per_label,
                         round(time.monotonic() - started, 2), str(out_dir), asdict(config))
    classifier.save(out_dir, report)
    return report


def _fit_embedding(texts: list[str], y: list[int], names: list[str], config: TrainConfig) -> Classifier:
    import torch

    from tools.nlp.models import embed

    x = torch.from_numpy(embed(texts)).float()  # (N, 384), unit length
    head = fit_linear_head(x, y, len(names), config.epochs or 200, config.seed)
    return Classifier("embedding", names, head, {})


def fit_linear_head(x: Any, y: list[int], num_classes: int, steps: int = 200, seed: int = 0) -> Any:
    """Multinomial logistic regression on features x (N, D), fitted full-batch with L-BFGS."""
    import torch

    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], num_classes)
    targets = torch.tensor(y)
    l2 = 0.5 / len(y)
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        # L2 penalty of 0.5 |W|^2 / N (scikit-learn's C=1): keeps weights finite on separable data
        loss = torch.nn.functional.cross_entropy(head(x), targets) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head.eval()


def _fit_transformer(texts: list[str], y: list[int], names: list[str], config: TrainConfig) -> Classifier:
    import torch

    torch.manual_seed(config.seed)
    vocab = text_encoder.build_vocab(texts, config.vocab_size)
    shape = text_encoder.EncoderShape(len(vocab), len(names), config.num_layers, config.hidden_size,
                                      config.num_heads, config.max_length)
    model = text_encoder.build_encoder(shape)
    ids = text_encoder.encode(texts, {tok: i for i, tok in enumerate(vocab)}, config.max_length)
    threads = torch.get_num_threads()
    # the encoder's matrices are small: a second thread buys little, and on a busy machine each parallel op
    # waits for both threads to be scheduled (measured 4x slower with 2 threads than with 1 under load)
    torch.set_num_threads(1)
    try:
        text_encoder.train_encoder(model, ids, torch.tensor(y), config.epochs or 20, config.seed)
    finally:
        torch.set_num_threads(threads)
    return Classifier("transformer", names, model, {"vocab": vocab, "shape": asdict(shape)})


# -- the trained model ---------------------------------------------------------------------------------


class Classifier:
    """A trained model: `predict(texts)` gives (label, probability) per text, in batches."""

    def __init__(self, kind: str, labels: list[str], module: Any, extra: dict[str, Any]) -> None:
        self.kind, self.labels, self.module, self.extra = kind, labels, module, extra
        self._vocab = {tok: i for i, tok in enumerate(extra.get("vocab", []))}

    def probabilities(self, texts: list[str]) -> Any:
        import torch

        if self.kind == "embedding":
            from tools.nlp.models import embed

            with torch.inference_mode():
                return torch.softmax(self.module(torch.from_numpy(embed(texts)).float()), dim=-1)
        ids = text_encoder.encode(texts, self._vocab, int(self.extra["shape"]["max_length"]))
        return text_encoder.predict_encoder(self.module, ids)

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        probs = self.probabilities(texts)
        best = probs.argmax(dim=-1)
        return [(self.labels[int(i)], round(float(probs[row, i]), 4)) for row, i in enumerate(best)]

    def save(self, out_dir: Path, report: TrainReport) -> None:
        from safetensors.torch import save_file

        out_dir.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.module.state_dict().items()}
        save_file(state, str(out_dir / WEIGHTS))
        manifest = {"format": 1, "kind": self.kind, "labels": self.labels, "report": asdict(report),
                    **self.extra}
        (out_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def load_classifier(model_dir: Path) -> Classifier:
    """A classifier saved by `train_classifier` (a directory, or its classifier.json)."""
    import torch
    from safetensors.torch import load_file

    if model_dir.name == MANIFEST:
        model_dir = model_dir.parent
    if not (model_dir / MANIFEST).is_file() or not (model_dir / WEIGHTS).is_file():
        raise DataError(f"{model_dir.name} is not a trained classifier (no {MANIFEST} / {WEIGHTS} in it)")
    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    state = load_file(str(model_dir / WEIGHTS))
    labels = list(manifest["labels"])
    if manifest["kind"] == "embedding":
        weight = state["weight"]
        module = torch.nn.Linear(weight.shape[1], weight.shape[0])
        extra: dict[str, Any] = {}
    elif manifest["kind"] == "transformer":
        shape = text_encoder.EncoderShape(**manifest["shape"])
        module = text_encoder.build_encoder(shape)
        extra = {"vocab": manifest["vocab"], "shape": manifest["shape"]}
    else:
        raise DataError(f"{model_dir.name}: unknown classifier kind {manifest['kind']!r}")
    module.load_state_dict(state)
    return Classifier(manifest["kind"], labels, module.eval(), extra)
