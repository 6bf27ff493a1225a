"""A small Transformer encoder for text classification, trained from scratch (PyTorch).

Words are the tokens: a lowercased `\\w+|[^\\w\\s]` split, with a vocabulary built from the training texts
only (the test split's words map to [UNK] unless they were seen in training). Shapes in comments: B batch,
T tokens, H hidden size, C classes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

PAD, UNK = 0, 1
SPECIALS = ["[PAD]", "[UNK]"]
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def build_vocab(texts: list[str], max_size: int) -> list[str]:
    counts = Counter(tok for text in texts for tok in tokenize(text))
    return SPECIALS + [tok for tok, _ in counts.most_common(max_size - len(SPECIALS))]


def encode(texts: list[str], vocab: dict[str, int], max_length: int) -> Any:
    """Token ids (B, T) padded with PAD to the longest text in the batch (at most max_length)."""
    import torch

    rows = [[vocab.get(tok, UNK) for tok in tokenize(text)][:max_length] or [UNK] for text in texts]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows], dtype=torch.long)


@dataclass(frozen=True)
class EncoderShape:
    vocab_size: int
    num_classes: int
    num_layers: int = 2
    hidden_size: int = 64
    num_heads: int = 4
    max_length: int = 64
    # dropout's random masks were ~20% of a CPU training step here; weight decay and few epochs regularize
    dropout: float = 0.0


def check_shape(num_layers: int, hidden_size: int, num_heads: int) -> None:
    """Refuse sizes the encoder cannot be built with, in words a user can act on."""
    if not 1 <= num_layers <= 24:
        raise ValueError(f"num_layers must be between 1 and 24, not {num_layers}")
    if not 8 <= hidden_size <= 2048:
        raise ValueError(f"hidden_size must be between 8 and 2048, not {hidden_size}")
    if num_heads < 1 or hidden_size % num_heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of num_heads ({num_heads})")


def build_encoder(shape: EncoderShape) -> Any:
    import torch
    from torch import nn

    class TextEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            h = shape.hidden_size
            self.tokens = nn.Embedding(shape.vocab_size, h, padding_idx=PAD)
            self.positions = nn.Embedding(shape.max_length, h)
            layer = nn.TransformerEncoderLayer(h, shape.num_heads, dim_feedforward=4 * h,
                                               dropout=shape.dropout, batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, shape.num_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(h)
            self.head = nn.Linear(h, shape.num_classes)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            mask = ids == PAD  # (B, T), True where padding
            positions = torch.arange(ids.shape[1], device=ids.device)
            x = self.tokens(ids) + self.positions(positions)[None]  # (B, T, H)
            x = self.encoder(x, src_key_padding_mask=mask)
            keep = (~mask).unsqueeze(-1).float()  # (B, T, 1)
            pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)  # mean over real tokens: (B, H)
            return self.head(self.norm(pooled))  # (B, C) logits

    return TextEncoder()


def train_encoder(model: Any, ids: Any, targets: Any, epochs: int, seed: int, batch_size: int = 32,
                  lr: float = 1e-3) -> None:
    """AdamW with a linear warm-up then cosine decay; plain cross-entropy."""
    import math

    import torch

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * math.ceil(len(ids) / batch_size)
    warmup = max(1, steps // 10)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    lengths = (ids != PAD).sum(1)
    model.train()
    for _ in range(epochs):
        for batch in _length_buckets(lengths, batch_size, generator):
            loss = torch.nn.functional.cross_entropy(model(_trim(ids[batch])), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
    model.eval()


def _length_buckets(lengths: Any, batch_size: int, generator: Any) -> list[Any]:
    """Shuffled batches of similar-length texts: far less padding to run through attention."""
    import torch

    order = torch.randperm(len(lengths), generator=generator)
    batches = []
    window = batch_size * 8
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def _trim(ids: Any) -> Any:
    """Drop columns that are padding in every row of the batch (shorter sequences, faster steps)."""
    used = int((ids != PAD).any(0).nonzero().max()) + 1
    return ids[:, :used]


def predict_encoder(model: Any, ids: Any, batch_size: int = 64) -> Any:
    """Class probabilities (N, C), one forward pass per batch."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            out.append(torch.softmax(model(_trim(ids[start:start + batch_size])), dim=-1))
    return torch.cat(out)
