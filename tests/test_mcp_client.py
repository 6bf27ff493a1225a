"""The MCP client against real servers written with the SDK, started as subprocesses (stdio and HTTP)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp_servers import CALC_SERVER, process_alive

from agent.action import step_schema
from tools.base import ToolContext, ToolRegistry
from tools.mcp import McpServers, McpSetupError
from tools.mcp_config import McpConfigError, McpServerConfig, load_mcp_config, mcp_servers, parse_mcp_command
from tools.registry import default_tools


def calc(tmp_path: Path, name: str = "", **settings: Any) -> McpServerConfig:
    env = {"CALC_LOG": str(tmp_path / "calls.jsonl"), "CALC_PIDFILE": str(tmp_path / f"{name or 'calc'}.pid")}
    return McpServerConfig(name=name, command=sys.executable, args=[str(CALC_SERVER)], env=env, **settings)


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def calc_tools(tmp_path: Path):
    with McpServers([calc(tmp_path)]) as servers:
        yield ToolRegistry(servers.tools()), ToolContext(tmp_path)


def test_tools_are_listed_with_schemas_and_read_only_hints(calc_tools) -> None:
    registry, _ = calc_tools
    assert registry.names() == ["add", "multiply", "order", "divide", "slow", "crash", "picture", "spawn_helper"]
    assert not registry.get("add").side_effects  # readOnlyHint
    assert registry.get("order").side_effects  # no hint: approval asks first
    order_args = step_schema(ToolRegistry([registry.get("order")]))["properties"]["args"]
    item = order_args["properties"]["items"]["items"]  # the server's $ref to its Item model, inlined
    assert item["properties"]["unit"]["enum"] == ["kg", "piece"] and item["required"] == ["name", "qty"]
    assert order_args["required"] == ["items"]


def test_calls_give_text_and_failures_are_failed_observations(calc_tools, tmp_path: Path) -> None:
    registry, ctx = calc_tools
    assert registry.call(ctx, "add", {"a": 2, "b": 3}) == ("5", True)
    assert registry.call(ctx, "order", {"items": [{"name": "tea", "qty": 2, "unit": "kg"}]}) == (
        "ordered 2 things", True)
    assert registry.call(ctx, "divide", {"a": 1, "b": 0}) == ("Error executing tool divide: division by zero",
                                                               False)  # isError
    output, ok = registry.call(ctx, "picture", {})
    assert ok and output.startswith("[image: image/png, about ")
    output, ok = registry.call(ctx, "add", {"a": "two", "b": 3})  # checked here, never sent
    assert not ok and "a: 'two' is not of type 'integer'" in output
    assert [c["tool"] for c in calls(tmp_path)] == ["add", "order", "divide", "picture"]


def test_a_call_past_its_timeout_fails_and_the_server_serves_on(tmp_path: Path) -> None:
    with McpServers([calc(tmp_path, timeout=1.0)]) as servers:
        registry, ctx = ToolRegistry(servers.tools()), ToolContext(tmp_path)
        started = time.monotonic()
        output, ok = registry.call(ctx, "slow", {"seconds": 30})
        assert not ok and "did not answer within 1 s" in output and time.monotonic() - started < 10
        assert registry.call(ctx, "add", {"a": 1, "b": 1}) == ("2", True)


def test_a_dead_server_is_a_failed_observation_with_its_last_words(calc_tools) -> None:
    registry, ctx = calc_tools
    output, ok = registry.call(ctx, "crash", {})
    assert not ok and "the MCP server calc has stopped" in output and "crashing on purpose" in output
    output, ok = registry.call(ctx, "add", {"a": 1, "b": 2})
    assert not ok and "has stopped" in output


def test_names_taken_by_a_builtin_or_by_two_servers_get_the_server_prefix(tmp_path: Path) -> None:
    with McpServers([calc(tmp_path, "left"), calc(tmp_path, "right")]) as servers:
        tools = servers.tools(taken=default_tools().names())
    names = [t.name for t in tools]
    assert names[:2] == ["left.add", "left.multiply"] and "right.add" in names and "add" not in names
    assert len(set(names)) == len(names)


def test_a_command_server_is_named_after_itself_and_its_tools_keep_their_names(tmp_path: Path) -> None:
    servers = McpServers([parse_mcp_command(f"{sys.executable} {CALC_SERVER}")])
    with servers:
        tools = servers.tools(taken={"read_file", "list_dir", "write_file", "run_python", "finish"})
    assert servers.names == ["calc"] and tools[0].name == "add"


def test_closing_stops_the_server_process(tmp_path: Path) -> None:
    with McpServers([calc(tmp_path)]):
        pid = int((tmp_path / "calc.pid").read_text())
        assert process_alive(pid)
    assert not process_alive(pid)


@pytest.mark.parametrize("command, words", [
    (["no-such-mcp-server-here"], "cannot start MCP server 'no-such-mcp-server-here'"),
    ([sys.executable, "-c", "import sys; print('bad config', file=sys.stderr); sys.exit(3)"], "bad config"),
])
def test_a_server_that_cannot_start_is_one_clear_error(command: list[str], words: str) -> None:
    servers = McpServers([McpServerConfig(command=command[0], args=command[1:])], start_seconds=20)
    with pytest.raises(McpSetupError, match="could not start") as caught:
        servers.start()
    assert words in str(caught.value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_streamable_http_server_by_url(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(CALC_SERVER), "--http", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and server.poll() is None, "the HTTP server did not come up"
            time.sleep(0.2)
        config = McpServerConfig(name="remote", url=f"http://127.0.0.1:{port}/mcp")
        with McpServers([config]) as servers:
            registry = ToolRegistry(servers.tools())
            assert registry.call(ToolContext(tmp_path), "multiply", {"a": 6, "b": 7}) == ("42.0", True)
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- the config file --------------------------------------------------------------------------------------


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_the_common_config_file_format(tmp_path: Path) -> None:
    path = write(tmp_path, {"mcpServers": {
        "calc": {"command": "python", "args": ["calc.py"], "env": {"KEY": "v"}},
        "web": {"type": "http", "url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"},
                "timeout": 30},
        "off": {"command": "x", "disabled": True}}})
    calc_server, web = load_mcp_config(path)
    assert (calc_server.name, calc_server.command, calc_server.args, calc_server.env) == (
        "calc", "python", ["calc.py"], {"KEY": "v"})
    assert web.url == "https://example.com/mcp" and web.timeout == 30 and web.headers["Authorization"]
    both = mcp_servers(["node server.js --port 1"], path, cwd=tmp_path)
    assert [s.label for s in both] == ["calc", "web", "node server.js --port 1"] and both[-1].cwd == tmp_path


@pytest.mark.parametrize("data, words", [
    ("{not json", "is not valid JSON"),
    ({"servers": {}}, '"mcpServers"'),
    ({"mcpServers": {"x": {"command": "a", "url": "http://h"}}}, 'either "command"'),
    ({"mcpServers": {"x": {}}}, 'either "command"'),
    ({"mcpServers": {"x": {"url": "ftp://h"}}}, "must start with http"),
    ({"mcpServers": {"x": {"command": "a", "comand": "b"}}}, "comand"),
    ({"mcpServers": {"x": {"command": "a", "timeout": 0}}}, "timeout"),
])
def test_a_config_file_with_a_mistake_says_where(tmp_path: Path, data: Any, words: str) -> None:
    with pytest.raises(McpConfigError, match=str(tmp_path / "mcp.json").replace(".", r"\.")) as caught:
        load_mcp_config(write(tmp_path, data))
    assert words in str(caught.value)


def test_a_command_is_split_as_a_shell_would() -> None:
    config = parse_mcp_command("npx -y '@scope/server name' --dir /tmp")
    assert (config.command, config.args) == ("npx", ["-y", "@scope/server name", "--dir", "/tmp"])
    with pytest.raises(McpConfigError):
        parse_mcp_command("  ")
    with pytest.raises(McpConfigError):
        parse_mcp_command("python 'unclosed")
