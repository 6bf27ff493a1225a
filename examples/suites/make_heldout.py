"""Write the held-out suite of the training task families: `examples/suites/heldout.jsonl`.

The tasks come from the same generators as the training data (agent/tune/families/), drawn for the held-out
split: goal wordings, functions, articles and content lists that training never sees, under a seed of their
own. Every task is checked before it is written: its planned solution is replayed through the real agent
loop, tools and sandbox, and the task's check must pass (a task whose check the tools cannot meet is left
out). Because the file lives under examples/suites/, the training data's overlap check keeps every one of
its goals and files out of the training data.

    python examples/suites/make_heldout.py                  # writes examples/suites/heldout.jsonl
    autogpt tune-eval examples/suites/heldout.jsonl --arm base='--model base' --arm tuned='--model default'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261201
PER_FAMILY = 4
MAX_DRAWS = 12  # draws per family before giving up on filling it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "heldout.jsonl")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--per-family", type=int, default=PER_FAMILY)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent.parent))
    from agent.tune.families import FAMILIES, draw_task
    from agent.tune.replay import ModelText, Rejected, verify

    text = ModelText.load()
    lines, seen = [], set()
    for family in FAMILIES:
        kept = 0
        for index in range(MAX_DRAWS * args.per_family):
            if kept == args.per_family:
                break
            planned = draw_task(family, "heldout", args.seed, index)
            if planned.task.goal in seen:
                continue
            try:
                verify(planned.task, planned.steps, text)
            except Rejected as exc:
                print(f"left out {planned.task.id}: {exc}", file=sys.stderr)
                continue
            seen.add(planned.task.goal)
            lines.append(json.dumps(planned.task.model_dump(), ensure_ascii=False))
            kept += 1
        print(f"{family}: {kept} tasks", file=sys.stderr)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} tasks to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
