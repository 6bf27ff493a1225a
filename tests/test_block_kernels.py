"""Weights in GGUF blocks: found back exactly (or not at all), multiplied by the C kernels as float32 would,
and the kernels' rotary + attention matching torch's, in every build this CPU runs (AVX-512, AVX2) and on
any thread count. The kernels are compiled for real (in CI they must be)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from agent.llm import block_kernels, block_weights
from agent.llm.llama_engine import DenseMatrix


def builds() -> list[str]:
    """The kernel builds this CPU runs: the AVX2 one always, the AVX-512 one where the CPU has it."""
    return ["avx512", "avx2"] if block_kernels.pick_isa() == "avx512" else ["avx2"]


@pytest.fixture(scope="module", params=builds())
def kernels(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> block_kernels.Kernels:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOGPT_KERNEL_ISA", request.param)
        found = block_kernels.load_kernels(tmp_path_factory.mktemp("kernels"))
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the block kernels must build in CI (a C compiler and an AVX2 + FMA + F16C CPU)")
        pytest.skip("no C compiler or no AVX2 + FMA + F16C here: the engine runs dense float32")
    assert found.isa == request.param
    found.set_threads(1)
    return found


def q4_1_weights(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    """What de-quantizing a llama.cpp Q4_1 tensor gives (quantize_row_q4_1_ref, then d * q + m in float32)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols // 32, 32, generator=g) * 0.05
    low, high = x.amin(-1, keepdim=True), x.amax(-1, keepdim=True)
    d = (high - low) / 15
    q = ((x - low) / d + 0.5).floor().clamp(max=15)
    d16, m16 = d.half().float(), low.half().float()
    return (d16 * q + m16).reshape(rows, cols)


def q8_0_weights(rows: int, cols: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols // 32, 32, generator=g) * 0.05
    d = x.abs().amax(-1, keepdim=True) / 127
    q = (x / d).round()
    return (d.half().float() * q).reshape(rows, cols)


def test_q4_1_blocks_are_found_back_exactly() -> None:
    w = q4_1_weights(96, 128)
    w[3, :32] = 0.25  # a constant block: any scale with q = 0
    blocks = block_weights.exact_q4_1(w)
    assert blocks is not None
    q = torch.cat([blocks["q"] & 15, blocks["q"] >> 4], -1).float()  # [N, nb, 32]
    rebuilt = blocks["d"][..., None] * q + blocks["mins"][..., None]
    assert torch.equal(rebuilt.reshape(w.shape), w)


def test_q8_0_blocks_are_found_back_exactly() -> None:
    w = q8_0_weights(64, 96)
    w[0, 32:64] = 0.0
    blocks = block_weights.exact_q8_0(w)
    assert blocks is not None
    rebuilt = blocks["d"][..., None] * blocks["q"].view(64, 3, 32).float()
    assert torch.equal(rebuilt.reshape(w.shape), w)


def test_a_matrix_that_is_not_exactly_in_blocks_stays_dense() -> None:
    w = torch.randn(64, 64)
    assert block_weights.exact_q4_1(w) is None and block_weights.exact_q8_0(w) is None
    assert block_weights.block_tensors("m", w) == {}
    nearly = q4_1_weights(64, 64)
    nearly[5, 7] += 1e-7  # one weight off the block grid is enough
    assert block_weights.exact_q4_1(nearly) is None
    assert set(block_weights.block_tensors("m", q4_1_weights(64, 64))) == {"m@q4_1"}
    assert set(block_weights.block_tensors("m", q8_0_weights(64, 64))) == {"m@q8_0"}


def test_packed_rows_are_the_gguf_layout_and_need_float16_scales() -> None:
    """A row is its float16 scales, then its quants: 20 bytes per 32 weights (Q4_1), 34 (Q8_0)."""
    w = q4_1_weights(8, 64)
    parts = block_weights.exact_q4_1(w)
    assert parts is not None
    rows = block_weights.pack_rows("q4_1", parts)
    assert rows is not None and rows.shape == (8, 2 * 20) and rows.dtype == torch.uint8
    assert torch.equal(rows[:, :4].view(torch.float16).float(), parts["d"])
    assert torch.equal(rows[:, 8:].reshape(8, 2, 16), parts["q"])
    q8 = block_weights.exact_q8_0(q8_0_weights(4, 64))
    assert q8 is not None and block_weights.pack_rows("q8_0", q8).shape == (4, 2 * 34)
    parts["d"] = parts["d"] * (1 + 2**-20)  # a scale float16 cannot hold: no packed form, the matrix stays dense
    assert block_weights.pack_rows("q4_1", parts) is None


def block_matrix(w: torch.Tensor, kernels: block_kernels.Kernels) -> block_kernels.BlockMatrix:
    stored = {"m": w.t().contiguous(), **block_weights.block_tensors("m", w)}
    matrix = block_kernels.matrix_for("m", stored, kernels, DenseMatrix(stored["m"], 1e-5))
    assert isinstance(matrix, block_kernels.BlockMatrix)
    return matrix


@pytest.mark.parametrize("make", [q4_1_weights, q8_0_weights])
@pytest.mark.parametrize("rows", [1, 2, 3, 5, 8, 13, 16])
def test_kernel_products_match_float32(kernels: block_kernels.Kernels, make: Any, rows: int) -> None:
    """Plain, after RMSNorm, after SiLU(gate) * up, and added to a residual: as the dense matrix computes."""
    w = make(200, 160)  # 200 outputs: not a multiple of 8; 5 blocks per row: an odd count
    matrix, dense = block_matrix(w, kernels), DenseMatrix(w.t().contiguous(), 1e-5)
    x, gate_up, residual = torch.randn(1, rows, 160), torch.randn(1, rows, 320), torch.randn(1, rows, 200)
    norm = torch.rand(160) + 0.5
    for kwargs, inputs in [({}, x), ({"norm": norm}, x), ({"gated": True}, gate_up)]:
        expected = dense(inputs, **kwargs)
        got = matrix(inputs, **kwargs)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    expected = dense(x, add_to=residual.clone())
    kept = residual.clone()
    got = matrix(x, add_to=kept)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_more_rows_than_the_kernel_takes_go_to_the_dense_matrix(kernels: block_kernels.Kernels) -> None:
    w = q4_1_weights(64, 64)
    x = torch.randn(1, block_kernels.MAX_ROWS + 1, 64)
    assert torch.equal(block_matrix(w, kernels)(x), x @ w.t().contiguous())


def torch_attention(qkv: torch.Tensor, start: int, heads: int, kv: int, rope: torch.Tensor, k_cache: torch.Tensor,
                    v_cache: torch.Tensor) -> torch.Tensor:
    """The engine's torch path, written out: rotary on adjacent pairs, cache writes, causal SDPA."""
    n, hd = qkv.shape[1], qkv.shape[-1] // (heads + 2 * kv)
    end = start + n
    pairs = torch.view_as_complex(qkv[..., :(heads + kv) * hd].unflatten(-1, (heads + kv, hd // 2, 2)))
    qk = torch.view_as_real(pairs * rope[start:end, None]).flatten(-2)
    k_cache[:, :, start:end] = qk[:, :, heads:].transpose(1, 2)
    v_cache[:, :, start:end] = qkv[..., (heads + kv) * hd:].unflatten(-1, (kv, hd)).transpose(1, 2)
    mask = torch.ones(n, end, dtype=torch.bool).tril(diagonal=start)
    a = torch.nn.functional.scaled_dot_product_attention(
        qk[:, :, :heads].transpose(1, 2), k_cache[:, :, :end], v_cache[:, :, :end], attn_mask=mask, enable_gqa=True)
    return a.transpose(1, 2).reshape(1, n, heads * hd)


@pytest.mark.parametrize("head_dim", [64, 72])
@pytest.mark.parametrize("rows,start", [(1, 0), (1, 37), (3, 20), (8, 5), (1, 200), (16, 100)])
def test_kernel_attention_matches_torch(kernels: block_kernels.Kernels, head_dim: int, rows: int, start: int) -> None:
    heads, kv, capacity = 6, 2, 128 + start
    freqs = torch.outer(torch.arange(capacity, dtype=torch.float32), 1.0 / 10000 ** (
        torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    rope = torch.polar(torch.ones_like(freqs), freqs)
    k_cache, v_cache = torch.randn(1, kv, capacity, head_dim), torch.randn(1, kv, capacity, head_dim)
    k_ref, v_ref = k_cache.clone(), v_cache.clone()
    qkv = torch.randn(1, rows, (heads + 2 * kv) * head_dim)
    got = kernels.attention(qkv, start, heads, kv, torch.view_as_real(rope), k_cache, v_cache)
    expected = torch_attention(qkv, start, heads, kv, rope, k_ref, v_ref)
    assert got is not None
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(k_cache, k_ref, rtol=1e-6, atol=1e-6)  # the new keys landed, nothing else moved
    assert torch.equal(v_cache, v_ref)


def test_attention_the_kernel_cannot_take_is_left_to_torch(kernels: block_kernels.Kernels) -> None:
    heads, kv, hd = 2, 1, 12  # a head size that is not a multiple of 8
    cache = torch.zeros(1, kv, 8, hd)
    rope = torch.view_as_real(torch.polar(torch.ones(8, hd // 2), torch.zeros(8, hd // 2)))
    assert kernels.attention(torch.randn(1, 1, (heads + 2 * kv) * hd), 0, heads, kv, rope, cache, cache) is None
    too_many = torch.randn(1, block_kernels.MAX_ROWS + 1, (heads + 2 * kv) * 16)
    assert kernels.attention(too_many, 0, heads, kv, rope, cache, cache) is None


def test_products_and_attention_are_the_same_on_any_thread_count(kernels: block_kernels.Kernels) -> None:
    """Work is split by output rows, heads and key blocks, never inside a sum: bit for bit the same."""
    w = q4_1_weights(1000, 256)  # enough rows for several claims of work
    matrix = block_matrix(w, kernels)
    x = torch.randn(1, 3, 256)
    heads, kv, hd, capacity = 6, 2, 64, 700
    rope = torch.view_as_real(torch.polar(torch.ones(capacity, hd // 2), torch.rand(capacity, hd // 2)))
    cache = torch.randn(2, 1, kv, capacity, hd)
    qkv = torch.randn(1, 2, (heads + 2 * kv) * hd)
    results = []
    for threads in (1, 2, 3):
        assert kernels.set_threads(threads) == threads
        k_cache, v_cache = cache[0].clone(), cache[1].clone()
        results.append((matrix(x), kernels.attention(qkv, 600, heads, kv, rope, k_cache, v_cache)))
    kernels.set_threads(1)
    for products, attention in results[1:]:
        assert torch.equal(products, results[0][0]) and torch.equal(attention, results[0][1])


def test_the_memory_probe_measures_each_stream(kernels: block_kernels.Kernels) -> None:
    for probe in ("read", "copy", "triad"):
        assert kernels.memory_bandwidth(probe, 8, reps=2) > 0.1  # GB/s
    assert kernels.memory_bandwidth("read", 0) == -1.0  # nothing to measure


def test_no_compiler_or_switched_off_means_dense(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert block_kernels.load_kernels(tmp_path) is None
    assert list(tmp_path.glob("*.so")) == []
    monkeypatch.delenv("CC")
    monkeypatch.setenv("AUTOGPT_BLOCK_KERNELS", "0")
    assert block_kernels.load_kernels(tmp_path) is None


def test_the_library_is_built_once_and_reused(kernels: block_kernels.Kernels, tmp_path: Path) -> None:
    first = block_kernels.load_kernels(tmp_path)
    built = list(tmp_path.glob("block_kernels-*.so"))
    assert first is not None and first.isa in built[0].name
    assert first is not None and len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    assert block_kernels.load_kernels(tmp_path) is not None
    assert built[0].stat().st_mtime_ns == stamp and not list(tmp_path.glob("*.tmp*"))
    damaged = tmp_path / "other" / built[0].name  # (never overwrite a loaded library: it is mapped)
    damaged.parent.mkdir()
    damaged.write_bytes(b"not a shared library")
    assert block_kernels.load_kernels(damaged.parent) is not None  # built again, not given up on
    assert damaged.read_bytes()[:4] == b"\x7fELF"
