"""Weights in the GGUF's own blocks (Q4_1, Q8_0), multiplied by float32 activations in a small C kernel.

The default model ships as Q4_1 layers and a Q8_0 embedding: every float32 weight the checkpoint holds is
exactly `d * q + min` (Q4_1) or `d * q` (Q8_0) for one scale per block of 32. A one-token decode step is
memory-bound, and streaming those blocks reads 100 MB instead of float32's 537 MB. So:

- `exact_q4_1` / `exact_q8_0` find the blocks back from the float32 matrix and accept them only if every
  weight is reproduced exactly (checked in float64); a matrix that is not exactly representable stays dense.
  Nothing is approximated: the products differ from float32's only in summation order.
- `load_kernels` compiles `block_quant.c` once per machine with the system C compiler (AVX2 + FMA) into
  the cache directory; without a compiler or those CPU features, the engine stays on dense float32.
- `BlockMatrix` multiplies 1..8 rows (a decode step, a draft) with the kernel and more rows (a prefill,
  where the work is compute-bound and MKL is better) with the dense float32 matrix.

`AUTOGPT_BLOCK_KERNELS=0` turns the kernels off (benchmarks compare both).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("block_quant.c")
BLOCK = 32
MAX_ROWS = 8  # the kernel's row limit (block_quant.c's MAX_ROWS); more rows go to the dense matrix
COMPILE_FLAGS = ("-O3", "-mavx2", "-mfma", "-shared", "-fPIC")


def exact_q4_1(w: Any) -> dict[str, Any] | None:
    """`w` [N, K] as Q4_1 blocks {q: [N, K/32, 16] nibbles, d: [N, K/32], mins: [N, K/32]}, or None."""
    import torch

    n, k = w.shape
    if k % BLOCK or w.dtype != torch.float32:
        return None
    blocks = w.reshape(n, k // BLOCK, BLOCK)
    low = blocks.amin(-1, keepdim=True)  # the element quantized to 0 is the block's min, exactly
    spread = (blocks.amax(-1, keepdim=True) - low) / 15
    found = _fit_scales(blocks - low, spread, 0, 15)
    if found is None:
        return None
    d, q = found
    exact = (d.double() * q.double() + low.double() == blocks.double()).all()
    if not bool(exact):
        return None
    q8 = q.to(torch.uint8)
    return {"q": q8[..., :16] | (q8[..., 16:] << 4), "d": d[..., 0].contiguous(),
            "mins": low[..., 0].contiguous()}


def exact_q8_0(w: Any) -> dict[str, Any] | None:
    """`w` [N, K] as Q8_0 blocks {q: [N, K] int8, d: [N, K/32]}, or None."""
    import torch

    n, k = w.shape
    if k % BLOCK or w.dtype != torch.float32:
        return None
    blocks = w.reshape(n, k // BLOCK, BLOCK)
    amax = blocks.abs().amax(-1, keepdim=True)  # the element of largest magnitude is quantized to +-127
    found = _fit_scales(blocks, amax / 127, -127, 127)
    if found is None:
        return None
    d, q = found
    if not bool((d.double() * q.double() == blocks.double()).all()):
        return None
    return {"q": q.to(torch.int8).reshape(n, k), "d": d[..., 0].contiguous()}


def _fit_scales(offsets: Any, estimate: Any, lowest: int, highest: int) -> tuple[Any, Any] | None:
    """Per block, a scale d (the float16 value nearest `estimate`, or a neighbour) and integers q in
    [lowest, highest] with d * q == offsets exactly in float32; None when some block has none."""
    import torch

    d16 = estimate.to(torch.float16)
    best_d = torch.zeros_like(estimate)
    best_q = torch.zeros_like(offsets)
    solved = torch.zeros(estimate.shape, dtype=torch.bool)
    for step in (0, -1, 1, -2, 2):
        bits = d16.view(torch.int16) + step
        d = bits.view(torch.float16).float()
        d = torch.where(torch.isfinite(d) & (d > 0), d, torch.zeros_like(d))
        q = torch.where(d > 0, offsets / torch.where(d > 0, d, 1.0), 0.0).round().clamp(lowest, highest)
        ok = ((d * q == offsets).all(-1, keepdim=True)) & ~solved
        best_d = torch.where(ok, d, best_d)
        best_q = torch.where(ok, q, best_q)
        solved |= ok
        if bool(solved.all()):
            return best_d, best_q
    return None


def block_tensors(name: str, w: Any) -> dict[str, Any]:
    """The block form of the [out, in] matrix `w`, as extra engine tensors `name@q4_1.*` or `name@q8_0.*`."""
    for kind, fit in (("q4_1", exact_q4_1), ("q8_0", exact_q8_0)):
        parts = fit(w)
        if parts is not None:
            return {f"{name}@{kind}.{part}": t for part, t in parts.items()}
    return {}


class Kernels:
    """The compiled kernel, called through ctypes (the call releases the GIL)."""

    Q4_1, Q8_0 = 0, 1

    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.block_matmul.argtypes = [i, p, i, i, p, p, p, i, p, p, ctypes.c_float, i, i]
        lib.decode_attention.argtypes = [p, i, i, i, i, i, i, p, p, p, p]
        lib.block_matmul.restype = lib.decode_attention.restype = lib.block_quant_max_rows.restype = i
        if lib.block_quant_max_rows() != MAX_ROWS:
            raise OSError(f"{library} was built from another version of {SOURCE.name}")
        self.block_matmul = lib.block_matmul
        self._attention = lib.decode_attention

    def attention(self, qkv: Any, start: int, heads: int, kv_heads: int, rope: Any, k_cache: Any,
                  v_cache: Any) -> Any | None:
        """Rotary, cache writes and causal attention for the rows of `qkv` [1, T, (H + 2 KV) hd] at
        positions start..: the output [1, T, H hd], or None where the kernel does not apply (then use torch).
        `rope` [capacity, hd/2] complex, `k_cache`/`v_cache` [1, KV, capacity, hd], all contiguous float32."""
        import torch

        rows, width = int(qkv.shape[-2]), int(qkv.shape[-1])
        head_dim = width // (heads + 2 * kv_heads)
        if rows > MAX_ROWS or head_dim % 8 or qkv.dtype != torch.float32 or k_cache.dtype != torch.float32:
            return None
        qkv = qkv.contiguous()
        out = torch.empty((1, rows, heads * head_dim), dtype=torch.float32)
        status = self._attention(qkv.data_ptr(), rows, start, heads, kv_heads, head_dim, int(k_cache.shape[2]),
                                 rope.data_ptr(), k_cache.data_ptr(), v_cache.data_ptr(), out.data_ptr())
        return out if status == 0 else None


def load_kernels(cache_dir: Path) -> Kernels | None:
    """The kernels, compiled into `cache_dir` on first use; None where they cannot run or be built."""
    if os.environ.get("AUTOGPT_BLOCK_KERNELS", "1") == "0" or not cpu_supported():
        return None
    source = SOURCE.read_bytes()
    compiler = os.environ.get("CC") or "cc"
    digest = hashlib.sha256(source + " ".join((compiler, *COMPILE_FLAGS)).encode()).hexdigest()[:12]
    library = cache_dir / f"block_quant-{digest}.so"
    try:
        if not library.is_file():
            _compile(compiler, library)
        return Kernels(library)
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_supported() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    words = set(flags.split())
    return {"avx2", "fma"} <= words


def _compile(compiler: str, library: Path) -> None:
    if shutil.which(compiler) is None:
        raise OSError(f"no C compiler ({compiler})")
    library.parent.mkdir(parents=True, exist_ok=True)
    tmp = library.with_name(f"{library.name}.tmp{os.getpid()}")
    try:
        subprocess.run([compiler, *COMPILE_FLAGS, "-o", str(tmp), str(SOURCE)], check=True,
                       capture_output=True, timeout=120)
        os.replace(tmp, library)  # atomic: another process sees no library or a whole one
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class BlockMatrix:
    """A matrix of a llama layer in blocks: `dense`'s interface, the kernel for up to MAX_ROWS rows."""

    dense: Any  # llama_engine.DenseMatrix: the same weights in float32 [K, N], for more rows
    kind: str  # "q4_1" or "q8_0"
    parts: dict[str, Any]
    kernels: Kernels

    def __post_init__(self) -> None:
        import torch

        self._torch = torch
        self.k, self.n = (int(v) for v in self.dense.weight.shape)
        self.eps = self.dense.eps
        self._kind = Kernels.Q4_1 if self.kind == "q4_1" else Kernels.Q8_0
        mins = self.parts.get("mins")
        self._blocks = (self.parts["q"].data_ptr(), self.parts["d"].data_ptr(),
                        None if mins is None else mins.data_ptr())

    def __call__(self, x: Any, norm: Any = None, gated: bool = False, add_to: Any = None) -> Any:
        """add_to + (x, after `norm` (RMSNorm) or `gated` (SiLU(gate) * up)) @ w; may reuse add_to's storage."""
        width = self.k * (2 if gated else 1)
        rows = x.numel() // width
        if rows > MAX_ROWS or x.dtype != self._torch.float32:
            return self.dense(x, norm=norm, gated=gated, add_to=add_to)
        x = x.contiguous()
        if add_to is not None and add_to.is_contiguous():
            y = add_to
        else:
            y = self._torch.empty((*x.shape[:-1], self.n), dtype=x.dtype)
            if add_to is not None:
                y.copy_(add_to)
        status = self.kernels.block_matmul(
            self._kind, x.data_ptr(), rows, self.k, *self._blocks, self.n, y.data_ptr(),
            None if norm is None else norm.data_ptr(), self.eps, int(gated), int(add_to is not None))
        if status != 0:
            raise RuntimeError(f"block kernel refused a [{rows}, {self.k}] x [{self.k}, {self.n}] product")
        return y


def matrix_for(name: str, stored: dict[str, Any], kernels: Kernels | None, dense: Any) -> Any:
    """Engine tensor `name` as a BlockMatrix when the kernel runs and the tensor has blocks, else `dense`."""
    if kernels is None:
        return dense
    for kind in ("q4_1", "q8_0"):
        prefix = f"{name}@{kind}."
        parts = {key[len(prefix):]: t for key, t in stored.items() if key.startswith(prefix)}
        if parts:
            return BlockMatrix(dense, kind, parts, kernels)
    return dense
