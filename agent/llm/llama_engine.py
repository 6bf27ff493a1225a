"""A minimal llama-architecture forward pass over a preallocated KV cache: the fast decode path.

Why not `model(...)` from transformers: for a 135M-parameter model on a CPU, one decode step is a few
milliseconds of arithmetic buried under tens of milliseconds of per-call Python (mask builders, cache
classes, output dataclasses, hooks, kwargs plumbing) spread over 30 layers. Here one step is ~13 tensor
ops per layer on weights fused at load (q|k|v in one matmul, gate|up in another), rotary tables computed
once, attention via SDPA straight on the cache tensors, and logits for the last position only.

Tensor shapes (B = 1 always): x [1, T, D]; cache [L, 1, KV, capacity, hd]; q [1, H, T, hd].
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_CHUNK = 1024  # KV capacity grows in steps of this many positions (memory is touched only as used)


@dataclass(frozen=True)
class LlamaShape:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    eps: float
    rope_theta: float
    max_positions: int

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> LlamaShape:
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        rope = cfg.get("rope_parameters") or {}
        return cls(
            layers=int(cfg["num_hidden_layers"]), hidden=hidden, heads=heads,
            kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(cfg.get("head_dim") or hidden // heads), vocab=int(cfg["vocab_size"]),
            eps=float(cfg.get("rms_norm_eps", 1e-6)),
            rope_theta=float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0))),
            max_positions=int(cfg.get("max_position_embeddings", 2048)),
        )


def supports(cfg: dict[str, Any], directory: Path) -> bool:
    """True when this engine computes exactly what transformers' LlamaForCausalLM would for `cfg`."""
    rope = cfg.get("rope_parameters") or {}
    return (
        cfg.get("model_type") == "llama"
        and not cfg.get("attention_bias", False)
        and not cfg.get("mlp_bias", False)
        and cfg.get("hidden_act", "silu") == "silu"
        and rope.get("rope_type", "default") == "default"
        and not cfg.get("rope_scaling")
        and int(cfg.get("pretraining_tp", 1)) == 1
        and _weight_files(directory) is not None
    )


class LlamaEngine:
    """Owns the weights and one KV cache; `forward(ids, start)` writes positions start.., returns logits."""

    def __init__(self, directory: Path, cfg: dict[str, Any], device: str, dtype: Any) -> None:
        import torch

        self._torch = torch
        self.shape = s = LlamaShape.from_config(cfg)
        self.device, self.dtype = device, dtype
        w = _Weights(directory, device, dtype)
        self.embed = w.get("model.embed_tokens.weight")
        # Small models tie the output projection to the embeddings.
        self.lm_head = w.get("lm_head.weight") if "lm_head.weight" in w else self.embed
        self.final_norm = w.get("model.norm.weight")
        self.layers = []
        for i in range(s.layers):
            p = f"model.layers.{i}."
            qkv = w.fused([p + f"self_attn.{n}_proj.weight" for n in "qkv"])
            gate_up = w.fused([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"])
            norms = w.get(p + "input_layernorm.weight"), w.get(p + "post_attention_layernorm.weight")
            self.layers.append((norms[0], qkv, w.get(p + "self_attn.o_proj.weight"), norms[1], gate_up,
                                w.get(p + "mlp.down_proj.weight")))
        inv_freq = 1.0 / (s.rope_theta ** (torch.arange(0, s.head_dim, 2, dtype=torch.float32) / s.head_dim))
        self._inv_freq = inv_freq.to(device)
        self._cos = self._sin = torch.empty(0)
        self.k_cache = self.v_cache = torch.empty(0)
        self._grow(CACHE_CHUNK)

    @property
    def capacity(self) -> int:
        return int(self.k_cache.shape[3])

    def forward(self, ids: list[int], start: int) -> Any:
        """Run `ids` at positions start..start+len(ids)-1 (earlier positions come from the cache).

        Returns float32 logits [1, vocab] for the last position. Positions >= start are overwritten, so
        rewinding the cache is just calling with a smaller `start`.
        """
        torch, s = self._torch, self.shape
        F = torch.nn.functional
        n = len(ids)
        end = start + n
        if end > self.capacity:
            self._grow(end)
        x = F.embedding(torch.tensor([ids], device=self.device), self.embed)  # [1, T, D]
        cos, sin = self._cos[start:end], self._sin[start:end]  # [T, hd]
        # T > 1 after a cached prefix: query i sees keys 0..start+i (SDPA's is_causal aligns top-left).
        mask = None
        if n > 1:
            mask = torch.ones(n, end, dtype=torch.bool, device=self.device).tril(diagonal=start)
        q_dim, kv_dim = s.heads * s.head_dim, s.kv_heads * s.head_dim
        for i, (in_norm, qkv_w, o_w, post_norm, gate_up_w, down_w) in enumerate(self.layers):
            h = F.rms_norm(x, (s.hidden,), in_norm, s.eps)
            q, k, v = F.linear(h, qkv_w).split((q_dim, kv_dim, kv_dim), dim=-1)
            q = _rotate(q.view(1, n, s.heads, s.head_dim).transpose(1, 2), cos, sin)
            k = _rotate(k.view(1, n, s.kv_heads, s.head_dim).transpose(1, 2), cos, sin)
            self.k_cache[i, :, :, start:end] = k
            self.v_cache[i, :, :, start:end] = v.view(1, n, s.kv_heads, s.head_dim).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, self.k_cache[i, :, :, :end], self.v_cache[i, :, :, :end],
                                               attn_mask=mask, enable_gqa=s.kv_heads != s.heads)
            x = x + F.linear(a.transpose(1, 2).reshape(1, n, q_dim), o_w)
            h = F.rms_norm(x, (s.hidden,), post_norm, s.eps)
            gate, up = F.linear(h, gate_up_w).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, down_w)
        h = F.rms_norm(x[:, -1], (s.hidden,), self.final_norm, s.eps)
        return F.linear(h, self.lm_head).float()

    def export_kv(self, n: int) -> tuple[Any, Any]:
        """Keys and values of positions 0..n-1 ([L, 1, KV, n, hd] each), to persist a prompt's prefill."""
        return self.k_cache[:, :, :, :n].contiguous(), self.v_cache[:, :, :, :n].contiguous()

    def import_kv(self, k: Any, v: Any) -> bool:
        n = int(k.shape[3])
        if n > self.capacity:
            self._grow(n)
        self.k_cache[:, :, :, :n] = k
        self.v_cache[:, :, :, :n] = v
        return True

    def _grow(self, needed: int) -> None:
        torch, s = self._torch, self.shape
        capacity = min(s.max_positions, math.ceil(needed / CACHE_CHUNK) * CACHE_CHUNK)
        if needed > s.max_positions:
            raise ValueError(f"{needed} tokens exceed the model's context window of {s.max_positions}")
        shape = (s.layers, 1, s.kv_heads, capacity, s.head_dim)
        k, v = (torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(2))
        old = self.capacity if self.k_cache.dim() == 5 else 0
        if old:
            k[:, :, :, :old], v[:, :, :, :old] = self.k_cache, self.v_cache
        self.k_cache, self.v_cache = k, v
        freqs = torch.outer(torch.arange(capacity, dtype=torch.float32, device=self.device), self._inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        self._cos, self._sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)


def _rotate(x: Any, cos: Any, sin: Any) -> Any:
    """Rotary position embedding, the "rotate half" layout transformers' llama uses."""
    import torch

    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def _weight_files(directory: Path) -> list[Path] | None:
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [directory / n for n in names]
    return None


class _WeightFile:
    """One safetensors file: tensors read zero-copy from a memory map, or straight into a caller's buffer.

    Zero-copy matters twice at start-up: no 500 MB memcpy (time), and no second copy next to the page
    cache (peak RSS). Fused matrices are filled with `readinto`, so their source pages never enter our RSS.
    """

    DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

    def __init__(self, path: Path) -> None:
        import mmap

        self._file = path.open("rb")
        size = int.from_bytes(self._file.read(8), "little")
        header = json.loads(self._file.read(size))
        header.pop("__metadata__", None)
        self.entries: dict[str, dict[str, Any]] = header
        self._base = 8 + size
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_COPY)

    def _dtype(self, name: str) -> Any:
        import torch

        return getattr(torch, self.DTYPES[self.entries[name]["dtype"]])

    def tensor(self, name: str) -> Any:
        import torch

        entry = self.entries[name]
        begin, end = entry["data_offsets"]
        dtype = self._dtype(name)
        count = (end - begin) // torch.empty(0, dtype=dtype).element_size()
        flat = torch.frombuffer(self._map, dtype=dtype, count=count, offset=self._base + begin)
        return flat.view(entry["shape"])

    def read_into(self, name: str, out: Any) -> None:
        """Copy tensor `name` into `out` (contiguous, same dtype and element count) with one file read."""
        begin, end = self.entries[name]["data_offsets"]
        self._file.seek(self._base + begin)
        import torch

        view = memoryview(out.view(-1).view(dtype=torch.uint8).numpy())
        assert self._file.readinto(view) == end - begin


class _Weights:
    """All tensors of a checkpoint by name, in the engine's dtype and device."""

    def __init__(self, directory: Path, device: str, dtype: Any) -> None:
        files = _weight_files(directory)
        assert files is not None
        self._where = {name: f for f in map(_WeightFile, files) for name in f.entries}
        self.device, self.dtype = device, dtype

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def get(self, name: str) -> Any:
        return self._where[name].tensor(name).to(device=self.device, dtype=self.dtype)

    def fused(self, names: list[str]) -> Any:
        """The named matrices stacked by rows (one matmul instead of several)."""
        import torch

        files = [self._where[n] for n in names]
        shapes = [f.entries[n]["shape"] for f, n in zip(files, names, strict=True)]
        same = all(f._dtype(n) == self.dtype for f, n in zip(files, names, strict=True))
        if not (same and self.device == "cpu"):
            return torch.cat([self.get(n) for n in names])
        out = torch.empty(sum(s[0] for s in shapes), shapes[0][1], dtype=self.dtype)
        row = 0
        for f, n, shape in zip(files, names, shapes, strict=True):
            f.read_into(n, out[row:row + shape[0]])
            row += shape[0]
        return out
