"""Products with weights in the GGUF's own blocks (`block_weights`) and float32 activations, in C.

A decode step is bound by memory bandwidth, and the default model's blocks are 96 MB against float32's
537 MB. The products differ from float32's only in summation order. So:

- `load_kernels` compiles the C sources (`block_kernels.h` lists them and their entry points) once per
  machine with the system C compiler into the cache directory: an AVX-512 build where the CPU has
  AVX-512F, else AVX2 + FMA + F16C; without a compiler or those features, the engine stays dense.
- `BlockMatrix` multiplies up to 16 rows (a decode step, a draft, forced grammar tokens) with the kernel,
  and more rows (a prefill, compute-bound, where MKL is better) with the dense float32 matrix.
- `Kernels.attention` does rotary, the cache writes and attention of such a step in one call, and
  `fused_step.FusedStep` a whole forward pass of one.
- `Kernels.set_threads(n)` splits each product over n threads (the caller and n - 1 workers); results are
  the same for any n.

`AUTOGPT_BLOCK_KERNELS=0` turns the kernels off; `AUTOGPT_KERNEL_ISA=avx2` takes the AVX2 build on an
AVX-512 CPU (benchmarks and tests compare both).
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

HERE = Path(__file__).parent
SOURCES = tuple(HERE / n for n in ("block_kernels.c", "decode_attention.c", "decode_step.c", "kernel_threads.c",
                                   "memory_probe.c"))
HEADER = HERE / "block_kernels.h"
MAX_ROWS = 16  # the kernels' row limit per call (block_kernels.h's MAX_ROWS)
BASE_FLAGS = ("-O3", "-mavx2", "-mfma", "-mf16c", "-shared", "-fPIC", "-pthread")
ISA_FLAGS = {"avx512": ("-mavx512f",), "avx2": ()}
ISA_CPU_FLAGS = {"avx512": {"avx2", "fma", "f16c", "avx512f"}, "avx2": {"avx2", "fma", "f16c"}}
KIND = {"q4_1": 0, "q8_0": 1}
PROBES = {"read": 0, "copy": 1, "triad": 2}


class Kernels:
    """The compiled kernels, called through ctypes (a call releases the GIL)."""

    def __init__(self, library: Path, isa: str) -> None:
        lib = ctypes.CDLL(str(library))
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.block_matmul.argtypes = [i, p, i, i, p, i, p, p, ctypes.c_float, i, i]
        lib.decode_attention.argtypes = [p, i, i, i, i, i, i, p, p, p, p]
        lib.decode_step.argtypes = [p, p, i, i, i, p]
        lib.kernel_threads.argtypes = [i]
        lib.memory_bandwidth.argtypes = [i, ctypes.c_size_t, i]
        lib.memory_bandwidth.restype = ctypes.c_double
        for name in ("block_matmul", "decode_attention", "decode_step", "kernel_threads", "block_kernels_max_rows"):
            getattr(lib, name).restype = i
        if lib.block_kernels_max_rows() != MAX_ROWS:
            raise OSError(f"{library} was built from another version of the kernels")
        self.isa = isa
        self.block_matmul = lib.block_matmul
        self.decode_step = lib.decode_step
        self._attention = lib.decode_attention
        self._lib = lib

    def set_threads(self, n: int) -> int:
        """Split each product over n threads from now on (call it between steps); the count in use."""
        return int(self._lib.kernel_threads(max(1, int(n))))

    @property
    def threads(self) -> int:
        return int(self._lib.kernel_threads(0))

    def memory_bandwidth(self, probe: str, megabytes: int, reps: int = 5) -> float:
        """GB/s of a STREAM-style `probe` ("read", "copy", "triad") over arrays of `megabytes` MiB each, on
        the kernel threads: the best of `reps` passes (-1 when the arrays cannot be allocated)."""
        return float(self._lib.memory_bandwidth(PROBES[probe], megabytes << 20, reps))

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
    isa = pick_isa()
    if os.environ.get("AUTOGPT_BLOCK_KERNELS", "1") == "0" or isa is None:
        return None
    compiler = os.environ.get("CC") or "cc"
    flags = (*BASE_FLAGS, *ISA_FLAGS[isa])
    library = cache_dir / library_name(compiler, isa)
    for attempt in range(2):
        try:
            if not library.is_file():
                _compile(compiler, flags, library)
            return Kernels(library, isa)
        except (OSError, subprocess.SubprocessError):
            if attempt == 0 and library.is_file():
                library.unlink(missing_ok=True)  # a damaged library is built again, once
                continue
            return None
    return None


def library_name(compiler: str, isa: str) -> str:
    """The compiled library's file name: it changes with the sources, the compiler and the flags."""
    text = b"".join(p.read_bytes() for p in (HEADER, *SOURCES))
    digest = hashlib.sha256(text + " ".join((compiler, *BASE_FLAGS, *ISA_FLAGS[isa])).encode()).hexdigest()[:12]
    return f"block_kernels-{isa}-{digest}.so"


def pick_isa() -> str | None:
    """"avx512" or "avx2": the best build this CPU runs (AUTOGPT_KERNEL_ISA=avx2 asks for the lesser), or None."""
    words = _cpu_flags()
    order = ("avx2",) if os.environ.get("AUTOGPT_KERNEL_ISA") == "avx2" else ("avx512", "avx2")
    return next((isa for isa in order if ISA_CPU_FLAGS[isa] <= words), None)


def _cpu_flags() -> set[str]:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return set()
    try:
        return set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return set()


def _compile(compiler: str, flags: tuple[str, ...], library: Path) -> None:
    if shutil.which(compiler) is None:
        raise OSError(f"no C compiler ({compiler})")
    library.parent.mkdir(parents=True, exist_ok=True)
    tmp = library.with_name(f"{library.name}.tmp{os.getpid()}")
    try:
        subprocess.run([compiler, *flags, "-o", str(tmp), *map(str, SOURCES), "-lm"], check=True,
                       capture_output=True, timeout=120)
        os.replace(tmp, library)  # atomic: another process sees no library or a whole one
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class BlockMatrix:
    """A matrix of a llama layer in packed rows: `dense`'s interface, the kernel for up to MAX_ROWS rows."""

    dense: Any  # llama_engine.DenseMatrix: the same weights in float32 [K, N], for more rows
    kind: str  # "q4_1" or "q8_0"
    rows: Any  # uint8 [N, row bytes]: block_weights.pack_rows
    kernels: Kernels

    def __post_init__(self) -> None:
        import torch

        self._torch = torch
        self.k, self.n = (int(v) for v in self.dense.weight.shape)
        self.eps = self.dense.eps
        self.code = KIND[self.kind]

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
        status = self.kernels.block_matmul(self.code, x.data_ptr(), rows, self.k, self.rows.data_ptr(), self.n,
                                           y.data_ptr(), None if norm is None else norm.data_ptr(), self.eps,
                                           int(gated), int(add_to is not None))
        if status != 0:
            raise RuntimeError(f"block kernel refused a [{rows}, {self.k}] x [{self.k}, {self.n}] product")
        return y


def matrix_for(name: str, stored: dict[str, Any], kernels: Kernels | None, dense: Any) -> Any:
    """Engine tensor `name` as a BlockMatrix when the kernel runs and the tensor has blocks, else `dense`."""
    if kernels is None:
        return dense
    for kind in KIND:
        rows = stored.get(f"{name}@{kind}")
        if rows is not None:
            return BlockMatrix(dense, kind, rows, kernels)
    return dense
