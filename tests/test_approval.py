"""Approval mode: what a side-effect call is shown as, what each answer does, and what the model then sees."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from agent.action import Action
from agent.approval import (
    NEW_INSTRUCTION,
    NO_REASON,
    NOBODY_THERE,
    ApprovalPolicy,
    file_diff,
    parse_decision,
    preview_action,
)
from agent.cli.approval import TerminalApprover, make_run_approver
from agent.events import Observation
from agent.testing import act
from tools.base import ToolContext, tool


def answers(*replies: str) -> tuple[Callable[[str], str], list[str]]:
    """An `ask` that gives `replies` in order (EOFError after them) and records the prompts it got."""
    prompts: list[str] = []
    queue = list(replies)

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    return ask, prompts


def approver(workspace: Path, *replies: str) -> tuple[TerminalApprover, list[str], io.StringIO]:
    screen = io.StringIO()
    ask, prompts = answers(*replies)
    console = Console(file=screen, width=120, color_system=None)
    return TerminalApprover(console, workspace, ask=ask), prompts, screen


PY = Action("check the numbers", "run_python", {"code": "print(6 * 7)"})


@pytest.mark.parametrize("text, decision", [("y", "yes"), (" YES ", "yes"), ("n", "no"), ("a", "always"),
                                            ("e", "edit"), ("edit", "edit"), ("", None), ("maybe", None)])
def test_answers_are_read_as_decisions(text, decision):
    assert parse_decision(text) == decision


def test_yes_lets_the_call_run(workspace):
    approve, prompts, screen = approver(workspace, "y")
    assert approve(PY) is None
    assert len(prompts) == 1 and "[a]lways for run_python" in prompts[0]
    assert "print(6 * 7)" in screen.getvalue()  # the code was shown before asking


def test_no_returns_the_reason_as_feedback_and_asks_again_after_a_bad_answer(workspace):
    approve, prompts, screen = approver(workspace, "what?", "n", "use the csv module instead")
    assert approve(PY) == "use the csv module instead"
    assert len(prompts) == 3 and "please answer y, n, a or e" in screen.getvalue()


def test_no_without_a_reason_still_declines(workspace):
    approve, _, _ = approver(workspace, "n", "  ")
    assert approve(PY) == NO_REASON


def test_always_is_remembered_for_that_tool_only(workspace):
    approve, prompts, _ = approver(workspace, "a", "y")
    assert approve(PY) is None
    assert approve(Action("", "run_python", {"code": "print(1)"})) is None
    assert len(prompts) == 1  # not asked again for run_python
    assert approve(Action("", "write_file", {"path": "a.txt", "content": "x"})) is None
    assert len(prompts) == 2  # another tool is asked about


def test_edit_sends_the_new_instruction_instead_of_running(workspace):
    approve, prompts, _ = approver(workspace, "e", "", "print the numbers as a table")
    feedback = approve(PY)
    assert feedback == NEW_INSTRUCTION.format(instruction="print the numbers as a table")
    assert len(prompts) == 3  # an empty instruction is asked for again


def test_no_terminal_to_answer_on_declines(workspace):
    approve, _, _ = approver(workspace)
    assert approve(PY) == NOBODY_THERE


def test_the_policy_settles_decisions_without_a_terminal():
    policy = ApprovalPolicy()
    assert policy.settle(PY, "no", "too slow") == "too slow"
    assert policy.needs_asking("run_python")
    assert policy.settle(PY, "always") is None and not policy.needs_asking("run_python")


def test_write_file_is_previewed_as_a_diff_against_the_current_file(workspace):
    (workspace / "notes.txt").write_text("alpha\nbeta\ngamma\n")
    change = Action("", "write_file", {"path": "notes.txt", "content": "alpha\nBETA\ngamma\n"})
    preview = preview_action(change, workspace)
    assert preview.syntax == "diff" and "change notes.txt" in preview.title
    assert "--- a/notes.txt" in preview.body and " alpha\n-beta\n+BETA\n gamma\n" in preview.body


def test_a_new_file_is_previewed_as_all_added_lines(workspace):
    preview = preview_action(Action("", "write_file", {"path": "sub/new.py", "content": "x = 1\ny = 2"}),
                             workspace)
    assert "create sub/new.py" in preview.title
    assert "--- /dev/null" in preview.body and "+x = 1\n+y = 2\n\\ No newline at end of file" in preview.body


def test_an_unchanged_file_and_a_path_outside_the_workspace_are_said_plainly(workspace):
    (workspace / "same.txt").write_text("x\n")
    assert "no change" in file_diff("same.txt", "x\n", "x\n")
    outside = preview_action(Action("", "write_file", {"path": "../escape.txt", "content": "x"}), workspace)
    assert "will refuse" in outside.title


def test_code_and_commands_are_shown_as_they_will_run(workspace):
    shell = preview_action(Action("", "run_shell", {"command": "ls -la | wc -l"}), workspace)
    assert shell.body == "ls -la | wc -l" and shell.syntax == "bash"
    long_code = "\n".join(f"print({i})" for i in range(500))
    clipped = preview_action(Action("", "run_python", {"code": long_code}), workspace).body
    assert "print(0)" in clipped and "more lines" in clipped and "print(499)" not in clipped


def test_make_run_approver_asks_on_the_given_console(workspace):
    approve = make_run_approver(Console(file=io.StringIO()), workspace)
    assert isinstance(approve, TerminalApprover) and approve.workspace == workspace


def test_a_no_reaches_the_model_as_feedback_and_the_tool_does_not_run(make_agent, workspace):
    agent, model = make_agent([act("write_file", path="out.txt", content="1"),
                               act("write_file", path="result.txt", content="1"),
                               act("finish", answer="wrote result.txt")])
    agent.approver, prompts, _ = approver(workspace, "n", "name it result.txt", "y")
    result = agent.run("write 1 to a file")

    model.assert_complete()
    assert result.status == "done"
    assert not (workspace / "out.txt").exists() and (workspace / "result.txt").read_text() == "1"
    seen_next = "\n".join(m.content for m in model.calls[1].messages)
    assert "name it result.txt" in seen_next
    declined = [e for e in agent.store.load(result.run_id).events if isinstance(e, Observation)][0]
    assert not declined.ok and declined.output == "The user did not allow this call: name it result.txt"


def test_an_edited_instruction_reaches_the_model_and_read_only_tools_are_not_asked(make_agent, workspace):
    agent, model = make_agent([act("list_dir", path="."), act("run_python", code="print(1)"),
                               act("finish", answer="ok")])
    agent.approver, prompts, _ = approver(workspace, "e", "print 2 instead")
    agent.run("print something")

    model.assert_complete()
    assert len(prompts) == 2  # list_dir has no side effects: only run_python was asked about
    assert "print 2 instead" in "\n".join(m.content for m in model.calls[2].messages)


def test_a_reading_tool_is_asked_about_only_when_told_where_to_write(make_agent, workspace):
    (workspace / "notes.txt").write_text("Cats sleep a lot. Dogs bark at night. Birds sing in the morning.\n")
    agent, model = make_agent([act("summarize_text", input_path="notes.txt", sentences=1),
                               act("summarize_text", input_path="notes.txt", sentences=1, output_path="short.txt"),
                               act("finish", answer="wrote short.txt")])
    agent.approver, prompts, screen = approver(workspace, "n", "keep it on screen")
    result = agent.run("summarise notes.txt")

    model.assert_complete()
    assert result.status == "done"
    assert len(prompts) == 2 and "[a]lways for summarize_text" in prompts[0]  # only the call that writes
    assert prompts[1].startswith("Why not?")
    assert not (workspace / "short.txt").exists()


def label(ctx: ToolContext, text: str, out: str = "") -> str:
    """Label a text."""
    return text


def test_writes_with_must_name_a_parameter():
    labeller = tool(writes_with="out")(label)
    assert not labeller.acts({"text": "x", "out": ""}) and labeller.acts({"text": "x", "out": "a.txt"})
    with pytest.raises(TypeError, match="writes_with argument 'output'"):
        tool(writes_with="output")(label)
