"""MCP servers as agent tools: each server's tools become `schema_tool`s whose calls go through its session.

    with McpServers(mcp_servers(["python calc_server.py"], None)) as servers:
        agent = Agent(model, tools=default_tools(extra=servers.tools(taken=default_tools().names())))

The SDK is async; the agent is not. One background thread runs an event loop that holds every session
(one task per server, from connect to close, as the SDK's task groups require); a call is a coroutine
handed to that loop and waited for. A server's errors (`isError`, a dead process, a timeout) become a
failed observation, never an exception out of the run. Stdio servers start under `mcp_watchdog.py`, which
stops them when the agent's process is gone, also after a SIGKILL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tools.base import Tool, ToolError
from tools.mcp_config import McpServerConfig
from tools.schema_tool import schema_tool

WATCHDOG = Path(__file__).with_name("mcp_watchdog.py")
START_SECONDS = 60.0  # connect + list tools; `npx` / `uvx` servers may install themselves first
STOP_SECONDS = 15.0  # the SDK's shutdown is bounded (stdin close, 2 s, SIGTERM, 2 s, SIGKILL)
DESCRIPTION_CHARS = 300
STDERR_TAIL_LINES = 3
STDERR_TAIL_CHARS = 400


class McpSetupError(RuntimeError):
    """A server could not be started or listed; the user must fix its command or config."""


@dataclass
class _Connection:
    config: McpServerConfig
    errlog: IO[str] | None = None  # the server's stderr, kept for the error messages
    name: str = ""
    client: Any = None
    listed: list[Any] = field(default_factory=list)  # mcp.types.Tool
    ready: threading.Event = field(default_factory=threading.Event)
    stop: asyncio.Event | None = None
    held: concurrent.futures.Future | None = None  # the task holding the session; done when it ended
    failure: BaseException | None = None
    closed: bool = False  # a call found the connection closed: the server exited or hung up

    def stderr_tail(self) -> str:
        if self.errlog is None:
            return ""
        try:
            self.errlog.flush()
            self.errlog.seek(0)
            text = self.errlog.read()
        except (OSError, ValueError):
            return ""
        lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-STDERR_TAIL_LINES:])[-STDERR_TAIL_CHARS:]

    def gone(self) -> str | None:
        """Why calls cannot reach the server any more, or None while it is connected."""
        if self.closed or (self.held is not None and self.held.done()):
            tail = self.stderr_tail()
            return f"the MCP server {self.name} has stopped" + (f"; its last output: {tail}" if tail else "")
        return None


class McpServers:
    """The MCP servers of one run (or chat session): started together, stopped together."""

    def __init__(self, configs: list[McpServerConfig], *, start_seconds: float = START_SECONDS) -> None:
        self._connections = [_Connection(c) for c in configs]
        self._start_seconds = start_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.skipped: list[str] = []  # tools left out, with the reason (a schema that is not valid)

    def __enter__(self) -> McpServers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._connections]

    def start(self) -> None:
        """Connect to every server and list its tools; McpSetupError (after stopping the others) if one fails."""
        if not self._connections or self._loop is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-client", daemon=True)
        self._thread.start()
        for connection in self._connections:
            connection.errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
            connection.held = asyncio.run_coroutine_threadsafe(self._hold(connection), self._loop)
        try:
            for connection in self._connections:
                self._wait_ready(connection)
        except BaseException:
            self.close()
            raise
        _name_connections(self._connections)

    def _wait_ready(self, connection: _Connection) -> None:
        label = connection.config.label
        if not connection.ready.wait(self._start_seconds):
            raise McpSetupError(f"MCP server {label} did not answer within {self._start_seconds:g} s"
                                + _tail_note(connection))
        if connection.failure is not None:
            raise McpSetupError(f"MCP server {label} could not start: {_describe(connection.failure)}"
                                + _tail_note(connection))

    async def _hold(self, connection: _Connection) -> None:
        """Open the session, list the tools, then keep the session open until `stop` (or the server dies)."""
        connection.stop = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(await _client(connection, stack))
                connection.listed = await _list_tools(client)
                connection.client = client
                connection.ready.set()
                await connection.stop.wait()
        except BaseException as exc:  # noqa: B036 - recorded for the caller; cancellation is re-raised
            connection.failure = exc
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            connection.client = None
            connection.ready.set()

    def tools(self, taken: Iterable[str] = ()) -> list[Tool]:
        """Every server's tools as agent tools; a name that is taken, or offered by two servers, becomes
        `server.tool`. Side-effecting for approval unless the server marks a tool read-only."""
        taken = set(taken)
        counts = Counter(t.name for c in self._connections for t in c.listed)
        tools: list[Tool] = []
        for connection in self._connections:
            for listed in connection.listed:
                clash = listed.name in taken or counts[listed.name] > 1
                name = f"{connection.name}.{listed.name}" if clash else listed.name
                try:
                    tools.append(self._tool(connection, listed, name))
                except ValueError as exc:
                    self.skipped.append(f"{connection.name}.{listed.name}: {exc}")
                    continue
                taken.add(name)
        return tools

    def _tool(self, connection: _Connection, listed: Any, name: str) -> Tool:
        annotations = listed.annotations
        read_only = annotations is not None and annotations.read_only_hint is True
        remote = listed.name

        def call(args: dict[str, Any]) -> str:
            return self.call(connection, remote, args)

        return schema_tool(name, _short_description(listed), dict(listed.input_schema or {"type": "object"}),
                           call, side_effects=not read_only)

    def call(self, connection: _Connection, tool: str, args: dict[str, Any]) -> str:
        """One tools/call; every way it can fail is a ToolError whose text the model reads."""
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        if (why := connection.gone()) is not None or connection.client is None or self._loop is None:
            raise ToolError(why or f"the MCP server {connection.name} is not connected")
        seconds = connection.config.timeout
        future = asyncio.run_coroutine_threadsafe(
            connection.client.call_tool(tool, args, read_timeout_seconds=seconds), self._loop)
        try:
            result = future.result(seconds + 5)
        except Exception as exc:
            future.cancel()
            if isinstance(exc, concurrent.futures.TimeoutError) or _error_code(exc) == REQUEST_TIMEOUT:
                raise ToolError(f"{connection.name}.{tool} did not answer within {seconds:g} s") from None
            connection.closed = connection.closed or _error_code(exc) == CONNECTION_CLOSED
            raise ToolError(connection.gone() or f"{connection.name}.{tool} failed: {_describe(exc)}") from None
        except BaseException:  # Ctrl-C while waiting: the call is abandoned, the run stops
            future.cancel()
            raise
        text = result_text(result)
        if result.is_error:
            raise ToolError(text)
        return text

    def close(self) -> None:
        """Stop every server (close its stdin, then terminate, then kill) and the loop's thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        for connection in self._connections:
            if connection.stop is not None:
                loop.call_soon_threadsafe(connection.stop.set)
        for connection in self._connections:
            if connection.held is not None:
                try:
                    connection.held.result(STOP_SECONDS)
                except concurrent.futures.TimeoutError:
                    connection.held.cancel()
                except BaseException:  # noqa: B036 - already recorded as the connection's failure
                    pass
            if connection.errlog is not None:
                connection.errlog.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_SECONDS)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None


async def _client(connection: _Connection, stack: AsyncExitStack) -> Any:
    """The SDK's Client for a server, not yet entered (entering connects)."""
    from mcp import Client, StdioServerParameters, stdio_client
    from mcp.types import Implementation

    config = connection.config
    info = Implementation(name="autogpt-local", version="0.1.0")
    if config.url:
        if not config.headers:
            return Client(config.url, client_info=info)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = await stack.enter_async_context(httpx2.AsyncClient(headers=config.headers, follow_redirects=True))
        return Client(streamable_http_client(config.url, http_client=http), client_info=info)
    params = StdioServerParameters(command=sys.executable, args=["-I", str(WATCHDOG), config.command, *config.args],
                                   env=config.env or None, cwd=config.cwd)
    return Client(stdio_client(params, errlog=connection.errlog), client_info=info)


async def _list_tools(client: Any, max_pages: int = 100) -> list[Any]:
    tools, cursor = [], None
    for _ in range(max_pages):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _name_connections(connections: list[_Connection]) -> None:
    """Config-file servers keep their key; a `--mcp` server is named after what it calls itself."""
    used: set[str] = set()
    for connection in connections:
        info = getattr(connection.client, "server_info", None)
        base = connection.config.name or _slug(getattr(info, "name", "") or Path(connection.config.command).stem)
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        connection.name = name


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_").lower() or "mcp"


def _short_description(listed: Any) -> str:
    text = (listed.description or listed.title or listed.name).strip()
    first = text.split("\n\n", 1)[0].replace("\n", " ").strip()
    return first if len(first) <= DESCRIPTION_CHARS else first[: DESCRIPTION_CHARS - 3].rstrip() + "..."


def result_text(result: Any) -> str:
    """A tools/call result as the observation: its text, a short note for each image, audio or resource."""
    from mcp.types import AudioContent, EmbeddedResource, ImageContent, ResourceLink, TextContent

    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, (ImageContent, AudioContent)):
            kind = "image" if isinstance(block, ImageContent) else "audio"
            parts.append(f"[{kind}: {block.mime_type}, about {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource link: {block.uri}" + (f" ({block.name})" if block.name else "") + "]")
        elif isinstance(block, EmbeddedResource):
            resource = block.resource
            size = len(getattr(resource, "text", None) or getattr(resource, "blob", "") or "")
            parts.append(f"[resource: {resource.uri}, {resource.mime_type or 'unknown type'}, {size} characters]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts) if parts else "(the tool returned nothing)"


def _error_code(exc: BaseException) -> int | None:
    """The JSON-RPC error code of an MCPError (the SDK's way to say: timed out, connection closed)."""
    from mcp.shared.exceptions import MCPError

    return exc.error.code if isinstance(exc, MCPError) else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    if isinstance(exc, asyncio.CancelledError):
        return "the connection was cancelled"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _tail_note(connection: _Connection) -> str:
    tail = connection.stderr_tail()
    return f"; its output: {tail}" if tail else ""
