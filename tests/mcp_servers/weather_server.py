"""A one-tool MCP server for the end-to-end test with the real model: weather reports from a fixed table.

$WEATHER_LOG (a file) gets one JSON line per call.
"""

from __future__ import annotations

import json
import os

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("weather")
REPORTS = {"paris": "light rain, 14 C", "tokyo": "sunny, 22 C", "lima": "overcast, 18 C"}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def get_weather(city: str) -> str:
    """Get the current weather report for a city."""
    if log := os.environ.get("WEATHER_LOG"):
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"city": city}) + "\n")
    report = REPORTS.get(city.strip().lower())
    if report is None:
        raise ToolError(f"no weather report for {city!r}; known cities: Paris, Tokyo, Lima")
    return f"Weather in {city}: {report}"


if __name__ == "__main__":
    server.run()
