"""How well the model writes run_python code, from `autogpt bench` reports and their run logs.

    python benchmarks/code_actions.py REPORT.json RUNS_DIR [REPORT2.json RUNS_DIR2 ...]

For each report: tasks passed, median seconds per task, and the run_python calls the model wrote: how
many there were, how many compile (Python's own `compile()`, as the sandbox would), and how many ended
mid-expression (the code stops at an unclosed bracket or string: the JSON format's typical cut). A call
counts once it was decoded: chosen, or rejected before running because it did not compile (`failed_check`
events, which log the reply). Replies that were not an action at all (`invalid_output`) are counted apart.
Run it with the project's Python (it reads replies with agent/action_format.py).
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.action_format import parse_action
from agent.errors import InvalidAction
from tools.registry import default_tools

TOOLS = default_tools(nlp=False)

CUT_MARKERS = ("was never closed", "unterminated string", "unexpected EOF", "unterminated triple-quoted")


@dataclass
class CodeStats:
    tasks: int = 0
    passed: int = 0
    seconds: list[float] = field(default_factory=list)
    calls: int = 0  # run_python calls decoded (run, or rejected because they did not compile)
    compiled: int = 0
    cut: int = 0  # did not compile, and the code stops mid-expression
    rejected: int = 0  # of `calls`, rejected before running (never sent to the sandbox)
    invalid: int = 0  # replies that were no action at all
    steps: list[int] = field(default_factory=list)

    def add_code(self, code: str) -> None:
        self.calls += 1
        problem = compile_problem(code)
        if problem is None:
            self.compiled += 1
        elif any(marker in problem for marker in CUT_MARKERS):
            self.cut += 1


def code_of(reply: str) -> str:
    try:
        return str(parse_action(reply, TOOLS).args.get("code", ""))
    except InvalidAction:
        return ""


def compile_problem(code: str) -> str | None:
    try:
        compile(code, "<string>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def collect(report_path: Path, runs_dir: Path) -> CodeStats:
    report = json.loads(report_path.read_text(encoding="utf-8"))
    stats = CodeStats()
    for task in report["tasks"]:
        stats.tasks += 1
        stats.passed += bool(task["passed"])
        stats.seconds.append(float(task["seconds"]))
        stats.steps.append(int(task["steps"]))
        log = runs_dir / task["run_id"] / "events.jsonl" if task["run_id"] else None
        if log is None or not log.is_file():
            continue
        for line in log.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event["type"] == "action" and event["tool"] == "run_python":
                stats.add_code(str(event["args"].get("code", "")))
            elif event["type"] == "error" and event["kind"] == "failed_check":
                stats.rejected += 1
                stats.add_code(code_of(event.get("reply", "")))
            elif event["type"] == "error" and event["kind"] == "invalid_output":
                stats.invalid += 1
    return stats


def row(name: str, s: CodeStats) -> str:
    share = f"{s.compiled}/{s.calls} ({s.compiled / s.calls:.0%})" if s.calls else "0/0"
    median = statistics.median(s.seconds) if s.seconds else 0.0
    return (f"| {name} | {s.passed}/{s.tasks} | {median:.1f} | {statistics.median(s.steps) if s.steps else 0:g} "
            f"| {share} | {s.cut} | {s.rejected} | {s.invalid} |")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    print("| report | passed | median s/task | median steps | run_python calls that compile | cut mid-expression "
          "| rejected before running | invalid replies |")
    print("|---|---|---|---|---|---|---|---|")
    for report, runs in zip(argv[0::2], argv[1::2], strict=True):
        print(row(Path(report).stem, collect(Path(report), Path(runs))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
