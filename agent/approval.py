"""Approval mode: before a tool with side effects runs, show what it will do and ask the user.

This module is the pure part: what a call will do (as code or a diff) and what an answer means. The
frontends that ask (the terminal's `agent.cli.approval.TerminalApprover`, the web page) build on it.
An approver returns None to let the call run, or feedback the model sees in place of the call's result.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent.action import Action
from tools.base import ToolError
from tools.files import read_workspace_bytes

Decision = Literal["yes", "no", "always", "edit"]
ANSWERS: dict[str, Decision] = {"y": "yes", "yes": "yes", "n": "no", "no": "no", "a": "always",
                                "always": "always", "e": "edit", "edit": "edit"}
MAX_PREVIEW_LINES = 120
MAX_OLD_FILE_BYTES = 1_000_000

# What the model reads after the loop's "The user did not allow this call: ".
NO_REASON = "no reason was given."
NEW_INSTRUCTION = "instead, the user gives this instruction: {instruction}"
NOBODY_THERE = "no one was at the terminal to approve it."


@dataclass(frozen=True)
class Preview:
    """What a call will do, ready to show: a one-line title and a body in some syntax."""

    title: str
    body: str
    syntax: str  # a pygments lexer name: python, bash, diff, json


def preview_action(action: Action, workspace: Path) -> Preview:
    """The code a run_python/run_shell call runs, the diff a write_file call makes, else its arguments."""
    args = action.args
    if action.tool == "run_python" and isinstance(args.get("code"), str):
        return Preview("run_python will run this Python code:", _clip(args["code"]), "python")
    if action.tool == "run_shell" and isinstance(args.get("command"), str):
        return Preview("run_shell will run this command:", _clip(args["command"]), "bash")
    if action.tool == "write_file" and isinstance(args.get("path"), str):
        return _write_preview(workspace, args["path"], str(args.get("content", "")))
    arguments = json.dumps(args, indent=2, ensure_ascii=False)
    return Preview(f"{action.tool} with these arguments:", arguments, "json")


def file_diff(path: str, old: str | None, new: str) -> str:
    """A unified diff from the file's current text (None: it does not exist yet) to `new`."""
    old_lines = (old or "").splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    diff = difflib.unified_diff(old_lines, new_lines, fromfile="/dev/null" if old is None else f"a/{path}",
                                tofile=f"b/{path}", n=3)
    no_newline = "\n\\ No newline at end of file\n"
    text = "".join(line if line.endswith("\n") else line + no_newline for line in diff)
    return text or "(no change: the file already has exactly this content)\n"


def parse_decision(answer: str) -> Decision | None:
    return ANSWERS.get(answer.strip().lower())


@dataclass
class ApprovalPolicy:
    """Which tools still need asking: "always" answers are remembered for the session."""

    always: set[str] = field(default_factory=set)

    def needs_asking(self, tool: str) -> bool:
        return tool not in self.always

    def settle(self, action: Action, decision: Decision, detail: str = "") -> str | None:
        """Turn an answer (and the reason or new instruction given with it) into the approver's verdict."""
        if decision == "always":
            self.always.add(action.tool)
            return None
        if decision == "yes":
            return None
        if decision == "no":
            return detail.strip() or NO_REASON
        return NEW_INSTRUCTION.format(instruction=detail.strip())


def _write_preview(workspace: Path, path: str, content: str) -> Preview:
    try:
        data = read_workspace_bytes(workspace, path, MAX_OLD_FILE_BYTES)
    except ToolError as exc:
        return Preview(f"write_file {path} (the tool will refuse: {exc})", _clip(content), "text")
    old = None if data is None else data.decode("utf-8", errors="replace")
    title = f"write_file will {'change' if old is not None else 'create'} {path}:"
    return Preview(title, _clip(file_diff(path, old, content)), "diff")


def _clip(text: str) -> str:
    lines = text.splitlines(keepends=True)
    if len(lines) <= MAX_PREVIEW_LINES:
        return text
    return "".join(lines[:MAX_PREVIEW_LINES]) + f"[... {len(lines) - MAX_PREVIEW_LINES} more lines ...]\n"
