"""Real MCP servers (written with the SDK) that the tests start as subprocesses."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CALC_SERVER = HERE / "calc_server.py"
WEATHER_SERVER = HERE / "weather_server.py"


def server_command(script: Path) -> list[str]:
    return [sys.executable, str(script)]


def process_alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
