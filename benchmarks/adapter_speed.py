"""The local model with a LoRA adapter vs without: decode speed side by side in one run, and how closely the fast
path's logits follow peft's forward; with --compare, the other ways of running an adapter measured beside it.

    .venv/bin/python benchmarks/adapter_speed.py [--adapter DIR] [--tokens 64] [--reps 5] [--compare]

`--adapter` defaults to the shipped one (`--model default`). Sections:
1. decode tok/s after the first token, free text and under the agent's JSON grammar: `base` (no adapter) and
   `tuned` (what `--adapter` runs), alternating so background load hits both alike; medians. The texts differ
   (the adapter changes them), so drafts and forced grammar tokens differ too: section 2 is the like-for-like one.
2. milliseconds per one-token forward pass over the same tokens (a decode step without sampling), medians of
   alternating rounds: `base`, `tuned` (the products inside the fused decode step) and `tuned, matrix by
   matrix` (the same C products, each matrix its own call: the path without the fused step's hook). With
   --compare also: the low-rank products in torch instead of C, the adapter merged in float32 (dense
   matrices), and merged then re-quantized to Q8_0 or Q4_1 blocks (the block kernels).
3. agreement over a conversation in the agent's format: each variant's logits (a whole-prompt prefill, and one
   token a step) against peft's `PeftModel` forward on the float base weights: max and mean |difference|, and
   how often the top token agrees; the base model's distance to peft for scale.
The LAST line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from llm_speed import ACTION_SCHEMA, GOAL, STORY, SYSTEM, run_ours  # noqa: E402

from agent.llm.base import ChatMessage  # noqa: E402

CONVERSATION = [
    ChatMessage("system", SYSTEM),
    ChatMessage("user", "Goal: How many lines does notes.txt have?"),
    ChatMessage("assistant", '{"tool": "read_file", "args": {"path": "notes.txt"}}'),
    ChatMessage("user", "Observation (read_file):\nfirst line\nsecond line\nthird line"),
    ChatMessage("assistant", '{"tool": "finish", "args": {"answer": "3"}}'),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter", type=Path, default=None, help="adapter directory (default: the shipped one)")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--compare", action="store_true", help="also the other ways of running the adapter")
    args = ap.parse_args()

    import torch

    from agent.llm import lora
    from agent.llm.transformers_backend import TransformersChatModel

    adapter = lora.read_adapter(args.adapter) if args.adapter else lora.shipped_adapter()
    if adapter is None:
        sys.exit("no shipped adapter in this installation: pass --adapter DIR")
    base = TransformersChatModel("base")
    tuned = TransformersChatModel("base", adapter=adapter.directory)
    print(f"adapter {adapter.directory} (rank {adapter.rank}), device {base.device}, threads "
          f"{torch.get_num_threads()}, block kernels base {base.engine.uses_blocks}, tuned {tuned.engine.uses_blocks}")
    result: dict[str, Any] = {"adapter": str(adapter.directory), "threads": torch.get_num_threads()}
    result |= decode_section(base, tuned, args.tokens, args.reps)
    with tempfile.TemporaryDirectory(prefix="adapter-variants-") as scratch:
        engines = {"base": base.engine, "tuned": tuned.engine, "tuned, matrix by matrix": matrix_by_matrix(adapter)}
        if args.compare:
            engines |= variant_engines(adapter, Path(scratch))
        result |= step_section(engines, args.tokens, args.reps)
        result |= agreement_section(tuned.tokenizer, engines, adapter)
    print(json.dumps(result))


def decode_section(base: Any, tuned: Any, tokens: int, reps: int) -> dict[str, Any]:
    agent_prompt = [ChatMessage("system", SYSTEM), ChatMessage("user", GOAL + "\nNext step?")]
    kinds = ("", "_grammar", "_no_drafts", "_grammar_no_drafts")
    runs: dict[str, list[Any]] = {f"{m}{k}": [] for m in ("base", "tuned") for k in kinds}
    for _ in range(reps):
        for name, model in (("base", base), ("tuned", tuned)):
            for drafts in (True, False):
                model.drafting = drafts  # off: one token per forward pass, so texts that differ cost alike
                tail = "" if drafts else "_no_drafts"
                runs[f"{name}{tail}"].append(run_ours(model, STORY, None, tokens))
                runs[f"{name}_grammar{tail}"].append(run_ours(model, agent_prompt, ACTION_SCHEMA, 96))
            model.drafting = True
    rate = {k: statistics.median((r.tokens - 1) / (r.seconds - r.first_token_s) for r in v) for k, v in runs.items()}
    print(f"\n== decode tok/s after the first token, median of {reps} ==")
    print(f"{'':28}{'base':>8}{'tuned':>8}{'ratio':>8}")
    labels = {"": "free text", "_grammar": "JSON grammar", "_no_drafts": "free text, no drafts",
              "_grammar_no_drafts": "JSON grammar, no drafts"}
    out: dict[str, Any] = {}
    for key, label in labels.items():
        ratio = rate["tuned" + key] / rate["base" + key]
        print(f"{label:28}{rate['base' + key]:8.1f}{rate['tuned' + key]:8.1f}{ratio:8.2f}")
        out |= {f"base{key}_decode_tok_s": round(rate["base" + key], 2),
                f"tuned{key}_decode_tok_s": round(rate["tuned" + key], 2), f"decode{key}_ratio": round(ratio, 3)}
    return out


def step_section(engines: dict[str, Any], tokens: int, reps: int) -> dict[str, Any]:
    """ms per one-token forward pass after a 300-token prefill, the same tokens for every engine: wall time, and
    this process's CPU time (what a busy machine's other jobs disturb least); ratios are medians of each round's."""
    import torch

    prompt = list(range(1000, 1300))
    wall: dict[str, list[float]] = {k: [] for k in engines}
    cpu: dict[str, list[float]] = {k: [] for k in engines}
    with torch.inference_mode():
        for _ in range(reps):
            for name, engine in engines.items():
                engine.forward(prompt, 0)
                started, used = time.perf_counter(), time.process_time()
                for i in range(tokens):
                    engine.forward([2000 + i], len(prompt) + i)
                wall[name].append((time.perf_counter() - started) / tokens * 1000)
                cpu[name].append((time.process_time() - used) / tokens * 1000)
    out: dict[str, Any] = {}
    print(f"\n== ms per one-token forward pass (same tokens), median of {reps} rounds of {tokens} ==")
    print(f"{'':28}{'wall ms':>9}{'speed':>8}{'cpu ms':>9}{'speed':>8}   (speed: the base's time / this one's)")
    for name in engines:
        ratios = [statistics.median(b / v for b, v in zip(times["base"], times[name], strict=True))
                  for times in (wall, cpu)]
        print(f"{name:28}{statistics.median(wall[name]):9.2f}{ratios[0]:8.3f}{statistics.median(cpu[name]):9.2f}"
              f"{ratios[1]:8.3f}")
        out[f"{name}_step"] = {"wall_ms": round(statistics.median(wall[name]), 3), "wall_speed": round(ratios[0], 3),
                               "cpu_ms": round(statistics.median(cpu[name]), 3), "cpu_speed": round(ratios[1], 3)}
    return out


def _engine_parts() -> tuple[Path, dict[str, Any], Any]:
    from agent.llm import block_kernels
    from agent.llm.loading import float_checkpoint, model_cache_root, resolve_model

    base_dir = float_checkpoint(resolve_model("base"))
    config = json.loads((base_dir / "config.json").read_text())
    return base_dir, config, block_kernels.load_kernels(model_cache_root().parent / "kernels")


def matrix_by_matrix(adapter: Any) -> Any:
    """An engine with the adapter's C products called one matrix at a time (a kernel that offers the fused
    step no hook), over the same base weights."""
    import copy

    import torch

    from agent.llm import llama_engine, lora, low_rank
    from agent.llm.loading import model_cache_root

    base_dir, config, kernels = _engine_parts()
    kernel = copy.copy(low_rank.load_kernel(model_cache_root().parent / "kernels"))
    kernel.apply_address = 0
    engine = llama_engine.LlamaEngine(base_dir, config, "cpu", torch.float32, None, kernels)
    low_rank.attach(engine, lora.low_rank_pairs(adapter), adapter.scale, kernel)
    return engine


def variant_engines(adapter: Any, scratch: Path) -> dict[str, Any]:
    """The other ways to run the adapter, each its own engine over the same base weights."""
    import torch

    from agent.llm import llama_engine, lora, low_rank

    base_dir, config, kernels = _engine_parts()
    merged = lora.merged_checkpoint(base_dir, adapter, scratch)

    def engine(directory: Path) -> Any:
        return llama_engine.LlamaEngine(directory, config, "cpu", torch.float32, None, kernels)

    beside_torch = engine(base_dir)
    low_rank.attach(beside_torch, lora.low_rank_pairs(adapter), adapter.scale, None)
    return {"low-rank in torch": beside_torch, "merged, float32": engine(merged),
            "merged, Q8_0 blocks": engine(requantized(merged, round_q8_0, scratch / "q8_0")),
            "merged, Q4_1 blocks": engine(requantized(merged, round_q4_1, scratch / "q4_1"))}


def requantized(merged: Path, rounding: Any, out: Path) -> Path:
    """A copy of the merged checkpoint with every layer matrix rounded to blocks (then the kernels take them)."""
    import shutil

    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True)
    tensors = load_file(str(merged / "model.safetensors"))
    for name, w in tensors.items():
        if ".layers." in name and w.dim() == 2:
            tensors[name] = rounding(w)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    for item in merged.iterdir():
        if item.suffix != ".safetensors":
            shutil.copy(item, out / item.name)
    return out


def round_q8_0(w: Any) -> Any:
    """[N, K] rounded to Q8_0 (per 32 along K: float16 d = |max| / 127, q in -127..127): d * q."""
    import torch

    n, k = w.shape
    blocks = w.float().reshape(n, k // 32, 32)
    d = (blocks.abs().amax(-1, keepdim=True) / 127).to(torch.float16).float()
    q = torch.where(d > 0, blocks / torch.where(d > 0, d, 1.0), 0.0).round().clamp(-127, 127)
    return (d * q).reshape(n, k)


def round_q4_1(w: Any) -> Any:
    """[N, K] rounded to Q4_1 as GGUF stores it (per 32 along K: float16 min m and d = (max - m) / 15, q in
    0..15): d * q + m, values the block kernels take exactly."""
    import torch

    n, k = w.shape
    blocks = w.float().reshape(n, k // 32, 32)
    low = blocks.amin(-1, keepdim=True).to(torch.float16).float()
    d = ((blocks.amax(-1, keepdim=True) - low) / 15).to(torch.float16).float()
    q = torch.where(d > 0, (blocks - low) / torch.where(d > 0, d, 1.0), 0.0).round().clamp(0, 15)
    return (d * q + low).reshape(n, k)


def agreement_section(tokenizer: Any, engines: dict[str, Any], adapter: Any) -> dict[str, Any]:
    import torch

    ids = list(tokenizer.encode(tokenizer.render_conversation(CONVERSATION)).ids)
    reference, untuned = peft_logits(adapter, ids)
    print(f"\n== logits vs peft's forward, {len(ids)} positions (prefill | one token a step) ==")
    out: dict[str, Any] = {"positions": len(ids)}
    with torch.inference_mode():
        for name, engine in engines.items():
            if name == "base":
                continue
            prefill = engine.forward(ids, 0, keep=len(ids))
            steps = torch.cat([engine.forward(ids[:1], 0)] + [engine.forward([t], i) for i, t in enumerate(ids) if i])
            stats = [_stats(logits, reference) for logits in (prefill, steps)]
            print(f"{name:28}" + " | ".join(f"max {m:7.4f} mean {a:8.5f} top-1 {t:.4f}" for m, a, t in stats))
            out[f"{name}_agreement"] = {"prefill": stats[0], "steps": stats[1]}
    stats = _stats(untuned, reference)
    print(f"{'base model (no adapter)':28}max {stats[0]:7.4f} mean {stats[1]:8.5f} top-1 {stats[2]:.4f}")
    out["base_agreement"] = stats
    return out


def _stats(logits: Any, reference: Any) -> tuple[float, float, float]:
    diff = (logits.float() - reference).abs()
    top = float((logits.argmax(-1) == reference.argmax(-1)).float().mean())
    return round(float(diff.max()), 4), round(float(diff.mean()), 5), round(top, 4)


def peft_logits(adapter: Any, ids: list[int]) -> tuple[Any, Any]:
    """peft's forward with the adapter, and the base model's, over the float base weights: [T, vocab] each."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from agent.llm.loading import float_checkpoint, resolve_model

    model = AutoModelForCausalLM.from_pretrained(float_checkpoint(resolve_model("base")), dtype=torch.float32)
    with torch.inference_mode():
        untuned = model(torch.tensor([ids])).logits[0]
        reference = PeftModel.from_pretrained(model, str(adapter.directory))(torch.tensor([ids])).logits[0]
    return reference.float(), untuned.float()


if __name__ == "__main__":
    main()
