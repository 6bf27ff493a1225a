"""The prefilled KV cache of a run's first prompt, kept on disk for the next process.

Every run starts with the same system prompt (tools, rules, examples: ~350 tokens for the default agent),
and prefilling it is the largest part of a warm start on a 2-core CPU (1.5-3 s). Stored once per process
(~46 KB per token in float32), loaded by the next process in milliseconds; only the longest common token
prefix with the new prompt is used, so a different goal or a changed prompt never reuses stale state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MIN_REUSE = 32  # below this, loading the file costs about what prefilling would


class PromptKVStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, prompt_ids: list[int]) -> tuple[list[int], Any, Any] | None:
        """(ids, k, v) for the longest stored prefix of `prompt_ids`, or None."""
        if not self.path.is_file():
            return None
        from safetensors.torch import load_file

        try:
            stored = load_file(str(self.path))
        except Exception:  # a torn or foreign file: prefill instead
            return None
        ids = stored["ids"].tolist()
        n = 0
        limit = min(len(ids), len(prompt_ids) - 1)
        while n < limit and ids[n] == prompt_ids[n]:
            n += 1
        if n < MIN_REUSE:
            return None
        return ids[:n], stored["k"][:, :, :, :n], stored["v"][:, :, :, :n]

    def save(self, ids: list[int], k: Any, v: Any) -> None:
        import torch
        from safetensors.torch import save_file

        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_file({"ids": torch.tensor(ids, dtype=torch.int64), "k": k, "v": v}, str(tmp))
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only cache only costs the next start its prefill
