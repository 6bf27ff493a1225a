"""Finding a float32 matrix's GGUF blocks back: Q4_1 (`d * q + min`) or Q8_0 (`d * q`), 32 weights a block.

The default model ships as Q4_1 layers and a Q8_0 embedding, so every float32 weight of its de-quantized
checkpoint is exactly one block's value. The blocks are accepted only if they reproduce every weight
exactly (checked in float64) with float16 scales, as GGUF stores them; a matrix that is not exactly
representable stays dense. Nothing is approximated. `block_kernels` multiplies what this finds, in packed
rows (`pack_rows`, the layout `block_kernels.h` describes): 20 bytes per 32 weights for Q4_1, 34 for Q8_0,
the GGUF file's own sizes.
"""

from __future__ import annotations

from typing import Any

BLOCK = 32


def is_block_part(name: str) -> bool:
    """True for the engine tensors `block_tensors` adds (`<matrix>@<kind>.<part>`)."""
    return "@" in name


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


def pack_rows(kind: str, parts: dict[str, Any]) -> Any | None:
    """Blocks as the kernels read them: uint8 [N, row bytes], each row its float16 scales (d, then Q4_1's
    mins) and then its quants; None when a scale is not exactly a float16."""
    import torch

    scales = [parts["d"]] + ([parts["mins"]] if kind == "q4_1" else [])
    halves = [s.to(torch.float16) for s in scales]
    if not all(bool((h.float() == s).all()) for h, s in zip(halves, scales, strict=True)):
        return None
    n = int(parts["d"].shape[0])
    quants = parts["q"].reshape(n, -1).view(torch.uint8)
    return torch.cat([h.contiguous().view(torch.uint8) for h in halves] + [quants], dim=1).contiguous()


def block_tensors(name: str, w: Any) -> dict[str, Any]:
    """The block form of the [out, in] matrix `w`, as an extra engine tensor `name@q4_1` or `name@q8_0`."""
    for kind, fit in (("q4_1", exact_q4_1), ("q8_0", exact_q8_0)):
        parts = fit(w)
        packed = None if parts is None else pack_rows(kind, parts)
        if packed is not None:
            return {f"{name}@{kind}": packed}
    return {}
