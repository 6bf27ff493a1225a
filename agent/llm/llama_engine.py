"""A minimal llama-architecture forward pass over a preallocated KV cache: the fast decode path.

Why not `model(...)` from transformers: for a 135M-parameter model on a CPU, one decode step is a few
tens of milliseconds of weight streaming, and transformers adds per-call Python on top (mask builders,
cache classes, output dataclasses, hooks, kwargs plumbing) spread over 30 layers. Here a layer is ~20
tensor ops (a prefill), and a step of up to 16 tokens one C call for all layers (see below), on weights
prepared at load:
- in float32, stored transposed, [in, out], so a one-token step is `x @ w` over contiguous rows: on our
  AVX2 CPUs MKL streams that layout 1.25-1.7x faster than `F.linear`'s [out, in] (decode 12.7 -> 15.8
  tok/s). Other dtypes keep [out, in] and `F.linear`: a bfloat16 `x @ w` is 10x slower there;
- fused, q|k|v in one matmul and gate|up in another;
- in float32 on the CPU, also in the GGUF's own Q4_1/Q8_0 blocks where every weight is exactly such a
  block's value. A step of up to 16 tokens (a decode step, a draft, forced grammar tokens) then runs as one
  C call (`fused_step`, `decode_step.c`): every layer's products over those blocks (5-8x fewer bytes than
  float32) with the RMSNorm or SiLU(gate) * up before each matrix and the residual add after it, and
  rotary + cache writes + attention, on the kernel threads. Longer prefills use the dense matrices; a
  model with a matrix that has no block form takes the same kernels one matrix at a time (`BlockMatrix`);
- with each head's q and k rows reordered from transformers' "rotate half" layout to interleaved pairs,
  so rotary embedding is one complex multiply on q|k together. q.k is unchanged because q and k share
  the order; v and the output are untouched.
Otherwise attention is SDPA straight on the cache tensors. Logits are computed for the last positions only.

Tensor shapes (B = 1 always): x [1, T, D]; cache [L, 1, KV, capacity, hd]; q [1, H, T, hd].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.llm import block_kernels, block_weights
from agent.llm.fused_step import FusedStep
from agent.llm.weights import Checkpoint, cached_tensors, checkpoint_files

CACHE_CHUNK = 1024  # KV capacity grows in steps of this many positions (memory is touched only as used)
WEIGHTS_FORMAT = "5"  # names the engine weights' and KV cache's layout: bump when either changes


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
        and checkpoint_files(directory) is not None
    )


LAYER_TENSORS = ("in_norm", "qkv", "o", "post_norm", "gate_up", "down")  # per layer, in forward order
MATRICES = ("qkv", "o", "gate_up", "down")


class LlamaEngine:
    """Owns the weights and one KV cache; `forward(ids, start)` writes positions start.., returns logits."""

    def __init__(self, directory: Path, cfg: dict[str, Any], device: str, dtype: Any,
                 weights_cache: Path | None = None, kernels: block_kernels.Kernels | None = None) -> None:
        """`weights_cache`: where the prepared weights are kept between processes (None: prepare each time).
        `kernels`: the block kernels, used for the matrices that have a block form (CPU, float32)."""
        import torch

        self._torch = torch
        self.shape = s = LlamaShape.from_config(cfg)
        self.device, self.dtype = device, dtype
        stored = cached_tensors(weights_cache, lambda: engine_tensors(directory, s, dtype))
        if device != "cpu":
            stored, kernels = {k: t for k, t in stored.items() if not block_weights.is_block_part(k)}, None
        w = {name: t.to(device) for name, t in stored.items()}  # on the CPU: the same mapped tensors

        def matmul(name: str) -> Any:  # x -> x @ weight, by the block kernel where it can
            return block_kernels.matrix_for(name, w, kernels, DenseMatrix(w[name], s.eps))

        self.kernels = kernels  # also does rotary + attention for steps of a few tokens
        self.embed = w["embed"]  # [V, D]
        self.head = matmul("head")  # the output projection (tied to `embed` in small models)
        self.final_norm = w["norm"]
        self.layers = [tuple(matmul(f"layers.{i}.{n}") if n in MATRICES else w[f"layers.{i}.{n}"]
                             for n in LAYER_TENSORS) for i in range(s.layers)]
        self.uses_blocks = isinstance(self.head, block_kernels.BlockMatrix) or any(
            isinstance(m, block_kernels.BlockMatrix) for layer in self.layers for m in layer)
        inv_freq = 1.0 / (s.rope_theta ** (torch.arange(0, s.head_dim, 2, dtype=torch.float32) / s.head_dim))
        self._inv_freq = inv_freq.to(device)
        self._rope = torch.empty(0)
        self.k_cache = self.v_cache = torch.empty(0)
        self._fused: FusedStep | None = None
        self._grow(CACHE_CHUNK)
        self.matrices_changed()

    def matrices_changed(self) -> None:
        """Call after replacing matrices in `layers` or `head` (with adapters, say): steps of up to 16 tokens
        run as one C call only while every matrix is a plain `BlockMatrix`, else matrix by matrix."""
        applies = self.kernels is not None and FusedStep.applies(self)
        self._fused = FusedStep(self.kernels, self) if applies else None

    @property
    def capacity(self) -> int:
        return int(self.k_cache.shape[3])

    def forward(self, ids: list[int], start: int, keep: int = 1) -> Any:
        """Run `ids` at positions start..start+len(ids)-1 (earlier positions come from the cache).

        Returns float32 logits [keep, vocab] for the last `keep` positions. Positions >= start are
        overwritten, so rewinding the cache is just calling with a smaller `start`.
        """
        torch = self._torch
        if start + len(ids) > self.capacity:
            self._grow(start + len(ids))
        if self._fused is not None and len(ids) <= block_kernels.MAX_ROWS:
            return self._fused(ids, start, keep)
        x = torch.nn.functional.embedding(torch.tensor([ids], device=self.device), self.embed)  # [1, T, D]
        for i, (in_norm, qkv_w, o_w, post_norm, gate_up_w, down_w) in enumerate(self.layers):
            qkv = qkv_w(x, norm=in_norm)  # [1, T, (H + 2 KV) hd]
            x = o_w(self._attention(i, qkv, start), add_to=x)
            x = down_w(gate_up_w(x, norm=post_norm), gated=True, add_to=x)
        return self.head(x[0, -keep:], norm=self.final_norm).float()

    def _attention(self, layer: int, qkv: Any, start: int) -> Any:
        """Rotary on q and k, k and v into the cache at start.., then causal attention: [1, T, H hd]."""
        torch, s = self._torch, self.shape
        k_cache, v_cache = self.k_cache[layer], self.v_cache[layer]
        if self.kernels is not None:
            out = self.kernels.attention(qkv, start, s.heads, s.kv_heads, self.rope_pairs, k_cache, v_cache)
            if out is not None:
                return out
        F = torch.nn.functional
        heads, kv, hd = s.heads, s.kv_heads, s.head_dim
        n = int(qkv.shape[1])
        end = start + n
        pairs = torch.view_as_complex(qkv[..., :(heads + kv) * hd].float().unflatten(-1, (heads + kv, hd // 2, 2)))
        qk = torch.view_as_real(pairs * self._rope[start:end, None]).flatten(-2).to(self.dtype)  # [1, T, H + KV, hd]
        k_cache[:, :, start:end] = qk[:, :, heads:].transpose(1, 2)
        v_cache[:, :, start:end] = qkv[..., (heads + kv) * hd:].unflatten(-1, (kv, hd)).transpose(1, 2)
        # T > 1 after a cached prefix: query i sees keys 0..start+i (SDPA's is_causal aligns top-left).
        mask = torch.ones(n, end, dtype=torch.bool, device=self.device).tril(diagonal=start) if n > 1 else None
        a = F.scaled_dot_product_attention(qk[:, :, :heads].transpose(1, 2), k_cache[:, :, :end],
                                           v_cache[:, :, :end], attn_mask=mask, enable_gqa=kv != heads)
        return a.transpose(1, 2).reshape(1, n, heads * hd)

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
        self._rope = torch.polar(torch.ones_like(freqs), freqs)  # e^(i pos f), [capacity, hd/2]
        self.rope_pairs = torch.view_as_real(self._rope)  # the same as (cos, sin) float pairs, for the kernel
        if self._fused is not None:
            self._fused.bind_cache()


@dataclass
class DenseMatrix:
    """A matrix of a llama layer: x -> add_to + (x after its RMSNorm, or SiLU(gate) * up) @ weight."""

    weight: Any  # [in, out] in float32 (x @ w), else [out, in] (F.linear)
    eps: float

    def __call__(self, x: Any, norm: Any = None, gated: bool = False, add_to: Any = None) -> Any:
        import torch

        F = torch.nn.functional
        if gated:
            gate, up = x.chunk(2, dim=-1)
            x = F.silu(gate) * up
        if norm is not None:
            x = F.rms_norm(x, (x.shape[-1],), norm, self.eps)
        y = x @ self.weight if self.weight.dtype == torch.float32 else F.linear(x, self.weight)
        return y if add_to is None else add_to + y


def transposed_layout(dtype: Any) -> bool:
    import torch

    return dtype == torch.float32


def engine_tensors(directory: Path, s: LlamaShape, dtype: Any) -> dict[str, Any]:
    """The engine's tensors, named and laid out as `LlamaEngine` takes them, from a llama checkpoint."""
    import torch

    w = Checkpoint(directory, dtype)
    transposed = transposed_layout(dtype)

    tensors: dict[str, Any] = {}

    def matrix(name: str, parts: list[Any]) -> None:  # [out, in] parts stacked by rows: one matmul, not several
        stacked = torch.cat(parts)
        tensors[name] = stacked.t().contiguous() if transposed else stacked
        if transposed:
            tensors.update(block_weights.block_tensors(name, stacked))

    embed = w.get("model.embed_tokens.weight")
    tensors |= {"embed": embed, "norm": w.get("model.norm.weight")}
    matrix("head", [w.get("lm_head.weight") if "lm_head.weight" in w else embed])
    for i in range(s.layers):
        p = f"model.layers.{i}."
        q, k, v = (w.get(p + f"self_attn.{n}_proj.weight") for n in "qkv")
        tensors[f"layers.{i}.in_norm"] = w.get(p + "input_layernorm.weight")
        tensors[f"layers.{i}.post_norm"] = w.get(p + "post_attention_layernorm.weight")
        matrix(f"layers.{i}.qkv", [_interleave_halves(q, s.heads, s.head_dim),
                                   _interleave_halves(k, s.kv_heads, s.head_dim), v])
        matrix(f"layers.{i}.o", [w.get(p + "self_attn.o_proj.weight")])
        matrix(f"layers.{i}.gate_up", [w.get(p + "mlp.gate_proj.weight"), w.get(p + "mlp.up_proj.weight")])
        matrix(f"layers.{i}.down", [w.get(p + "mlp.down_proj.weight")])
    return tensors


def _interleave_halves(weight: Any, heads: int, head_dim: int) -> Any:
    """Reorder each head's output rows from (x0..x31, y0..y31) to (x0, y0, x1, y1, ...): the rotary pairs
    that transformers' "rotate half" forms from the two halves become adjacent (complex) pairs."""
    return weight.view(heads, 2, head_dim // 2, -1).transpose(1, 2).reshape(heads * head_dim, -1)
