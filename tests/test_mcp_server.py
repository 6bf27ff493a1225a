"""`autogpt mcp-server` as a real subprocess, driven by the MCP SDK's own client; and `autogpt serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sandbox_support import require_isolation

from agent.store import RunStore
from agent.testing import SCRIPTED_MODEL_ENV, act

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"


def with_server(workspace: Path, home: Path, check: Callable[[Any], Awaitable[None]], *flags: str,
                env: dict[str, str] | None = None) -> None:
    """Start `autogpt mcp-server` over stdio, hand the connected SDK client to `check`, stop the server."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=AUTOGPT, args=["mcp-server", "--workspace", str(workspace), *flags],
                                   env={"AUTOGPT_HOME": str(home), **(env or {})})

    async def main() -> None:
        async with Client(params) as client:
            await check(client)

    anyio.run(main)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


@pytest.fixture
def served(tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("The meeting with Ada Lovelace is in London on Monday.\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    return workspace, tmp_path / "home"


def test_the_tools_are_listed_with_their_schemas_and_hints(served) -> None:
    workspace, home = served

    async def check(client: Any) -> None:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert list(tools) == ["run_python", "read_file", "write_file", "list_dir", "classify_sentiment",
                               "classify_topic", "extract_entities", "summarize_text", "run_goal"]
        assert tools["read_file"].annotations.read_only_hint is True
        assert tools["run_python"].annotations.read_only_hint is False
        assert tools["summarize_text"].annotations.read_only_hint is False  # it writes when given output_path
        assert tools["write_file"].annotations.destructive_hint is True
        assert tools["run_goal"].input_schema["required"] == ["goal"]
        assert tools["write_file"].input_schema["required"] == ["path", "content"]

    with_server(workspace, home, check, "--sandbox", "local", "--unsafe-local")


def test_files_stay_inside_the_workspace(served) -> None:
    workspace, home = served

    async def check(client: Any) -> None:
        written = await client.call_tool("write_file", {"path": "out/hello.txt", "content": "hi there"})
        assert not written.is_error and "created out/hello.txt" in text_of(written)
        assert text_of(await client.call_tool("read_file", {"path": "out/hello.txt"})) == "hi there"
        assert "notes.txt" in text_of(await client.call_tool("list_dir", {}))
        escape = await client.call_tool("read_file", {"path": "../secret.txt"})
        assert escape.is_error and "outside the workspace" in text_of(escape)
        wrong = await client.call_tool("write_file", {"path": "x.txt"})
        assert wrong.is_error and "content" in text_of(wrong)

    with_server(workspace, home, check, "--sandbox", "local", "--unsafe-local")
    assert (workspace / "out" / "hello.txt").read_text() == "hi there"


def test_run_python_runs_in_the_sandbox_without_network(served) -> None:
    require_isolation("auto")
    workspace, home = served

    async def check(client: Any) -> None:
        result = await client.call_tool("run_python", {"code": "print(sum(range(101)))"})
        assert not result.is_error and text_of(result) == "5050"
        probe = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
                 "    print('online')\nexcept OSError as e:\n    print('offline', e.errno)")
        assert text_of(await client.call_tool("run_python", {"code": probe})).startswith("offline")
        failed = await client.call_tool("run_python", {"code": "raise SystemExit(4)"})
        assert failed.is_error and "exit code 4" in text_of(failed)

    with_server(workspace, home, check, "--sandbox", "local")


def test_the_nlp_tools(served) -> None:
    workspace, home = served

    async def check(client: Any) -> None:
        sentiment = json.loads(text_of(await client.call_tool("classify_sentiment", {
            "texts": ["I love this, it is wonderful", "This is awful and broken"]})))
        assert [r["label"] for r in sentiment["results"]] == ["positive", "negative"]
        entities = text_of(await client.call_tool("extract_entities", {"input_path": "notes.txt"}))
        assert "Ada Lovelace" in entities and "London" in entities

    with_server(workspace, home, check, "--sandbox", "local", "--unsafe-local")


def test_run_goal_runs_the_agent_and_returns_its_answer_and_run_id(served, tmp_path: Path) -> None:
    workspace, home = served
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([act("run_python", code="print(6 * 7)"), act("finish", answer="42")]))
    runs = tmp_path / "runs"
    outcome: dict[str, Any] = {}

    async def check(client: Any) -> None:
        result = await client.call_tool("run_goal", {"goal": "What is 6 times 7?", "max_steps": 4})
        assert not result.is_error, text_of(result)
        outcome.update(json.loads(text_of(result)))

    with_server(workspace, home, check, "--sandbox", "local", "--unsafe-local", "--runs-dir", str(runs),
                env={SCRIPTED_MODEL_ENV: str(replies)})
    assert outcome["answer"] == "42" and outcome["status"] == "done" and outcome["steps"] == 2
    log = RunStore(runs).load(outcome["run_id"])
    assert log.meta["goal"] == "What is 6 times 7?" and log.meta["config"]["budget"]["max_steps"] == 4


def test_a_bad_workspace_is_one_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([AUTOGPT, "mcp-server", "--workspace", str(tmp_path / "nowhere")], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "is not a directory" in message and "Traceback" not in message


# -- autogpt serve ------------------------------------------------------------------------------------------


def test_serve_has_the_server_flags() -> None:
    out = subprocess.run([AUTOGPT, "serve", "--help"], capture_output=True, text=True, timeout=60).stdout
    for flag in ("--host", "--port", "--model", "--name", "--device", "--api-key", "--no-json-schema"):
        assert flag in out, out


def test_serve_loads_the_model_once_and_answers(tmp_path: Path) -> None:
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps(["first answer", "second answer"]))
    proc = subprocess.Popen([AUTOGPT, "serve", "--port", "0", "--name", "local", "--api-key", "k"],
                            env={**os.environ, SCRIPTED_MODEL_ENV: str(replies)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("serving local on cpu at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        headers = {"Authorization": "Bearer k"}
        assert httpx.get(f"{url}/models", headers=headers).json()["data"][0]["id"] == "local"
        body = {"model": "local", "messages": [{"role": "user", "content": "hi"}]}
        answers = [httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=30).json()
                   ["choices"][0]["message"]["content"] for _ in range(2)]
        assert answers == ["first answer", "second answer"]  # one model, its replies in turn
        assert httpx.post(f"{url}/chat/completions", json=body).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_on_a_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    replies = tmp_path / "replies.json"
    replies.write_text("[]")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([AUTOGPT, "serve", "--port", str(port)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, SCRIPTED_MODEL_ENV: str(replies)})
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in " ".join(proc.stderr.split())
