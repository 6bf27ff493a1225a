"""Which MCP servers a run uses: `--mcp 'COMMAND ARGS...'` and the common `{"mcpServers": {...}}` file.

    {"mcpServers": {
        "calc":  {"command": "python", "args": ["calc_server.py"], "env": {"PRECISION": "4"}},
        "notes": {"url": "http://127.0.0.1:8931/mcp", "headers": {"Authorization": "Bearer ..."}}}}

A stdio server is a command (with `args`, extra `env`, and the folder it starts in, `cwd`); a Streamable HTTP
server is a `url`. `timeout` is the longest one call may take, in seconds; `"disabled": true` skips a server.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CALL_SECONDS = 120.0


class McpConfigError(ValueError):
    """An MCP server setting the user must fix; the message says where."""


class McpServerConfig(BaseModel):
    """One server. `name` is the config file's key; for `--mcp` it is empty and the server's own name is used."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    command: str = ""
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    transport: Literal["stdio", "http", "streamable-http", "streamableHttp"] | None = Field(None, alias="type")
    timeout: float = Field(DEFAULT_CALL_SECONDS, gt=0)
    disabled: bool = False

    @model_validator(mode="after")
    def _one_way_to_reach_it(self) -> McpServerConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError('give either "command" (a stdio server) or "url" (a Streamable HTTP server)')
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        return self

    @property
    def label(self) -> str:
        return self.name or (self.url if self.url else shlex.join([self.command, *self.args]))


def parse_mcp_command(text: str, cwd: Path | None = None) -> McpServerConfig:
    """A server from one `--mcp` value: a command line, split as a shell would (no shell runs it)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise McpConfigError(f"--mcp {text!r}: {exc}") from None
    if not words:
        raise McpConfigError("--mcp needs a command, e.g. --mcp 'python my_server.py'")
    return McpServerConfig(command=words[0], args=words[1:], cwd=cwd)


def load_mcp_config(path: Path) -> list[McpServerConfig]:
    """The enabled servers of an `{"mcpServers": {name: {...}}}` file, in file order."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise McpConfigError(f"cannot read MCP config {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise McpConfigError(f"MCP config {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise McpConfigError(f'MCP config {path} must be an object with "mcpServers": {{"name": {{...}}}}')
    configs = []
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            raise McpConfigError(f"MCP config {path}: server {name!r} must be an object")
        try:
            config = McpServerConfig.model_validate({**entry, "name": name})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            raise McpConfigError(f"MCP config {path}: server {name!r}: {problems}") from None
        if not config.disabled:
            configs.append(config)
    return configs


def mcp_servers(commands: list[str], config_file: Path | None, cwd: Path | None = None) -> list[McpServerConfig]:
    """Every server a run asked for: the config file's, then one per `--mcp` command."""
    servers = load_mcp_config(config_file) if config_file is not None else []
    return servers + [parse_mcp_command(text, cwd) for text in commands]
