"""Code execution tools: everything goes through the run's sandbox."""

from __future__ import annotations

from sandbox.base import ExecResult
from tools.base import InterpreterLog, ToolContext, ToolError, tool
from tools.files import workspace_files_hint
from tools.python_source import compile_problem, echo_last_expression, silence_hint

MAX_CODE_BYTES = 100_000

_STATE_TEXT = {
    "lost": "[this ran in a new Python interpreter ({why}): variables, imports and functions from earlier "
            "calls are gone]\n",
    "ended": "[the Python interpreter ended with this call ({why}): variables, imports and functions are "
             "gone]\n",
    "kept": "[the call was interrupted; variables, imports and functions set before that are kept]\n",
}

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


def _code_problem(args: dict) -> str | None:
    return compile_problem(args["code"])


@tool(side_effects=True, body="code", body_language="python", check=_code_problem)
def run_python(ctx: ToolContext, code: str) -> str:
    """Run Python code in the sandbox with the workspace as the current directory; returns what it prints
    (and the value of a last line that is an expression).

    Args:
        code: Python code; print() the values you need to see
    """
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise ToolError(f"code is longer than {MAX_CODE_BYTES} bytes")
    result = ctx.sandbox.run_python(echo_last_expression(code))
    note = state_note(ctx.interpreter, result)
    text = note + describe_result(result)
    if result.ok and not (result.stdout or result.stderr or result.truncated):
        text = f"{note}(no output; exit code 0; {silence_hint(code)})"
    if not result.ok:
        if "FileNotFoundError" in result.stderr:
            text += "\n" + workspace_files_hint(ctx.workspace)
        raise ToolError(text)
    return text


def state_note(log: InterpreterLog, result: ExecResult) -> str:
    """A line for the observation when the Python state of earlier calls is gone, or this call's will be,
    or (for a call that was stopped) that it is kept."""
    state = result.python
    if state is None:  # a fresh interpreter per call: nothing was promised
        return ""
    note = ""
    if state.started and log.calls and log.lost != "told":
        note = _STATE_TEXT["lost"].format(why=log.lost or "the interpreter was restarted")
    if not state.kept:
        note += _STATE_TEXT["ended"].format(why=state.detail or "it stopped")
    elif result.failure in ("timeout", "output_limit"):
        note += _STATE_TEXT["kept"]
    log.calls += 1
    log.lost = "told" if not state.kept else ""
    return note


@tool(side_effects=True, body="command", body_language="sh")
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
