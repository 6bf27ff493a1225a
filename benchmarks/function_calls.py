"""Function-calling accuracy through the product's own path, on BFCL's `multiple` category.

    .venv/bin/pip install --no-deps bfcl-eval==2026.3.23     # the data and the AST checker (make setup does it)
    .venv/bin/python benchmarks/function_calls.py [--limit 200] [--plain-limit 50] [--model default]
                                                  [--out calls.jsonl [--resume]]

Each case of the Berkeley Function-Calling Leaderboard's `multiple` set offers 2-4 functions and asks one
question that one call answers. Its functions are registered with `schema_tool` (their BFCL parameter types
mapped to JSON schema the way BFCL maps them for OpenAI-style tools), the prompt is the agent's own (system
text with the tool list, the question as the goal), and the model's first step is decoded
- `grammar`: under the step grammar (`step_schema`: one branch per function, its schema as it is);
- `plain`: with no grammar, the reply parsed as the agent parses it (`parse_action`).
A call is right when BFCL's own AST checker accepts it (function name, every argument's type and value).
The data is evaluation data: nothing of it is used to tune anything. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.action import step_schema  # noqa: E402
from agent.action_format import parse_action  # noqa: E402
from agent.config import AgentConfig  # noqa: E402
from agent.errors import InvalidAction  # noqa: E402
from agent.history import PromptContextCache, build_messages  # noqa: E402
from agent.state import RunState  # noqa: E402
from agent.strategy import Strategy  # noqa: E402
from tools.base import ToolRegistry  # noqa: E402
from tools.schema_tool import schema_tool  # noqa: E402

CATEGORY = "multiple"
CHECKER_MODEL = "autogpt-local"  # the name the checker is given; it keeps function names with dots as they are
MODES = ("grammar", "plain")


def bfcl_root() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("bfcl-eval is not installed: .venv/bin/pip install --no-deps bfcl-eval==2026.3.23")
    return Path(next(iter(spec.submodule_search_locations)))


def load_cases(root: Path) -> list[dict[str, Any]]:
    """The cases with their ground truth, in file order."""
    def read(path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    answers = {a["id"]: a["ground_truth"] for a in read(root / "data/possible_answer/BFCL_v4_multiple.json")}
    return [{**case, "ground_truth": answers[case["id"]]} for case in read(root / "data/BFCL_v4_multiple.json")]


def ast_checker() -> Any:
    """BFCL's checker. Its module imports every model handler of the leaderboard (each with its vendor SDK)
    only to look up whether a model wants dots in names replaced; a stand-in for that one table is enough."""
    config = types.ModuleType("bfcl_eval.constants.model_config")
    config.MODEL_CONFIG_MAPPING = {CHECKER_MODEL: types.SimpleNamespace(underscore_to_dot=False)}
    sys.modules.setdefault("bfcl_eval.constants.model_config", config)
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker as check

    return check


def json_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    """A BFCL parameter description as JSON schema: its types mapped as BFCL maps them for OpenAI tools
    (dict -> object, float -> number, tuple -> array, any -> string), its own `optional` marker dropped."""
    from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI

    def convert(spec: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k not in ("optional", "type", "items", "properties")}
        if "type" in spec:
            out["type"] = GORILLA_TO_OPENAPI.get(spec["type"], "string")
        if isinstance(spec.get("items"), dict):
            out["items"] = convert(spec["items"])
        if isinstance(spec.get("properties"), dict):
            out["properties"] = {name: convert(sub) for name, sub in spec["properties"].items()}
        return out

    return {**convert(parameters), "type": "object"}


def registry_for(case: dict[str, Any]) -> ToolRegistry:
    return ToolRegistry(schema_tool(f["name"], f.get("description", ""), json_schema(f["parameters"]),
                                    lambda args: "", side_effects=False) for f in case["function"])


def question(case: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in case["question"][0] if m["role"] == "user")


def first_call(model: Any, case: dict[str, Any], registry: ToolRegistry, grammar: bool,
               config: AgentConfig) -> tuple[dict[str, Any] | None, str, float]:
    """The agent's first step on the case, as (call or None, raw reply, seconds)."""
    goal = question(case)
    state = RunState(goal=goal)
    context = PromptContextCache().get(registry, config, goal)
    messages = build_messages(context, state, feedback=None, budget_tokens=config.context_tokens,
                              count=model.count_tokens)
    params = Strategy().params(config.action_tokens, config.seed + 1)
    schema = step_schema(registry, thoughts=config.thoughts) if grammar else None
    started = time.monotonic()
    text = model.generate(messages, json_schema=schema, params=params).text
    seconds = time.monotonic() - started
    try:
        action = parse_action(text, registry)
    except InvalidAction:
        return None, text, seconds
    return {action.tool: action.args}, text, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="first N cases (0: all 200)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--modes", default=",".join(MODES), help="grammar, plain or both (side by side)")
    parser.add_argument("--plain-limit", type=int, default=0,
                        help="decode `plain` on the first N cases only (0: all); it writes up to 320 tokens of "
                        "prose per case, 3-4x the time of a `grammar` call")
    parser.add_argument("--out", type=Path, help="write one JSON line per case and mode here")
    parser.add_argument("--resume", action="store_true", help="keep the results already in --out, run the rest")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= set(MODES):
        sys.exit(f"--modes takes {', '.join(MODES)}")
    from bfcl_eval.constants.enums import Language

    from agent.llm import load_chat_model

    cases = load_cases(bfcl_root())
    cases = cases[: args.limit] if args.limit else cases
    check = ast_checker()
    model = load_chat_model(args.model)
    config = AgentConfig()
    done = _recorded(args.out) if args.resume and args.out else {}
    out = args.out.open("a" if args.resume else "w", encoding="utf-8") if args.out else None
    for index, case in enumerate(cases):
        registry = registry_for(case)
        for mode in modes:  # side by side: both ways of decoding see the machine in the same state
            if (mode == "plain" and args.plain_limit and index >= args.plain_limit) or (case["id"], mode) in done:
                continue
            call, text, took = first_call(model, case, registry, mode == "grammar", config)
            verdict = (check(case["function"], [call], case["ground_truth"], Language.PYTHON, CATEGORY,
                             CHECKER_MODEL) if call is not None else {"valid": False, "error": ["not parsed"]})
            record = {"id": case["id"], "mode": mode, "right": bool(verdict["valid"]), "call": call,
                      "reply": text, "seconds": round(took, 2), "error": verdict.get("error", [])}
            done[(case["id"], mode)] = record
            print(f"{mode:7} {case['id']:12} {'right' if record['right'] else 'wrong'}  {text[:100]!r}", flush=True)
            if out is not None:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
    print(json.dumps(summarize(done, cases, modes, model)))


def _recorded(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    if not path.exists():
        return {}
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r["id"], r["mode"]): r for r in records}


def summarize(done: dict[tuple[str, str], dict[str, Any]], cases: list[dict[str, Any]], modes: list[str],
              model: Any) -> dict[str, Any]:
    """Per mode: right / cases it ran on; and both modes on the cases both ran on (the side-by-side figure)."""
    summary: dict[str, Any] = {"model": model.name, "device": model.device, "category": CATEGORY,
                               "cases": len(cases)}
    ids = [c["id"] for c in cases]
    for mode in modes:
        ran = [done[(i, mode)] for i in ids if (i, mode) in done]
        right = sum(r["right"] for r in ran)
        summary[mode] = {"right": right, "of": len(ran), "share": round(right / max(1, len(ran)), 3),
                         "parsed": sum(r["call"] is not None for r in ran),
                         "median_seconds": statistics.median(r["seconds"] for r in ran) if ran else 0.0}
        print(f"{mode}: {right}/{len(ran)} first calls right", flush=True)
    both = [i for i in ids if all((i, m) in done for m in modes)]
    if len(modes) > 1:
        summary["side_by_side"] = {"cases": len(both), **{m: sum(done[(i, m)]["right"] for i in both)
                                                          for m in modes}}
    return summary


if __name__ == "__main__":
    main()
