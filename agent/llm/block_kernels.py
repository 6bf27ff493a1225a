"""Products with weights in the GGUF's own blocks (`block_weights`) and float32 activations, in C.

A one-token decode step is memory-bound, and the default model's blocks are 100 MB against float32's
537 MB. The products differ from float32's only in summation order. So:

- `load_kernels` compiles `block_kernels.c` once per machine with the system C compiler (AVX2 + FMA) into
  the cache directory; without a compiler or those CPU features, the engine stays on dense float32.
- `BlockMatrix` multiplies up to 16 rows (a decode step, a draft, forced grammar tokens) with the kernel,
  8 at a time, and more rows (a prefill, compute-bound, where MKL is better) with the dense float32 matrix.
- `Kernels.attention` does rotary, the cache writes and attention of such a step in one call.

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

SOURCE = Path(__file__).with_name("block_kernels.c")
MAX_ROWS = 8  # the kernel's row limit per call (block_kernels.c's MAX_ROWS)
KERNEL_ROWS = 16  # up to this many rows, kernel calls of MAX_ROWS rows beat the dense matrix (MKL)
COMPILE_FLAGS = ("-O3", "-mavx2", "-mfma", "-shared", "-fPIC")


class Kernels:
    """The compiled kernel, called through ctypes (the call releases the GIL)."""

    Q4_1, Q8_0 = 0, 1

    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.block_matmul.argtypes = [i, p, i, i, p, p, p, i, p, p, ctypes.c_float, i, i]
        lib.decode_attention.argtypes = [p, i, i, i, i, i, i, p, p, p, p]
        lib.block_matmul.restype = lib.decode_attention.restype = lib.block_kernels_max_rows.restype = i
        if lib.block_kernels_max_rows() != MAX_ROWS:
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
    compiler = os.environ.get("CC") or "cc"
    library = cache_dir / library_name(compiler)
    for attempt in range(2):
        try:
            if not library.is_file():
                _compile(compiler, library)
            return Kernels(library)
        except (OSError, subprocess.SubprocessError):
            if attempt == 0 and library.is_file():
                library.unlink(missing_ok=True)  # a damaged library is built again, once
                continue
            return None
    return None


def library_name(compiler: str) -> str:
    """The compiled library's file name: it changes with the source, the compiler and the flags."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join((compiler, *COMPILE_FLAGS)).encode()).hexdigest()[:12]
    return f"block_kernels-{digest}.so"


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
        if rows > KERNEL_ROWS or x.dtype != self._torch.float32:
            return self.dense(x, norm=norm, gated=gated, add_to=add_to)
        x = x.contiguous()
        if add_to is not None and add_to.is_contiguous():
            y = add_to
        else:
            y = self._torch.empty((*x.shape[:-1], self.n), dtype=x.dtype)
            if add_to is not None:
                y.copy_(add_to)
        for first in range(0, rows, MAX_ROWS):  # the kernel takes MAX_ROWS rows at a time
            count = min(MAX_ROWS, rows - first)
            status = self.kernels.block_matmul(
                self._kind, x.data_ptr() + 4 * first * width, count, self.k, *self._blocks, self.n,
                y.data_ptr() + 4 * first * self.n, None if norm is None else norm.data_ptr(), self.eps, int(gated),
                int(add_to is not None))
            if status != 0:
                raise RuntimeError(f"block kernel refused a [{count}, {self.k}] x [{self.k}, {self.n}] product")
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
