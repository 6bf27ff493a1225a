"""The sentiment model: all-MiniLM-L6-v2 with its top layers fine-tuned for positive / negative.

The bottom of the network is the shared embedder (`tools.nlp.models.shared_embedder()`, never changed), so
no second copy of MiniLM is loaded. Its hidden states after layer `first_layer` go through fine-tuned
copies of the layers above it (`TopLayers`, written out here so that the shipped weights do not depend on
transformers' internal layer API), are mean-pooled over the real tokens and go through a linear head.
`tools/nlp/data/sentiment/` holds those layers and the head (fp16) with a small manifest;
`benchmarks/train_sentiment.py` rebuilds them.

Shapes in comments: B batch, T tokens, H hidden size (384), C classes (2).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MANIFEST = "sentiment.json"
WEIGHTS = "sentiment.safetensors"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
BATCH = 64


@dataclass(frozen=True)
class TopShape:
    """Where the fine-tuned layers sit on MiniLM and how big they are (MiniLM-L6-H384's sizes)."""

    first_layer: int = 4  # the base model's layers [0, first_layer) are shared and frozen
    num_layers: int = 2
    hidden_size: int = 384
    num_heads: int = 12
    ffn_size: int = 1536
    num_classes: int = 2
    layer_norm_eps: float = 1e-12


def build_top(shape: TopShape, dropout: float = 0.0) -> Any:
    """Fine-tunable BERT layers (post-LayerNorm, as in MiniLM) + mean pooling + a linear head."""
    import torch
    from torch import nn

    class Layer(nn.Module):
        """One BERT encoder layer; parameter names follow Hugging Face's BertLayer, minus the nesting."""

        def __init__(self) -> None:
            super().__init__()
            h, f = shape.hidden_size, shape.ffn_size
            self.query, self.key, self.value, self.attn_out = (nn.Linear(h, h) for _ in range(4))
            self.attn_norm = nn.LayerNorm(h, eps=shape.layer_norm_eps)
            self.ffn_in, self.ffn_out = nn.Linear(h, f), nn.Linear(f, h)
            self.ffn_norm = nn.LayerNorm(h, eps=shape.layer_norm_eps)
            self.drop = nn.Dropout(dropout)

        def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
            b, t, h = x.shape
            heads = shape.num_heads
            split = lambda y: y.view(b, t, heads, h // heads).transpose(1, 2)  # noqa: E731  (B, heads, T, h/heads)
            bias = pad[:, None, None, :].float() * torch.finfo(x.dtype).min  # (B, 1, 1, T): no attention to padding
            att = nn.functional.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)),
                                                             split(self.value(x)), attn_mask=bias)
            x = self.attn_norm(x + self.drop(self.attn_out(att.transpose(1, 2).reshape(b, t, h))))
            return self.ffn_norm(x + self.drop(self.ffn_out(nn.functional.gelu(self.ffn_in(x)))))

    class TopLayers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(Layer() for _ in range(shape.num_layers))
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(shape.hidden_size, shape.num_classes)

        def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            """hidden (B, T, H) from the base model's layer `first_layer`; mask (B, T), 1 on real tokens."""
            pad = mask == 0
            for layer in self.layers:
                hidden = layer(hidden, pad)
            keep = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * keep).sum(1) / keep.sum(1).clamp(min=1.0)  # (B, H)
            return self.head(self.drop(pooled))  # (B, C) logits

    return TopLayers()


# Hugging Face BertLayer parameter names -> ours (used once, to start fine-tuning from the base weights)
_HF_NAMES = {"attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
             "attention.output.dense": "attn_out", "attention.output.LayerNorm": "attn_norm",
             "intermediate.dense": "ffn_in", "output.dense": "ffn_out", "output.LayerNorm": "ffn_norm"}


def top_from_base(base_model: Any, shape: TopShape, dropout: float = 0.1) -> Any:
    """TopLayers initialised with the base model's layers [first_layer, first_layer + num_layers)."""
    top = build_top(shape, dropout)
    state = base_model.state_dict()
    ours = {}
    for i in range(shape.num_layers):
        prefix = f"encoder.layer.{shape.first_layer + i}."
        for hf, name in _HF_NAMES.items():
            for kind in ("weight", "bias"):
                ours[f"layers.{i}.{name}.{kind}"] = state[prefix + hf + "." + kind]
    missing = top.load_state_dict(ours, strict=False).missing_keys
    assert missing == ["head.weight", "head.bias"], missing
    return top


def base_hidden_states(texts: list[str], first_layer: int, batch_size: int = BATCH) -> list[tuple[Any, Any]]:
    """Per batch of texts (in input order): hidden states (B, T, H) after `first_layer` layers and the mask."""
    import torch

    from tools.nlp.models import shared_embedder

    embedder = shared_embedder()
    tokenizer, base = embedder[0].tokenizer, embedder[0].auto_model
    device = next(base.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                              max_length=MAX_TOKENS, return_tensors="pt").to(device)
            states = base(**batch, output_hidden_states=True).hidden_states  # embeddings, then each layer
            out.append((states[first_layer], batch["attention_mask"]))
    return out


class SentimentModel:
    """The shipped sentiment classifier: `probabilities(texts)` -> (N, C), one model call per batch."""

    def __init__(self, labels: list[str], shape: TopShape, top: Any) -> None:
        self.labels, self.shape, self.top = labels, shape, top

    def probabilities(self, texts: list[str]) -> Any:
        import torch

        if not texts:
            return torch.zeros(0, len(self.labels))
        # sorted by length, so a batch pads to similar lengths; the rows go back in input order at the end
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        probs = []
        with torch.inference_mode():
            for hidden, mask in base_hidden_states([texts[i] for i in order], self.shape.first_layer):
                top = self.top.to(hidden.device)
                probs.append(torch.softmax(top(hidden, mask).float(), dim=-1).cpu())
        stacked = torch.cat(probs)
        result = torch.empty_like(stacked)
        result[torch.tensor(order)] = stacked
        return result

    def save(self, out_dir: Path, report: dict[str, Any]) -> None:
        """fp16 weights (half the bytes: on the validation split no label changed, no probability by 0.001)."""
        from safetensors.torch import save_file

        out_dir.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").half().contiguous() for k, v in self.top.state_dict().items()}
        save_file(state, str(out_dir / WEIGHTS))
        manifest = {"format": 1, "base_model": "all-MiniLM-L6-v2", "labels": self.labels,
                    "shape": asdict(self.shape), "report": report}
        (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def load_sentiment_model(model_dir: Path) -> SentimentModel:
    import torch
    from safetensors.torch import load_file

    from tools.nlp.models import pick_device

    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    shape = TopShape(**manifest["shape"])
    top = build_top(shape)
    top.load_state_dict({k: v.float() for k, v in load_file(str(model_dir / WEIGHTS)).items()})
    return SentimentModel(list(manifest["labels"]), shape, top.eval().to(torch.device(pick_device())))


def parameters_mb(shape: TopShape) -> float:
    """Size of the shipped weights in MB at fp16 (for the docs and the training log)."""
    h, f = shape.hidden_size, shape.ffn_size
    per_layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 4 * h
    return math.ceil(2 * (shape.num_layers * per_layer + h * shape.num_classes) / 1e5) / 10
