"""Code execution tools: everything goes through the run's sandbox."""

from __future__ import annotations

from sandbox.base import ExecResult, python_command
from tools.base import ToolContext, ToolError, tool
from tools.files import workspace_files_hint
from tools.python_source import echo_last_expression, silence_hint

MAX_CODE_BYTES = 100_000

_FAILURE_TEXT = {
    "timeout": "the call was stopped: it ran past its time limit",
    "memory": "the call was stopped: it ran out of memory",
    "killed": "the call was killed",
    "output_limit": "output went past the limit and was cut",
    "quota": "the call was stopped: the workspace went past its disk quota",
}


def describe_result(result: ExecResult) -> str:
    """The observation the model sees: why a call failed (first, so that cutting a long observation keeps
    it), then its output."""
    parts = []
    if result.failure:
        parts.append(f"[{_FAILURE_TEXT[result.failure]}]")
    elif result.exit_code != 0:
        parts.append(f"[exit code {result.exit_code}]")
    elif result.truncated:
        parts.append("[the output was longer than the limit; only its start is shown]")
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    if not parts:
        parts.append("(no output; exit code 0; use print() to see values)")
    return "\n".join(parts)


@tool(side_effects=True)
def run_python(ctx: ToolContext, code: str) -> str:
    """Run Python code in the sandbox with the workspace as the current directory; returns what it prints
    (and the value of a last line that is an expression).

    Args:
        code: a complete Python program; print() the values you need to see
    """
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise ToolError(f"code is longer than {MAX_CODE_BYTES} bytes")
    result = ctx.sandbox.exec(python_command(echo_last_expression(code)))
    text = describe_result(result)
    if result.ok and not (result.stdout or result.stderr or result.truncated):
        text = f"(no output; exit code 0; {silence_hint(code)})"
    if not result.ok:
        if "FileNotFoundError" in result.stderr:
            text += "\n" + workspace_files_hint(ctx.workspace)
        raise ToolError(text)
    return text


@tool(side_effects=True)
def run_shell(ctx: ToolContext, command: str) -> str:
    """Run a shell command in the sandbox with the workspace as the current directory.

    Args:
        command: the command line, run by /bin/sh -c
    """
    result = ctx.sandbox.exec(["/bin/sh", "-c", command])
    text = describe_result(result)
    if not result.ok:
        raise ToolError(text)
    return text
