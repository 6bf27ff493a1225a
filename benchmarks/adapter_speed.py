"""The local model with a LoRA adapter vs without: decode speed side by side in one run, and how closely the fast
path's logits follow peft's forward.

    .venv/bin/python benchmarks/adapter_speed.py [--adapter DIR] [--tokens 64] [--reps 5]

`--adapter` defaults to the shipped one (`--model default`). Sections:
1. decode tok/s after the first token, free text and under the agent's JSON grammar: `base` (no adapter) and
   `tuned` (the adapter merged, `agent.llm.lora`), alternating so background load hits both alike; medians.
2. agreement on a conversation in the agent's format: the fast path's logits (prefill, and one token a step
   through the block kernels) against peft's `PeftModel` forward on the float base weights; max and mean
   |difference| and how often the top token agrees; the base model's distance to peft for scale.
The LAST line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
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
    result |= agreement_section(base, tuned, adapter)
    print(json.dumps(result))


def decode_section(base: Any, tuned: Any, tokens: int, reps: int) -> dict[str, Any]:
    agent_prompt = [ChatMessage("system", SYSTEM), ChatMessage("user", GOAL + "\nNext step?")]
    runs: dict[str, list[Any]] = {k: [] for k in ("base", "tuned", "base_grammar", "tuned_grammar")}
    for _ in range(reps):
        for name, model in (("base", base), ("tuned", tuned)):
            runs[name].append(run_ours(model, STORY, None, tokens))
            runs[f"{name}_grammar"].append(run_ours(model, agent_prompt, ACTION_SCHEMA, 96))
    rate = {k: statistics.median((r.tokens - 1) / (r.seconds - r.first_token_s) for r in v) for k, v in runs.items()}
    print(f"\n== decode tok/s after the first token, median of {reps} ==")
    print(f"{'':14}{'base':>8}{'tuned':>8}{'ratio':>8}")
    for label, key in (("free text", ""), ("JSON grammar", "_grammar")):
        print(f"{label:14}{rate['base' + key]:8.1f}{rate['tuned' + key]:8.1f}"
              f"{rate['tuned' + key] / rate['base' + key]:8.2f}")
    return {"base_decode_tok_s": round(rate["base"], 2), "tuned_decode_tok_s": round(rate["tuned"], 2),
            "decode_ratio": round(rate["tuned"] / rate["base"], 3),
            "base_grammar_decode_tok_s": round(rate["base_grammar"], 2),
            "tuned_grammar_decode_tok_s": round(rate["tuned_grammar"], 2),
            "grammar_decode_ratio": round(rate["tuned_grammar"] / rate["base_grammar"], 3)}


def agreement_section(base: Any, tuned: Any, adapter: Any) -> dict[str, Any]:
    import torch

    ids = list(tuned.tokenizer.encode(tuned.tokenizer.render_conversation(CONVERSATION)).ids)
    reference, untuned = peft_logits(adapter, ids)
    with torch.inference_mode():
        prefill = tuned.engine.forward(ids, 0, keep=len(ids))
        steps = torch.cat([tuned.engine.forward(ids[:1], 0)] + [tuned.engine.forward([t], i)
                                                               for i, t in enumerate(ids) if i > 0])
    tuned.reset_cache()
    rows = {"fast path, prefill": prefill, "fast path, one token a step": steps, "base model (no adapter)": untuned}
    print(f"\n== logits vs peft's forward, {len(ids)} positions ==")
    out: dict[str, Any] = {"positions": len(ids)}
    for label, logits in rows.items():
        diff = (logits.float() - reference).abs()
        top = float((logits.argmax(-1) == reference.argmax(-1)).float().mean())
        print(f"{label:30} max {float(diff.max()):8.4f}  mean {float(diff.mean()):8.5f}  top-1 agree {top:.4f}")
        key = label.split(" (")[0].replace(",", "").replace(" ", "_")
        out |= {f"{key}_max_abs": round(float(diff.max()), 4), f"{key}_mean_abs": round(float(diff.mean()), 5),
                f"{key}_top1": round(top, 4)}
    return out


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
