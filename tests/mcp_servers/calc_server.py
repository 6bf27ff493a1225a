"""A small real MCP server for the tests, written with the SDK: a calculator and some ways to misbehave.

    python calc_server.py            # stdio
    python calc_server.py --http 0   # Streamable HTTP on a free port (prints "listening on PORT")

$CALC_LOG (a file) gets one JSON line per call, so tests can tell what ran and how often; $CALC_PIDFILE gets
the server's pid at start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Image
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

server = MCPServer("calc")
READ_ONLY = ToolAnnotations(read_only_hint=True)


def record(tool: str, **args: object) -> None:
    if log := os.environ.get("CALC_LOG"):
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "args": args}) + "\n")


@server.tool(annotations=READ_ONLY)
def add(a: int, b: int) -> str:
    """Add two whole numbers and return the sum."""
    record("add", a=a, b=b)
    return str(a + b)


@server.tool(annotations=READ_ONLY)
def multiply(a: float, b: float) -> str:
    """Multiply two numbers."""
    record("multiply", a=a, b=b)
    return repr(a * b)


class Item(BaseModel):
    name: str
    qty: int
    unit: Literal["kg", "piece"] = "piece"


@server.tool()
def order(items: list[Item], note: str | None = None) -> str:
    """Place an order for some items (nested objects, an enum and an optional field)."""
    record("order", items=[i.model_dump() for i in items], note=note)
    return f"ordered {sum(i.qty for i in items)} things" + (f" ({note})" if note else "")


@server.tool()
def divide(a: float, b: float) -> str:
    """Divide a by b."""
    record("divide", a=a, b=b)
    if b == 0:
        raise ToolError("division by zero")
    return repr(a / b)


@server.tool()
def slow(seconds: float) -> str:
    """Wait, then answer."""
    record("slow", seconds=seconds)
    time.sleep(seconds)
    return "done waiting"


@server.tool()
def crash() -> str:
    """Exit the server at once."""
    record("crash")
    sys.stderr.write("calc server: crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool(annotations=READ_ONLY)
def picture() -> Image:
    """A 1x1 PNG."""
    record("picture")
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")
    return Image(data=png, format="png")


@server.tool()
def spawn_helper() -> str:
    """Start a long-running child process (for the no-orphans tests); returns its pid."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    record("spawn_helper", pid=child.pid)
    return str(child.pid)


if __name__ == "__main__":
    if pidfile := os.environ.get("CALC_PIDFILE"):
        with open(pidfile, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", port=int(sys.argv[2]))
    else:
        server.run()
