"""The general decode path: any transformers causal LM, with a DynamicCache kept between calls.

Used for architectures `LlamaEngine` does not cover and for models loaded straight from a GGUF file.
Same contract as `LlamaEngine.forward`: write positions start.., return float32 logits of the last `keep`.
"""

from __future__ import annotations

import inspect
from typing import Any


class HFEngine:
    def __init__(self, model: Any, device: str) -> None:
        self.model = model
        self.device = device
        self._cache: Any = None
        self._length = 0
        # transformers 5.x renamed the forward's `past_key_values` to `cache` (the old name warns, then goes)
        parameters = inspect.signature(model.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"

    def export_kv(self, n: int) -> None:
        return None  # persisting a DynamicCache is not worth its format churn across versions

    def import_kv(self, k: Any, v: Any) -> bool:
        return False  # nothing is exported in this engine's format, so a stored prompt is never taken up

    def forward(self, ids: list[int], start: int, keep: int = 1) -> Any:
        import torch
        from transformers import DynamicCache

        if self._cache is None or start == 0:
            self._cache, self._length = DynamicCache(config=self.model.config), 0
        elif start < self._length:
            self._cache.crop(start - self._length)  # a negative count: drop that many trailing positions
            self._length = start
        assert start == self._length, "positions must be contiguous"
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        out = self.model(input_ids=input_ids, use_cache=True, logits_to_keep=keep,
                         **{self._cache_argument: self._cache})
        self._length += len(ids)
        return out.logits[0, -keep:, :].float()
