"""The MCP servers of a command (`--mcp`, `--mcp-config`): checked, started, their tools in the registry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from agent.cli.options import fail
from agent.config import AgentConfig
from tools.base import ToolRegistry
from tools.mcp import McpServers, McpSetupError
from tools.mcp_config import McpConfigError, McpServerConfig, load_mcp_config, parse_mcp_command
from tools.registry import default_tools


def mcp_settings(commands: list[str] | None, config_file: Path | None,
                 cwd: Path | None = None) -> tuple[list[McpServerConfig], Path | None]:
    """The `--mcp` servers (started in `cwd`, by default this folder) and the checked config file's path."""
    start_in = (cwd or Path.cwd()).resolve()
    if not start_in.is_dir():
        fail(f"--mcp-cwd {cwd} is not a directory")
    try:
        servers = [parse_mcp_command(text, start_in) for text in commands or []]
        if config_file is not None:
            load_mcp_config(config_file)
    except McpConfigError as exc:
        fail(str(exc))
    return servers, config_file.resolve() if config_file is not None else None


@contextmanager
def mcp_registry(config: AgentConfig, console: Console) -> Iterator[ToolRegistry | None]:
    """The agent's tools plus those of the config's MCP servers, which run while the block runs (None, and
    nothing started, when there are none)."""
    try:
        servers = (load_mcp_config(config.mcp_config) if config.mcp_config is not None else []) + config.mcp
    except McpConfigError as exc:
        fail(str(exc))
    if not servers:
        yield None
        return
    connections = McpServers(servers)
    try:
        with console.status(f"starting {len(servers)} MCP server(s) ..."):
            connections.start()
    except McpSetupError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # the servers started so far were stopped
        raise typer.Exit(130) from None
    try:
        builtin = default_tools(shell=config.shell)
        tools = connections.tools(taken=builtin.names())
        for skipped in connections.skipped:
            console.print(f"[yellow]warning:[/] MCP tool left out: {escape(skipped)}")
        console.print(f"[dim]MCP: {len(tools)} tool(s) from {escape(', '.join(connections.names))}: "
                      f"{escape(', '.join(t.name for t in tools))}[/]")
        yield default_tools(shell=config.shell, extra=tools)
    finally:
        connections.close()
