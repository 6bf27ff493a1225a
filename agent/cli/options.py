"""What every command shares: the common options, the one way to fail, and how a command gets its model."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agent.llm.base import ChatModel
from sandbox.base import SandboxKind

RunsDir = Annotated[Path | None, typer.Option("--runs-dir", help="where runs are recorded "
                                              "(default $AUTOGPT_HOME/runs)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]
SandboxOpt = Annotated[SandboxKind, typer.Option(help="where code runs: docker, local, or auto (docker when "
                                                 "its engine and image are there, else local)")]
ModelOpt = Annotated[str, typer.Option(help="default (the embedded model, tuned), base (the same, untuned), a model "
                                       "directory, a .gguf file, or openai:URL#MODEL")]
AdapterOpt = Annotated[Path | None, typer.Option("--adapter", help="a LoRA adapter folder (`autogpt tune --out`) to "
                                                 "run on top of the local model (instead of the shipped one)")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu or cuda")]
DtypeOpt = Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16")]
McpOpt = Annotated[list[str] | None, typer.Option("--mcp", metavar="'COMMAND ARGS...'",
                                                  help="an MCP server (stdio) whose tools the agent may use; "
                                                  "repeatable")]
McpConfigOpt = Annotated[Path | None, typer.Option("--mcp-config", help='MCP servers file: {"mcpServers": '
                                                   '{"name": {"command": ..., "args": [...]} or {"url": ...}}}')]
McpCwdOpt = Annotated[Path | None, typer.Option("--mcp-cwd", help="folder the --mcp commands start in "
                                                "(default: the current one)")]


class ActionFormatChoice(StrEnum):
    RAW = "raw"
    JSON = "json"


ActionFormatOpt = Annotated[ActionFormatChoice | None, typer.Option(
    "--action-format", help="how the model writes actions: raw (code and file content as they are, in a "
    "fenced block after a JSON header) or json (escaped in JSON strings, the default)")]


PythonSessionOpt = Annotated[bool, typer.Option(
    "--python-session/--no-python-session", help="run_python keeps one Python interpreter for the run "
    "(variables, imports and functions last from call to call); off: a fresh interpreter per call")]


def action_format_for(choice: ActionFormatChoice | None, model_spec: str) -> str:
    """The action format a run uses: the one asked for, else JSON (it passed more of the core suite's tasks
    with the default model, docs/code-actions.md; and servers take a JSON schema, not our grammar)."""
    return choice.value if choice is not None else "json"


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and the exit code (2: a usage or setup error the user must fix)."""
    from agent.cli.terminal_text import printable

    # one line, not wrapped at the terminal's width
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(printable(message))}")
    raise typer.Exit(code)


def load_model(spec: str, *, device: str = "auto", dtype: str = "auto", adapter: Path | None = None) -> ChatModel:
    """The command's model: a scripted one when $AUTOGPT_SCRIPTED_MODEL is set (tests), else `spec` (with
    `adapter`)."""
    from agent.testing import scripted_model_from_env

    scripted = scripted_model_from_env()
    if scripted is not None:
        return scripted
    from agent.llm import load_chat_model

    return load_chat_model(spec, device=device, dtype=dtype, adapter=adapter)
