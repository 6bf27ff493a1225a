"""Helpers shared by the web UI test modules: server-sent events parsed, runs recorded, a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, Budget
from agent.loop import Agent
from agent.store import RunStore
from agent.testing import SCRIPTED_MODEL_ENV, ScriptedModel, act
from sandbox.base import SandboxConfig
from sandbox.local import LocalSandbox

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"
SERVING = re.compile(r"Auto-GPT UI on (http://\S+)")


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Server-sent events as dicts {event, id, data}; data parsed as JSON; comments (pings) dropped."""
    messages = []
    for block in re.split(r"\r?\n\r?\n", text):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            messages.append(fields)
    return messages


def record_run(runs_dir: Path, workspace: Path, replies: list[Any], goal: str, **budget: Any) -> str:
    """A run recorded in `runs_dir` by the real Agent over a scripted model and the real local sandbox."""
    model = ScriptedModel(list(replies))
    config = AgentConfig(workspace=workspace, budget=Budget(**budget))
    agent = Agent(model, config=config, store=RunStore(runs_dir),
                  sandbox_factory=lambda: LocalSandbox(workspace, SandboxConfig(unsafe_local=True)))
    result = agent.run(goal)
    model.assert_complete()
    return result.run_id


def primes_replies(delay_s: float = 0.0) -> list[Any]:
    """A run that writes primes.py, runs it (its output holds an escape sequence), and answers."""
    code = "import runpy\nrunpy.run_path('primes.py')\nprint('\\x1b[1mbold\\x1b[0m <b>not html</b>')"
    steps = [act("write_file", path="primes.py",
                 content="print([n for n in range(2, 50) if all(n % d for d in range(2, n))])\n"),
             act("run_python", code=code),
             act("finish", answer="The primes below 50: 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47")]
    return [{"delay_s": delay_s, "reply": s} if delay_s else s for s in steps]


@dataclass
class UiServer:
    """A real `autogpt ui` process on a free port, its model scripted."""

    process: subprocess.Popen[str]
    url: str
    lines: list[str]

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> str:
        """Send `sig`, wait for the exit; the whole output."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=timeout)
        return "".join(self.lines) + (out or "")


def start_ui(tmp: Path, replies: list[Any] | None, *argv: str, runs_dir: Path, workspace: Path,
             timeout: float = 60.0) -> UiServer:
    """`autogpt ui` with a scripted model replying `replies`, or the real model when `replies` is None."""
    env = {k: v for k, v in os.environ.items() if k != SCRIPTED_MODEL_ENV}
    env["AUTOGPT_HOME"] = str(tmp / "home")
    if replies is not None:
        script = tmp / f"ui-replies-{time.monotonic_ns()}.json"
        script.write_text(json.dumps(replies))
        env[SCRIPTED_MODEL_ENV] = str(script)
    process = subprocess.Popen([AUTOGPT, "ui", "--port", "0", "--runs-dir", str(runs_dir), "--workspace",
                                str(workspace), "--sandbox", "local", "--unsafe-local", *argv],
                               env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"`autogpt ui` ended ({process.wait()}) before serving:\n{''.join(lines)}")
        lines.append(line)
        if (match := SERVING.search(line)) is not None:
            return UiServer(process, match.group(1), lines)
    process.kill()
    raise AssertionError("`autogpt ui` did not start serving in time:\n" + "".join(lines))


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
