"""A LoRA adapter run beside the block kernels: the base model's Q4_1 blocks stay as they are (exact), and each
matrix the adapter changes gets its low-rank product added, y += B (A h), in C (`low_rank.c`).

Why not merge: the merged weights are not Q4_1 values, and re-quantizing them loses the adapter (Q4_1's step,
a block's range / 15, is far larger than the adapter's change to a weight); Q8_0 keeps it but streams 1.4x
the bytes of Q4_1 on every token. The factors here are int8 with a scale per row (5 MB for rank 16 on every
matrix of the default model), read once per token. docs/tuning.md has the measurements.

The hook is one function, `attach`, which wraps the engine's matrices; the engine itself is unchanged. A
wrapped block matrix hands the fused decode step (`fused_step.py`, `decode_step.c`) its base blocks and the
C function that adds its product (`block_parts`), so a step of up to 16 tokens stays one C call with the
adapter. Elsewhere, steps of up to `KERNEL_ROWS` rows use the C kernel one matrix at a time; longer ones
(prefills, compute-bound) use torch.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("low_rank.c")
HEADER = SOURCE.with_name("block_kernels.h")  # the SIMD helpers it shares with the block kernels
COMPILE_FLAGS = ("-O3", "-mavx2", "-mfma", "-shared", "-fPIC")
KERNEL_ROWS = 16
RANK_MULTIPLE = 16  # the kernel's unit of rank (low_rank.c)
KERNEL_VERSION = 4  # low_rank.c's low_rank_version()

# The engine's fused matrices (llama_engine.LAYER_TENSORS order) and the checkpoint matrices they stack.
FUSED = {"qkv": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), "o": ("self_attn.o_proj",),
         "gate_up": ("mlp.gate_proj", "mlp.up_proj"), "down": ("mlp.down_proj",)}


class LowRankFactors(ctypes.Structure):
    """One matrix's factors for `low_rank_apply`: mirrors `low_rank_factors` in low_rank.c."""

    _fields_ = [("a", ctypes.c_void_p), ("a_scale", ctypes.c_void_p), ("rank", ctypes.c_int),
                ("segments", ctypes.c_int), ("bt", ctypes.c_void_p), ("b_scale", ctypes.c_void_p),
                ("segment_end", ctypes.c_void_p), ("k", ctypes.c_int), ("n", ctypes.c_int)]


class LowRankKernel:
    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.low_rank_add.argtypes = [p, i, i, p, ctypes.c_float, i, p, p, i, i, p, p, p, i, p]
        lib.low_rank_add.restype = lib.low_rank_version.restype = i
        if lib.low_rank_version() != KERNEL_VERSION:
            raise OSError(f"{library} was built from another version of {SOURCE.name}")
        self.add = lib.low_rank_add
        self._library = lib  # keeps the library (and so `apply_address`) loaded
        self.apply_address = int(ctypes.cast(lib.low_rank_apply, ctypes.c_void_p).value or 0)


def load_kernel(cache_dir: Path) -> LowRankKernel | None:
    """The kernel, compiled into `cache_dir` on first use; None where it cannot be built or loaded."""
    compiler = os.environ.get("CC") or "cc"
    text = SOURCE.read_bytes() + HEADER.read_bytes() + " ".join((compiler, *COMPILE_FLAGS)).encode()
    digest = hashlib.sha256(text).hexdigest()[:12]
    library = cache_dir / f"low_rank-{digest}.so"
    for attempt in range(2):
        try:
            if not library.is_file():
                _compile(compiler, library)
            return LowRankKernel(library)
        except (OSError, subprocess.SubprocessError):
            if attempt == 0 and library.is_file():
                library.unlink(missing_ok=True)  # a damaged library is built again, once
                continue
            return None
    return None


def _compile(compiler: str, library: Path) -> None:
    if shutil.which(compiler) is None:
        raise OSError(f"no C compiler ({compiler})")
    library.parent.mkdir(parents=True, exist_ok=True)
    tmp = library.with_name(f"{library.name}.tmp{os.getpid()}")
    try:
        subprocess.run([compiler, *COMPILE_FLAGS, "-o", str(tmp), str(SOURCE)], check=True, capture_output=True,
                       timeout=120)
        os.replace(tmp, library)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class WithLowRank:
    """An engine matrix plus an adapter's low-rank product: the same call as the matrix it wraps."""

    inner: Any  # llama_engine.DenseMatrix or block_kernels.BlockMatrix
    a: Any  # [S r, K] float32: the segments' A factors stacked
    b: Any  # [N, r] float32, scale folded in: output j of segment s uses t[s r: (s + 1) r]
    segment_end: tuple[int, ...]  # the outputs of segment s end at segment_end[s]
    kernel: LowRankKernel | None

    def __post_init__(self) -> None:
        import torch

        self.rank = int(self.b.shape[1])
        self.k, self.n = int(self.a.shape[1]), int(self.b.shape[0])
        self.eps = self.inner.eps
        self._a8, self._a_scale = int8_rows(self.a)  # per row of A
        b8, self._b_scale = int8_rows(self.b)  # per output
        self._bt8 = b8.t().contiguous()  # the kernel's layout: [r, N]
        self._ends = torch.tensor(self.segment_end, dtype=torch.int32)
        # the values the kernel multiplies, for the torch path (prefills), so that both compute one model
        self._a_values = self._a8.float() * self._a_scale[:, None]
        self._b_values = b8.float() * self._b_scale[:, None]
        # the kernel's fixed arguments, computed once: a decode step makes 120 of these calls
        self._factors = (self._a8.data_ptr(), self._a_scale.data_ptr(), self.rank, len(self.segment_end),
                         self._bt8.data_ptr(), self._b_scale.data_ptr(), self._ends.data_ptr(), self.n)
        self._float32 = torch.float32
        self._c_factors = LowRankFactors(*self._factors[:6], self._ends.data_ptr(), self.k, self.n)

    def block_parts(self) -> tuple[Any, int, int] | None:
        """For the fused decode step: (the base matrix in blocks, the address of the C function that adds this
        product, and its context), or None when the step cannot take it (then it runs matrix by matrix)."""
        from agent.llm.block_kernels import BlockMatrix

        if type(self.inner) is not BlockMatrix or self.kernel is None or not self.kernel.apply_address:
            return None
        if self.k % 16 or self.rank % RANK_MULTIPLE or any(end % 8 for end in self.segment_end):
            return None
        return self.inner, self.kernel.apply_address, ctypes.addressof(self._c_factors)

    def __call__(self, x: Any, norm: Any = None, gated: bool = False, add_to: Any = None) -> Any:
        y = self.inner(x, norm=norm, gated=gated, add_to=add_to)
        rows = x.numel() // (self.k * 2 if gated else self.k)
        if self.kernel is not None and rows <= KERNEL_ROWS and x.dtype == self._float32 and y.is_contiguous():
            x = x.contiguous()  # held in a name: the kernel reads it after this line
            if self.kernel.add(x.data_ptr(), rows, self.k, None if norm is None else norm.data_ptr(), self.eps,
                               int(gated), *self._factors, y.data_ptr()) == 0:
                return y
        return y + self._torch_product(x, norm, gated)

    def _torch_product(self, x: Any, norm: Any, gated: bool) -> Any:
        import torch

        F = torch.nn.functional
        h = x
        if gated:
            gate, up = x.chunk(2, dim=-1)
            h = F.silu(gate) * up
        if norm is not None:
            h = F.rms_norm(h, (h.shape[-1],), norm, self.eps)
        a, b = self._a_values, self._b_values
        t = h @ a.t()
        parts, begin = [], 0
        for s, end in enumerate(self.segment_end):
            parts.append(t[..., s * self.rank:(s + 1) * self.rank] @ b[begin:end].t())
            begin = end
        return torch.cat(parts, dim=-1)


def int8_rows(w: Any) -> tuple[Any, Any]:
    """`w` [R, C] as int8 [R, C] and a float32 scale per row (|max| / 127): w ~ q * scale."""
    import torch

    scale = (w.abs().amax(dim=1) / 127).clamp_min(1e-30).float()
    q = (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def attach(engine: Any, pairs: dict[str, tuple[Any, Any]], scale: float, kernel: LowRankKernel | None) -> int:
    """Wrap the engine's matrices that `pairs` ({weight name: (A [r, in], B [out, r])}) change; how many.
    The engine is told (`matrices_changed`), so its fused decode step takes the products too."""
    from agent.llm import llama_engine

    s = engine.shape
    order = llama_engine.LAYER_TENSORS
    wrapped = 0
    for i, layer in enumerate(engine.layers):
        items = list(layer)
        for fused, parts in FUSED.items():
            factors = [pairs.get(f"model.layers.{i}.{p}.weight") for p in parts]
            if all(f is None for f in factors):
                continue
            a, b, ends = _stack(factors, fused, s)
            items[order.index(fused)] = WithLowRank(items[order.index(fused)], a, b * scale, ends, kernel)
            wrapped += 1
        engine.layers[i] = tuple(items)
    engine.matrices_changed()
    return wrapped


def _stack(factors: list[tuple[Any, Any] | None], fused: str, s: Any) -> tuple[Any, Any, tuple[int, ...]]:
    """A and B of a fused matrix, its parts in the engine's order and row layout (zeros for a part without one)."""
    import torch

    from agent.llm.llama_engine import _interleave_halves

    rank, k = next((int(f[0].shape[0]), int(f[0].shape[1])) for f in factors if f is not None)
    padded = -(-rank // RANK_MULTIPLE) * RANK_MULTIPLE  # zero rows and columns up to the kernel's unit
    outs = {"qkv": (s.heads * s.head_dim, s.kv_heads * s.head_dim, s.kv_heads * s.head_dim),
            "gate_up": (next(int(f[1].shape[0]) for f in factors if f is not None),) * 2}  # gate, up: one width
    a_parts, b_parts, ends = [], [], []
    for index, f in enumerate(factors):
        if f is None:
            f = (torch.zeros(rank, k), torch.zeros(outs[fused][index], rank))
        a = torch.zeros(padded, k)
        a[:rank] = f[0].float()
        b = torch.zeros(int(f[1].shape[0]), padded)
        b[:, :rank] = f[1].float()
        if fused == "qkv" and index < 2:  # q and k rows are in the engine's interleaved rotary order
            b = _interleave_halves(b, s.heads if index == 0 else s.kv_heads, s.head_dim)
        a_parts.append(a)
        b_parts.append(b)
        ends.append((ends[-1] if ends else 0) + int(b.shape[0]))
    return torch.cat(a_parts), torch.cat(b_parts), tuple(ends)
