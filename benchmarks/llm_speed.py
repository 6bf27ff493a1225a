"""Local model speed, ours vs plain transformers, measured side by side in one run.

    .venv/bin/python benchmarks/llm_speed.py [--dtype float32] [--tokens 64] [--reps 3] [--skip-cold]

Sections (each prints a table; the LAST line is one JSON object with the headline figures):
1. decode tok/s: `TransformersChatModel.generate` vs `model.generate` on the same weights, dtype, threads
   and prompt, free text and under the same JSON-schema grammar (xgrammar's HF logits processor for the
   baseline), ours also with prompt-lookup drafts off and with the block kernels off (dense float32, as
   before them); runs alternate so background load hits all alike; medians reported. Decode tok/s counts
   the tokens after the first one over the time after it (the first token's time is the prompt's prefill,
   which section 2 and the cold start cover); the whole call, prefill included, is reported next to it.
2. prefill over a scripted 10-step agent run (history grows by [action, observation] pairs, the last user
   message carries a changing tail, one compaction at step 7): tokens and seconds we prefill vs
   re-encoding the whole prompt each step (what an agent calling `generate` per step does).
3. cold start to the first generated token in a fresh process: with an empty cache dir (first ever:
   includes GGUF de-quantization) and warm; a warm process also runs 3 agent-like steps and reports its
   peak RSS (getrusage and VmHWM). Runs first, before this process loads anything. The same through the
   real command line: `autogpt run GOAL` (its own prompts, sandbox check, run store) from process start
   to the first token of the first step, once to warm its prompt KV, then measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.llm.base import ChatMessage, DecodingParams  # noqa: E402

STORY = [ChatMessage("system", "You are a helpful assistant."),
         ChatMessage("user", "Write a long story about a dragon and a knight who become friends.")]
ACTION_SCHEMA: dict[str, Any] = {"anyOf": [
    {"type": "object", "properties": {
        "thought": {"type": "string", "maxLength": 160}, "tool": {"const": name},
        "args": {"type": "object", "properties": props, "required": list(props),
                 "additionalProperties": False}},
     "required": ["thought", "tool", "args"], "additionalProperties": False}
    for name, props in [("run_python", {"code": {"type": "string"}}),
                        ("read_file", {"path": {"type": "string"}}),
                        ("finish", {"answer": {"type": "string"}})]]}
SYSTEM = """You are Auto-GPT, an agent that reaches a goal by calling tools, one tool per reply.
All files are in the workspace (the current folder); use relative paths like "data.csv".

Tools:
- run_python(code: str): run Python code in a sandbox and return what it prints.
- read_file(path: str): return the text of a file in the workspace.
- list_files(path: str = "."): list the files in a folder of the workspace.
- write_file(path: str, content: str): write a text file in the workspace.
- finish(answer: str): end the run with the answer.

Reply with one JSON object: {"thought": "...", "tool": "name", "args": {...}}
Rules:
- Compute with run_python and print() the result; never guess a number.
- Read a file before you answer questions about it.
- When the result is known, call finish with the answer itself.

Example:
Goal: What is 17 * 23?
{"thought": "Compute it with Python.", "tool": "run_python", "args": {"code": "print(17 * 23)"}}
Observation: 391
{"thought": "The result is 391.", "tool": "finish", "args": {"answer": "391"}}"""
GOAL = "Goal: Find the three largest values in the column 'price' of sales.csv and report their sum."
OBSERVATIONS = [
    "Observation (read_file, ok):\nregion,price,units\nnorth,12.5,3\nsouth,40.0,1\neast,7.25,10\nwest,99.9,2",
    "Observation (run_python, ok):\n[99.9, 40.0, 12.5]",
    "Observation (run_python, failed):\nTraceback (most recent call last):\n  File \"<stdin>\", line 1\n"
    "NameError: name 'pd' is not defined",
    "Observation (run_python, ok):\n152.4",
    "Observation (list_files, ok):\nsales.csv\nnotes.txt",
    "Observation (read_file, ok):\nPrices are in euros. Ignore rows with units = 0.",
    "Observation (run_python, ok):\n152.4",
    "Observation (run_python, ok):\ncount 4\nmean 39.91\nmax 99.9",
    "Observation (run_python, ok):\nTrue",
    "Observation (run_python, ok):\n152.40",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--tokens", type=int, default=64, help="new tokens per decode measurement")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-cold", action="store_true", help="skip the fresh-process measurements")
    args = ap.parse_args()
    cold: dict[str, Any] = {} if args.skip_cold else cold_section(args.dtype)  # while this process is small

    import torch

    from agent.llm.loading import load_model_and_tokenizer, resolve_model
    from agent.llm.transformers_backend import TransformersChatModel

    ours = TransformersChatModel("base", dtype=args.dtype)  # the same weights as the baseline
    os.environ["AUTOGPT_BLOCK_KERNELS"] = "0"
    dense = TransformersChatModel("base", dtype=args.dtype)  # the same engine without the block kernels
    del os.environ["AUTOGPT_BLOCK_KERNELS"]
    hf_model, hf_tok = load_model_and_tokenizer(resolve_model(), ours.device, ours.dtype)
    print(f"device {ours.device}, dtype {args.dtype}, torch threads {torch.get_num_threads()}, "
          f"model {ours.name}, block kernels {getattr(ours.engine, 'uses_blocks', False)}")
    result: dict[str, Any] = {"device": ours.device, "dtype": args.dtype, "threads": torch.get_num_threads(),
                              "block_kernels": bool(getattr(ours.engine, "uses_blocks", False))}
    result |= decode_section(ours, dense, hf_model, hf_tok, args.tokens, args.reps)
    del dense
    result |= prefill_section(ours, hf_model)
    print(json.dumps(result | cold))


# -- 1. decode -------------------------------------------------------------------------------------------

def decode_section(ours: Any, dense: Any, hf_model: Any, hf_tok: Any, tokens: int, reps: int) -> dict[str, Any]:
    import xgrammar as xgr
    import xgrammar.contrib.hf  # noqa: F401  (the baseline's logits processor)

    agent_prompt = [ChatMessage("system", SYSTEM), ChatMessage("user", GOAL + "\nNext step?")]
    info = xgr.TokenizerInfo.from_huggingface(hf_tok, vocab_size=hf_model.config.vocab_size)
    compiled = xgr.GrammarCompiler(info).compile_json_schema(json.dumps(ACTION_SCHEMA), any_whitespace=False)
    runs: dict[str, list[Run]] = {k: [] for k in ("ours", "plain", "ours_grammar", "plain_grammar",
                                                  "ours_grammar_no_drafts", "dense", "dense_grammar")}
    for _ in range(reps):
        runs["ours"].append(run_ours(ours, STORY, None, tokens))
        runs["plain"].append(run_plain(hf_model, hf_tok, STORY, [], tokens))
        runs["dense"].append(run_ours(dense, STORY, None, tokens))
        runs["dense_grammar"].append(run_ours(dense, agent_prompt, ACTION_SCHEMA, 96))
        runs["ours_grammar"].append(run_ours(ours, agent_prompt, ACTION_SCHEMA, 96))
        ours.drafting = False  # what prompt-lookup drafts add (same text, one token per forward pass)
        runs["ours_grammar_no_drafts"].append(run_ours(ours, agent_prompt, ACTION_SCHEMA, 96))
        ours.drafting = True
        runs["plain_grammar"].append(run_plain(hf_model, hf_tok, agent_prompt,
                                               [xgr.contrib.hf.LogitsProcessor(compiled)], 96))
    whole = {k: statistics.median(r.tokens / r.seconds for r in v) for k, v in runs.items()}
    after = {k: statistics.median((r.tokens - 1) / (r.seconds - r.first_token_s) for r in v)
             for k, v in runs.items()}
    texts = {k: v[-1].text for k, v in runs.items()}
    mask_ms = mask_cost_ms(ours, texts["ours_grammar"])
    print(f"\n== decode: output tokens/s, median of {reps}; whole call (prompt prefill included) | "
          "after the first token ==")
    print(f"{'':14}{'ours':>9}{'plain':>8}{'speedup':>9} |{'ours':>8}{'plain':>8}{'speedup':>9}")
    for label, key, base in (("free text", "ours", "plain"), ("  dense", "dense", "plain"),
                             ("JSON grammar", "ours_grammar", "plain_grammar"),
                             ("  no drafts", "ours_grammar_no_drafts", "plain_grammar"),
                             ("  dense", "dense_grammar", "plain_grammar")):
        print(f"{label:14}{whole[key]:9.1f}{whole[base]:8.1f}{whole[key] / whole[base]:8.2f}x |"
              f"{after[key]:8.1f}{after[base]:8.1f}{after[key] / after[base]:8.2f}x")
    print("(dense: our engine with the block kernels off, i.e. float32 matrices for every step)")
    print(f"grammar mask (fill + apply) per token: {mask_ms:.3f} ms")
    print(f"ours:  {texts['ours_grammar']}\nplain: {texts['plain_grammar']}")
    same_text = texts["dense"] == texts["ours"] and texts["dense_grammar"] == texts["ours_grammar"]
    if not same_text:
        print("NOTE: the block kernels changed the greedy text")

    def ratio(rates: dict[str, float], key: str, base: str) -> float:
        return round(rates[key] / rates[base], 2)

    return {"decode_tok_s": round(after["ours"], 2), "plain_decode_tok_s": round(after["plain"], 2),
            "decode_speedup": ratio(after, "ours", "plain"),
            "grammar_decode_tok_s": round(after["ours_grammar"], 2),
            "plain_grammar_decode_tok_s": round(after["plain_grammar"], 2),
            "grammar_decode_speedup": ratio(after, "ours_grammar", "plain_grammar"),
            "grammar_decode_speedup_no_drafts": ratio(after, "ours_grammar_no_drafts", "plain_grammar"),
            "decode_speedup_after_first_token": ratio(after, "ours", "plain"),
            "grammar_decode_speedup_after_first_token": ratio(after, "ours_grammar", "plain_grammar"),
            "decode_speedup_whole_call": ratio(whole, "ours", "plain"),
            "grammar_decode_speedup_whole_call": ratio(whole, "ours_grammar", "plain_grammar"),
            "block_kernel_speedup": ratio(after, "ours", "dense"),
            "grammar_block_kernel_speedup": ratio(after, "ours_grammar", "dense_grammar"),
            "block_kernels_same_text": same_text,
            "grammar_mask_ms_per_token": round(mask_ms, 3)}


@dataclass(frozen=True)
class Run:
    tokens: int
    seconds: float
    first_token_s: float  # of `seconds`, until the first new token (mostly the prompt's prefill)
    text: str


def run_ours(ours: Any, messages: list[ChatMessage], schema: dict[str, Any] | None, tokens: int) -> Run:
    ours.reset_cache()  # both sides prefill the same prompt from scratch
    first: list[float] = []
    started = time.monotonic()
    g = ours.generate(messages, json_schema=schema, params=DecodingParams(max_new_tokens=tokens),
                      on_text=lambda piece: first or first.append(time.monotonic()))
    return Run(g.tokens_out, time.monotonic() - started, first[0] - started, g.text)


def run_plain(hf_model: Any, hf_tok: Any, messages: list[ChatMessage], processors: list[Any], tokens: int) -> Run:
    """`model.generate` greedy; free text (no processors) is held to exactly `tokens` new tokens."""
    from transformers.generation.streamers import BaseStreamer

    class FirstToken(BaseStreamer):  # generate() puts the prompt first, then each new token
        def __init__(self) -> None:
            self.puts: list[float] = []

        def put(self, value: Any) -> None:
            self.puts.append(time.monotonic())

        def end(self) -> None:
            pass

    ids = hf_tok.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    streamer = FirstToken()
    started = time.monotonic()
    out = hf_model.generate(**ids, max_new_tokens=tokens, min_new_tokens=None if processors else tokens,
                            do_sample=False, logits_processor=processors, streamer=streamer)
    seconds = time.monotonic() - started
    new = out[0, ids["input_ids"].shape[1]:]
    return Run(len(new), seconds, streamer.puts[1] - started, hf_tok.decode(new, skip_special_tokens=True))


def mask_cost_ms(ours: Any, text: str) -> float:
    """Replay `text` through a fresh matcher, timing the per-token mask work the decode loop does."""
    import torch

    grammar = ours.grammar
    matcher, bitmask = grammar.matcher(ACTION_SCHEMA), grammar.new_bitmask()
    logits = torch.zeros(1, ours.vocab_size)
    spent, n = 0.0, 0
    for token in ours.tokenizer.encode(text).ids:
        started = time.perf_counter()
        grammar.apply(matcher, logits, bitmask)
        spent += time.perf_counter() - started
        n += 1
        if not matcher.accept_token(token):
            break
    return 1000 * spent / max(n, 1)


# -- 2. prefill over an agent run ------------------------------------------------------------------------

def agent_messages(actions: list[str], step: int, compacted: int,
                   keep_tails: bool = False) -> list[ChatMessage]:
    """The prompt of `step` (0-based) the way agent/history.py builds it: stable prefix, tail at the end.

    `keep_tails`: every observation keeps the tail it was shown with (append-only history), the variant
    that lets the KV cache cover the previous reply too.
    """
    goal = GOAL
    if compacted:
        summary = "\n".join(f"- step {i + 1}: {a[:60]} -> ok" for i, a in enumerate(actions[:compacted]))
        goal += "\n\nEarlier steps (summarised):\n" + summary
    messages = [ChatMessage("system", SYSTEM), ChatMessage("user", goal)]
    if keep_tails:
        messages[-1] = ChatMessage("user", messages[-1].content + tail_text(0))
    for i in range(compacted, step):
        observation = OBSERVATIONS[i] + (tail_text(i + 1) if keep_tails else "")
        messages += [ChatMessage("assistant", actions[i]), ChatMessage("user", observation)]
    if not keep_tails:
        messages[-1] = ChatMessage("user", messages[-1].content + tail_text(step))
    return messages


def tail_text(step: int) -> str:
    return f"\n\nStep {step + 1} of 20. {GOAL}\nNext step?"


def prefill_section(ours: Any, hf_model: Any) -> dict[str, Any]:
    rows = agent_run(ours, hf_model, keep_tails=False)
    print("\n== prefill over a scripted 10-step agent run (compaction before step 8) ==")
    print(f"{'step':>4}{'prompt':>8}{'ours tok':>10}{'ours s':>8}{'re-encode s':>13}")
    for step, total, ours_tok, ours_s, full_s in rows:
        print(f"{step:4d}{total:8d}{ours_tok:10d}{ours_s:8.2f}{full_s:13.2f}")
    ours_tokens, all_tokens = sum(r[2] for r in rows), sum(r[1] for r in rows)
    ours_s, full_s = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"total: ours {ours_tokens} tokens in {ours_s:.2f} s; "
          f"re-encoding {all_tokens} tokens in {full_s:.2f} s")
    variant = agent_run(ours, None, keep_tails=True)
    variant_ratio = sum(r[2] for r in variant) / sum(r[1] for r in variant)
    print(f"variant, tails kept in the history (append-only prompt): ours prefills "
          f"{sum(r[2] for r in variant)} of {sum(r[1] for r in variant)} tokens ({variant_ratio:.3f})")
    return {"prefill_tokens": ours_tokens, "reencode_tokens": all_tokens,
            "prefill_ratio": round(ours_tokens / all_tokens, 3), "prefill_s": round(ours_s, 2),
            "reencode_s": round(full_s, 2), "prefill_time_ratio": round(ours_s / full_s, 3),
            "prefill_ratio_append_only": round(variant_ratio, 3)}


def agent_run(ours: Any, hf_model: Any, keep_tails: bool) -> list[tuple[int, int, int, float, float]]:
    """(step, prompt tokens, tokens we prefilled, our prefill s, re-encoding s) for 10 scripted steps."""
    import torch

    ours.reset_cache()
    actions: list[str] = []
    rows = []
    for step in range(10):
        compacted = 4 if step >= 7 else 0  # one compaction, in a chunk of 4 turns, as history.py does
        messages = agent_messages(actions, step, compacted, keep_tails)
        g = ours.generate(messages, json_schema=ACTION_SCHEMA, params=DecodingParams(max_new_tokens=64))
        actions.append(g.text)
        full_s = 0.0
        if hf_model is not None:
            started = time.monotonic()
            with torch.inference_mode():  # what re-encoding the whole prompt costs
                hf_model(input_ids=torch.tensor([ours._encode(messages)]), logits_to_keep=1)
            full_s = time.monotonic() - started
        rows.append((step + 1, g.tokens_in, g.prefilled_tokens, g.prefill_seconds, full_s))
    return rows


# -- 3. cold start and memory ----------------------------------------------------------------------------

CHILD = """
import json, resource, sys, time
import torch
imported = time.time()
from agent.llm import load_chat_model
from agent.llm.base import ChatMessage, DecodingParams
sys.path.insert(0, {bench!r})
from llm_speed import ACTION_SCHEMA, OBSERVATIONS, agent_messages
first = []
model = load_chat_model("default", dtype={dtype!r})
loaded = time.time()
on_text = lambda piece: first or first.append(time.time())
actions = []
for step in range({steps}):
    g = model.generate(agent_messages(actions, step, 0), json_schema=ACTION_SCHEMA,
                       params=DecodingParams(max_new_tokens=1 if {steps} == 1 else 64), on_text=on_text)
    actions.append(g.text)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({{"imported": imported, "loaded": loaded, "first_token": first[0],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "hwm_mb": int(status["VmHWM"].split()[0]) / 1024,
                  "rss_now": {{k: status.get(k, "").strip() for k in ("VmRSS", "RssAnon", "RssFile")}}}}))
"""


def fresh_process(cache: str, dtype: str, steps: int) -> dict[str, Any]:
    code = CHILD.format(bench=str(ROOT / "benchmarks"), dtype=dtype, steps=steps)
    env = dict(os.environ, AUTOGPT_CACHE=cache)
    started = time.time()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {"torch_s": out["imported"] - started, "load_s": out["loaded"] - started,
            "first_token_s": out["first_token"] - started, "rss_now": out["rss_now"], "hwm_mb": out["hwm_mb"],
            "rss_mb": out["rss_mb"]}


CLI_CHILD = """
import json, os, sys, time
from agent.llm.transformers_backend import TransformersChatModel, _Stream

def first_token(self, ids):  # the decode loop calls this right after choosing the first token
    print(json.dumps({{"first_token": time.time()}}), flush=True)
    os._exit(0)

def first_step_only(self, *args, **kwargs):  # warm-up: finish one model call (it stores the prompt KV)
    generation = generate(self, *args, **kwargs)
    print(json.dumps({{"first_token": time.time()}}), flush=True)
    os._exit(0)

generate = TransformersChatModel.generate
if {warm_up!r}:
    TransformersChatModel.generate = first_step_only
else:
    _Stream.push = first_token
sys.argv = ["autogpt", "run", {goal!r}, "--workspace", {workspace!r}, "--runs-dir", {runs!r},
            "--dtype", {dtype!r}, "--unsafe-local"]
from agent.cli import main
main()
"""


def cli_first_token(cache: str, dtype: str, warm_up: bool) -> float:
    """Seconds from starting `autogpt run` to its first generated token (nothing after it runs)."""
    with tempfile.TemporaryDirectory(prefix="autogpt-cli-") as tmp:
        (Path(tmp) / "sales.csv").write_text("region,price,units\nnorth,12.5,3\nsouth,40.0,1\n")
        code = CLI_CHILD.format(warm_up=warm_up, goal=GOAL.removeprefix("Goal: "), workspace=tmp,
                                runs=str(Path(tmp) / "runs"), dtype=dtype)
        env = dict(os.environ, AUTOGPT_CACHE=cache)
        started = time.time()
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["first_token"] - started


def cold_section(dtype: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="autogpt-cache-") as cache:
        first = fresh_process(cache, dtype, 1)
        warm = [fresh_process(cache, dtype, 1) for _ in range(2)]
        run = fresh_process(cache, dtype, 3)
        cli_first_token(cache, dtype, warm_up=True)
        cli = statistics.median(cli_first_token(cache, dtype, warm_up=False) for _ in range(2))
    warm_first = statistics.median(w["first_token_s"] for w in warm)
    print("\n== cold start: process start -> first generated token (agent prompt, JSON grammar) ==")
    print(f"first ever (empty cache, GGUF de-quantized): {first['first_token_s']:.2f} s")
    torch_s = statistics.median(w["torch_s"] for w in warm)
    ready_s = statistics.median(w["load_s"] for w in warm)
    print(f"warm cache: {warm_first:.2f} s (python + import torch {torch_s:.2f} s, "
          f"model ready {ready_s:.2f} s)")
    print(f"warm cache, `autogpt run GOAL` to its first token: {cli:.2f} s")
    # ru_maxrss survives exec (Linux folds the parent's high-water mark in at exec), so this section runs
    # before the parent loads any model; VmHWM is the child's own peak either way.
    print(f"peak RSS of a 3-step run: {run['rss_mb']:.0f} MB by getrusage, {run['hwm_mb']:.0f} MB VmHWM "
          f"(at exit: {run['rss_now']})")
    return {"first_ever_first_token_s": round(first["first_token_s"], 2),
            "warm_torch_import_s": round(torch_s, 2), "warm_model_ready_s": round(ready_s, 2),
            "warm_first_token_s": round(warm_first, 2), "cli_warm_first_token_s": round(cli, 2),
            "peak_rss_mb": round(max(run["rss_mb"], run["hwm_mb"]))}


if __name__ == "__main__":
    main()
