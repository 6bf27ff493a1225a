"""The one place tools are registered."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tools.base import Tool, ToolContext, ToolRegistry, tool
from tools.execute import run_python, run_shell
from tools.files import list_dir, read_file, write_file

FINISH = "finish"
PYTHON = run_python.name  # the tool whose calls share one Python session in a run
ANSWER_MAX_CHARS = 500  # the grammar closes the answer here: a rambling answer still ends as valid JSON


@tool(FINISH)
def finish(ctx: ToolContext, answer: Annotated[str, Field(min_length=1, max_length=ANSWER_MAX_CHARS)]) -> str:
    """Finish the task and give the final answer to the user.

    Args:
        answer: the final answer, complete and short
    """
    return answer


def default_tools(*, shell: bool = False, nlp: bool = True, extra: list[Tool] | None = None) -> ToolRegistry:
    """The agent's tools: files, Python in the sandbox, optional shell and NLP, then `finish` last."""
    registry = ToolRegistry([read_file, list_dir, write_file, run_python])
    if shell:
        registry.register(run_shell)
    if nlp:
        for t in _nlp_tools():
            registry.register(t)
    for t in extra or []:
        registry.register(t)
    registry.register(finish)
    return registry


def _nlp_tools() -> list[Tool]:
    try:
        from tools.nlp.tools import NLP_TOOLS
    except ImportError:
        return []
    return list(NLP_TOOLS)
