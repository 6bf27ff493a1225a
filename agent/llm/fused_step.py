"""A whole forward pass of up to 16 new tokens in one C call (`decode_step.c`), over the engine's matrices
in packed rows: what `LlamaEngine.forward` runs for a decode step, a draft or forced grammar tokens.

It computes what the engine's per-matrix path computes (`BlockMatrix` calls and `Kernels.attention`, the
same kernels in the same order), without ~150 calls from Python per token. It applies only when every
matrix of the model has a block form; the engine keeps the per-matrix path otherwise. A layer matrix may
be wrapped (an adapter's low-rank product beside it, `agent.llm.low_rank`): the wrapper's `block_parts()`
gives its blocks and a C function the step calls after the matrix. The ctypes structures mirror
`matrix_adapter`, `llama_layer` and `llama_model` in decode_step.c.
"""

from __future__ import annotations

import ctypes
from typing import Any

from agent.llm.block_kernels import MAX_ROWS, BlockMatrix, Kernels

_p, _i = ctypes.c_void_p, ctypes.c_int


class PackedMatrix(ctypes.Structure):
    _fields_ = [("kind", _i), ("k", _i), ("n", _i), ("rows", _p)]


class MatrixAdapter(ctypes.Structure):
    _fields_ = [("add", _p), ("ctx", _p)]  # int add(const void *ctx, const float *in, int rows, float *y)


class LlamaLayer(ctypes.Structure):
    _fields_ = [("in_norm", _p), ("post_norm", _p), ("qkv", PackedMatrix), ("o", PackedMatrix),
                ("gate_up", PackedMatrix), ("down", PackedMatrix), ("k_cache", _p), ("v_cache", _p),
                ("adapters", ctypes.POINTER(MatrixAdapter))]


class LlamaModel(ctypes.Structure):
    _fields_ = [("layers", _i), ("hidden", _i), ("heads", _i), ("kv_heads", _i), ("head_dim", _i),
                ("intermediate", _i), ("capacity", _i), ("eps", ctypes.c_float), ("rope", _p),
                ("final_norm", _p), ("head", PackedMatrix), ("layer", ctypes.POINTER(LlamaLayer))]


def _packed(m: BlockMatrix) -> PackedMatrix:
    return PackedMatrix(m.code, m.k, m.n, m.rows.data_ptr())


def _block_parts(m: Any) -> tuple[BlockMatrix, int, int] | None:
    """(blocks, add function, its context) of a layer matrix; None when it has no block form."""
    if type(m) is BlockMatrix:
        return m, 0, 0
    parts = getattr(m, "block_parts", None)
    return parts() if parts is not None else None


class FusedStep:
    """`step(ids, start, keep)`: logits [keep, vocab] after running `ids` at positions start.. (<= MAX_ROWS)."""

    def __init__(self, kernels: Kernels, engine: Any) -> None:
        s = engine.shape
        self._kernels, self._engine = kernels, engine
        self._layers = (LlamaLayer * s.layers)()
        self._adapters: list[Any] = []  # kept alive while the C model points at them
        for i, (in_norm, qkv, o, post_norm, gate_up, down) in enumerate(engine.layers):
            parts = [_block_parts(m) or (m, 0, 0) for m in (qkv, o, gate_up, down)]  # `applies` checked them
            adapters = None
            if any(add for _, add, _ in parts):
                table = (MatrixAdapter * 4)(*(MatrixAdapter(add or None, ctx or None) for _, add, ctx in parts))
                self._adapters.append(table)
                adapters = ctypes.cast(table, ctypes.POINTER(MatrixAdapter))
            self._layers[i] = LlamaLayer(in_norm.data_ptr(), post_norm.data_ptr(),
                                         *(_packed(blocks) for blocks, _, _ in parts), None, None, adapters)
        intermediate = parts[2][0].n // 2
        self._model = LlamaModel(s.layers, s.hidden, s.heads, s.kv_heads, s.head_dim, intermediate, 0, s.eps, None,
                                 engine.final_norm.data_ptr(), _packed(engine.head), self._layers)
        self.bind_cache()

    @staticmethod
    def applies(engine: Any) -> bool:
        matrices = [m for layer in engine.layers for m in (layer[1], layer[2], layer[4], layer[5])]
        return (engine.shape.head_dim % 8 == 0 and type(engine.head) is BlockMatrix
                and all(_block_parts(m) is not None for m in matrices))

    def bind_cache(self) -> None:
        """Point the C model at the engine's current KV cache and rotary table (after they were reallocated)."""
        e = self._engine
        per_layer = e.k_cache[0].numel() * e.k_cache.element_size()
        for i in range(e.shape.layers):
            self._layers[i].k_cache = e.k_cache.data_ptr() + i * per_layer
            self._layers[i].v_cache = e.v_cache.data_ptr() + i * per_layer
        self._model.capacity = e.capacity
        self._model.rope = e.rope_pairs.data_ptr()

    def __call__(self, ids: list[int], start: int, keep: int) -> Any:
        import torch

        if not 0 < len(ids) <= MAX_ROWS:
            raise ValueError(f"a fused step takes 1 to {MAX_ROWS} tokens, not {len(ids)}")
        x = torch.nn.functional.embedding(torch.tensor(ids), self._engine.embed).contiguous()  # [T, D]
        logits = torch.empty((keep, self._engine.head.n), dtype=torch.float32)
        status = self._kernels.decode_step(ctypes.byref(self._model), x.data_ptr(), len(ids), start, keep,
                                           logits.data_ptr())
        if status != 0:
            raise RuntimeError(f"decode_step refused {len(ids)} tokens at position {start}")
        return logits
