"""The model alone on HumanEval: what it writes asked directly, with no agent, no tools and no JSON.

    .venv/bin/python benchmarks/humaneval_direct.py [--limit 20] [--model default] [--tokens 300]

A ceiling for `autogpt bench examples/suites/humaneval.jsonl`: if the model cannot write the function when
asked plainly, the agent's loop cannot make it pass. Two ways of asking, each problem's own check (the suite's
`check` command) deciding:
- `prefix`: the problem's `solution.py` is the start of the model's reply (a code block it continues);
- `chat`: "Complete this Python function" with the code in the user turn; the reply's first code block is
  the new `solution.py` (the problem's imports kept when the reply lacks them).
Greedy decoding; the code is cut to its longest prefix that parses. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.llm import load_chat_model  # noqa: E402
from agent.llm.base import ChatMessage, DecodingParams  # noqa: E402

SYSTEM = ChatMessage("system", "You are an expert Python programmer.")


def longest_parsing_prefix(code: str) -> str:
    lines = code.splitlines()
    while lines:
        try:
            ast.parse("\n".join(lines))
            break
        except SyntaxError:
            lines.pop()
    return "\n".join(lines) + "\n"


def ask(model, source: str, way: str, tokens: int) -> str:
    params = DecodingParams(max_new_tokens=tokens)
    if way == "prefix":
        # the reply starts as a code block holding the problem; the model writes the body
        messages = [SYSTEM, ChatMessage("user", "Complete the function in solution.py so that it does what its "
                                                "docstring says. Reply with the whole file."),
                    ChatMessage("assistant", "```python\n" + source)]
        text = model.generate(messages, params=params).text
        return longest_parsing_prefix(source + text.split("```")[0])
    reply = model.generate([SYSTEM, ChatMessage("user", "Complete this Python function:\n```python\n" + source
                                                + "```")], params=params).text
    code = reply.split("```python\n")[-1].split("```")[0] if "```" in reply else reply
    imports = "\n".join(line for line in source.splitlines() if line.startswith(("from ", "import ")))
    return longest_parsing_prefix(imports + "\n" + code)


def passes(check: str, code: str) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "solution.py").write_text(code)
        try:
            return subprocess.run(["bash", "-c", check], cwd=folder, capture_output=True, timeout=30).returncode == 0
        except subprocess.TimeoutExpired:
            return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--model", default="default")
    parser.add_argument("--tokens", type=int, default=300)
    args = parser.parse_args()
    tasks = [json.loads(line) for line in (ROOT / "examples/suites/humaneval.jsonl").open()][: args.limit]
    model = load_chat_model(args.model)
    summary: dict[str, object] = {"model": model.name, "problems": len(tasks)}
    for way in ("prefix", "chat"):
        started, passed = time.monotonic(), 0
        for task in tasks:
            ok = passes(task["check"], ask(model, task["files"]["solution.py"], way, args.tokens))
            passed += ok
            print(f"{way:6} {task['id']}  {'pass' if ok else 'fail'}", flush=True)
        summary[f"{way}_passed"] = passed
        summary[f"{way}_seconds"] = round(time.monotonic() - started, 1)
        print(f"{way}: {passed}/{len(tasks)} passed", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
