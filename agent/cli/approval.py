"""Approval on the terminal: show each side-effect call (code, command or diff) and ask y/n/a/e."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax

from agent.action import Action
from agent.approval import NOBODY_THERE, ApprovalPolicy, Decision, Preview, parse_decision, preview_action
from agent.cli.render import shown
from agent.cli.terminal_text import printable


class TerminalApprover:
    """Shows each side-effect call and asks y/n/a/e; `ask(prompt)` reads one answer (input() by default)."""

    def __init__(self, console: Console, workspace: Path, *, ask: Callable[[str], str] | None = None,
                 policy: ApprovalPolicy | None = None) -> None:
        self.console = console
        self.workspace = Path(workspace)
        self.ask = ask or (lambda prompt: console.input(shown(prompt)))
        self.policy = policy or ApprovalPolicy()

    def __call__(self, action: Action) -> str | None:
        if not self.policy.needs_asking(action.tool):
            return None
        self.show(preview_action(action, self.workspace))
        try:
            decision = self._ask_decision(action.tool)
            detail = ""
            if decision == "no":
                detail = self.ask("Why not? (optional, the model sees it) ")
            elif decision == "edit":
                while not (detail := self.ask("New instruction for the model: ").strip()):
                    pass
        except EOFError:  # no terminal to answer on: nothing was approved
            self.console.print("[yellow]no answer; the call is declined[/]")
            return NOBODY_THERE
        return self.policy.settle(action, decision, detail)

    def show(self, preview: Preview) -> None:
        self.console.print(f"[bold yellow]approve?[/] {shown(preview.title)}")
        body = printable(preview.body.rstrip("\n"))  # code with an ESC in it must not redraw this screen
        self.console.print(Syntax(body, preview.syntax, theme="ansi_dark", word_wrap=True))

    def _ask_decision(self, tool: str) -> Decision:
        tool = printable(tool)
        prompt = f"Allow {tool}? [y]es / [n]o / [a]lways for {tool} / [e]dit instruction: "
        while (decision := parse_decision(self.ask(prompt))) is None:
            self.console.print("please answer y, n, a or e")
        return decision


def make_run_approver(console: Console, workspace: Path) -> TerminalApprover:
    """The approver `autogpt run --approve` uses: asks on the terminal the run prints to."""
    return TerminalApprover(console, workspace)
