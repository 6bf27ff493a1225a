"""`autogpt run --mcp / --mcp-config` as a real process with real MCP servers: calls, clear setup errors, no
orphans after SIGKILL or Ctrl-C, and resume that reconnects without repeating a recorded call.

The model is scripted (AUTOGPT_SCRIPTED_MODEL) except in the last test, where the real default model picks
the MCP tool itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp_servers import CALC_SERVER, WEATHER_SERVER, process_alive

from agent.events import Observation
from agent.store import EVENTS_FILE, RunStore, read_records
from agent.testing import SCRIPTED_MODEL_ENV, act

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"


class McpRuns:
    """A workspace, a runs folder and an MCP config (calc, logging its calls) for real `autogpt` processes."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp, self.workspace, self.runs = tmp_path, tmp_path / "ws", tmp_path / "runs"
        self.workspace.mkdir()
        self.log, self.pidfile = tmp_path / "calls.jsonl", tmp_path / "calc.pid"
        self.config = tmp_path / "mcp.json"
        self.config.write_text(json.dumps({"mcpServers": {"calc": {
            "command": sys.executable, "args": [str(CALC_SERVER)],
            "env": {"CALC_LOG": str(self.log), "CALC_PIDFILE": str(self.pidfile)}}}}))

    def start(self, replies: list[Any], *argv: str) -> subprocess.Popen[str]:
        script = self.tmp / f"replies-{len(list(self.tmp.glob('replies-*')))}.json"
        script.write_text(json.dumps(replies))
        env = {**os.environ, SCRIPTED_MODEL_ENV: str(script), "AUTOGPT_HOME": str(self.tmp / "home")}
        return subprocess.Popen([AUTOGPT, *argv, "--runs-dir", str(self.runs)], env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=self.tmp)

    def run(self, replies: list[Any], *extra: str, goal: str = "Use the calculator.") -> subprocess.Popen[str]:
        return self.start(replies, "run", goal, "--workspace", str(self.workspace), "--sandbox", "local",
                          "--unsafe-local", "--mcp-config", str(self.config), *extra)

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def wait_for_call(self, proc: subprocess.Popen[str], tool: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [c for c in self.calls() if c["tool"] == tool]
            if found:
                return found[0]
            if proc.poll() is not None:
                raise AssertionError(f"the run ended ({proc.returncode}) first:\n{proc.stdout.read()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        raise AssertionError(f"{tool} was never called")

    def run_id(self) -> str:
        (folder,) = list(self.runs.glob("*"))
        return folder.name


def gone_soon(*pids: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(process_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def runs(tmp_path: Path) -> McpRuns:
    return McpRuns(tmp_path)


def test_a_run_calls_an_mcp_tool_and_records_its_result(runs: McpRuns) -> None:
    proc = runs.run([act("add", a=2, b=3), act("finish", answer="5")], "--json")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert json.loads(out.strip().splitlines()[-1])["answer"] == "5"
    assert runs.calls() == [{"tool": "add", "args": {"a": 2, "b": 3}}]
    log = RunStore(runs.runs).load(runs.run_id())
    observations = [e for e in log.events if isinstance(e, Observation)]
    assert (observations[0].tool, observations[0].output, observations[0].ok) == ("add", "5", True)
    assert not process_alive(int(runs.pidfile.read_text()))  # stopped with the run


def test_an_mcp_command_on_the_command_line(runs: McpRuns) -> None:
    proc = runs.start([act("multiply", a=6, b=7), act("finish", answer="42")], "run", "six times seven",
                      "--workspace", str(runs.workspace), "--sandbox", "local", "--unsafe-local",
                      "--mcp", f"{sys.executable} {CALC_SERVER.name}", "--mcp-cwd", str(CALC_SERVER.parent))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "ok 42.0" in out, out


@pytest.mark.parametrize("argv, words", [
    (["--mcp", "no-such-mcp-server-here --flag"], "cannot start MCP server 'no-such-mcp-server-here'"),
    (["--mcp", "python 'unclosed"], "No closing quotation"),
    (["--mcp-config", "missing.json"], "cannot read MCP config missing.json"),
])
def test_a_bad_mcp_setting_is_one_clear_error_and_exit_2(runs: McpRuns, argv: list[str], words: str) -> None:
    proc = runs.start([], "run", "anything", "--workspace", str(runs.workspace), "--sandbox", "local",
                      "--unsafe-local", *argv)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    assert words in " ".join(out.split()) and "Traceback" not in out, out


def test_sigkill_of_the_agent_leaves_no_server_or_server_child_behind(runs: McpRuns) -> None:
    proc = runs.run([act("spawn_helper"), {"delay_s": 60, "reply": act("finish", answer="x")}])
    helper = int(runs.wait_for_call(proc, "spawn_helper")["args"]["pid"])
    server = int(runs.pidfile.read_text())
    assert process_alive(server) and process_alive(helper)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert gone_soon(server, helper), "the MCP server or its child outlived the agent"


def test_ctrl_c_stops_the_run_and_its_servers(runs: McpRuns) -> None:
    proc = runs.run([act("spawn_helper"), {"delay_s": 60, "reply": act("finish", answer="x")}])
    helper = int(runs.wait_for_call(proc, "spawn_helper")["args"]["pid"])
    server = int(runs.pidfile.read_text())
    time.sleep(0.5)  # into the model's (scripted) thinking
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in out, out
    assert gone_soon(server, helper, seconds=3)


def test_resume_reconnects_and_does_not_repeat_a_recorded_call(runs: McpRuns) -> None:
    proc = runs.run([act("add", a=2, b=3), {"delay_s": 60, "reply": act("finish", answer="never")}])
    runs.wait_for_call(proc, "add")
    deadline = time.monotonic() + 30
    while not any(r["type"] == "observation" for r in read_records(runs.runs / _only(runs.runs) / EVENTS_FILE)[0]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first_server = int(runs.pidfile.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert gone_soon(first_server)

    resumed = runs.start([act("multiply", a=5, b=2), act("finish", answer="10")], "resume", runs.run_id())
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out
    assert [c["tool"] for c in runs.calls()] == ["add", "multiply"]  # add ran once, before the kill
    assert int(runs.pidfile.read_text()) != first_server  # a server of its own, started again


def test_a_call_cut_off_by_a_kill_is_not_repeated_on_resume(runs: McpRuns) -> None:
    proc = runs.run([act("slow", seconds=60), act("finish", answer="never")])
    runs.wait_for_call(proc, "slow")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    resumed = runs.start([act("add", a=1, b=1), act("finish", answer="2")], "resume", runs.run_id())
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out
    assert [c["tool"] for c in runs.calls()] == ["slow", "add"]
    observations = [e for e in RunStore(runs.runs).load(runs.run_id()).events if isinstance(e, Observation)]
    assert observations[0].tool == "slow" and observations[0].interrupted and not observations[0].ok


def _only(folder: Path) -> str:
    (child,) = list(folder.glob("*"))
    return child.name


@pytest.mark.real_model
def test_the_untuned_model_calls_an_mcp_tool_in_a_real_run(tmp_path: Path) -> None:
    """The embedded model, untuned (`--model base`): the shipped adapter was trained on the built-in tools
    only, and does not call tools it never saw (docs/tuning.md)."""
    log = tmp_path / "weather.jsonl"
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"weather": {
        "command": sys.executable, "args": [str(WEATHER_SERVER)], "env": {"WEATHER_LOG": str(log)}}}}))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {k: v for k, v in os.environ.items() if k != SCRIPTED_MODEL_ENV}
    proc = subprocess.run([AUTOGPT, "run", "Use get_weather to tell me the weather in Paris.", "--model", "base",
                           "--workspace",
                           str(workspace), "--sandbox", "local", "--unsafe-local", "--max-steps", "4",
                           "--mcp-config", str(config), "--runs-dir", str(tmp_path / "runs"), "--json"],
                          env={**env, "AUTOGPT_HOME": str(tmp_path / "home")}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert log.exists(), f"get_weather was never called:\n{proc.stderr}"
    assert json.loads(log.read_text().splitlines()[0])["city"].lower() == "paris"  # through the MCP session


def test_bench_gives_each_task_run_the_mcp_servers(runs: McpRuns) -> None:
    suite = runs.tmp / "suite.jsonl"
    suite.write_text(json.dumps({"id": "sum", "goal": "Add 2 and 3 with the calculator.",
                                 "check": 'test "$AGENT_ANSWER" = 5'}) + "\n")
    proc = runs.start([act("add", a=2, b=3), act("finish", answer="5")], "bench", str(suite), "--sandbox",
                      "local", "--unsafe-local", "--mcp-config", runs.config.name, "--out", "report.json")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    report = json.loads((runs.tmp / "report.json").read_text())
    assert report["totals"]["passed"] == 1, out
    assert runs.calls() == [{"tool": "add", "args": {"a": 2, "b": 3}}]


def test_bench_refuses_a_bad_mcp_config_before_any_task(runs: McpRuns) -> None:
    suite = runs.tmp / "suite.jsonl"
    suite.write_text(json.dumps({"id": "t", "goal": "g", "check": "true"}) + "\n")
    runs.config.write_text('{"mcpServers": {"x": {"comand": "typo"}}}')
    proc = runs.start([], "bench", str(suite), "--mcp-config", str(runs.config))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "comand" in out and "Traceback" not in out, out


def test_chat_keeps_the_servers_for_the_session_and_stops_them_at_the_end(runs: McpRuns) -> None:
    proc = runs.start([act("add", a=1, b=2), act("finish", answer="3"), act("multiply", a=2, b=4),
                       act("finish", answer="8")], "chat", "--workspace", str(runs.workspace), "--sandbox", "local",
                      "--unsafe-local", "--no-approve", "--mcp-config", str(runs.config))
    out, _ = proc.communicate("Add 1 and 2.\nNow multiply 2 by 4.\n/quit\n", timeout=120)
    assert proc.returncode == 0 and "answer 3" in out and "answer 8" in out, out
    assert [c["tool"] for c in runs.calls()] == ["add", "multiply"]
    assert runs.pidfile.read_text() and not process_alive(int(runs.pidfile.read_text()))
