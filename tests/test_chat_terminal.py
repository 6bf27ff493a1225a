"""`autogpt chat` driven through a real pseudo-terminal: typed goals, approval answers, /commands, Ctrl-C.

The process is the real CLI; only the model is scripted (AUTOGPT_SCRIPTED_MODEL), so the session is fast
and every reply is known. Ctrl-C is the byte 0x03 typed into the terminal, turned into SIGINT by the tty.
Every Ctrl-C waits for an event first (the process blocked on the terminal, a file the step's code wrote,
the model's text streaming), never for a length of time: a test that guesses how long something takes
fails on a machine that is faster or slower than the guess.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.cli.chat import CONTEXT_HEADER, ChatSession, InterruptGuard
from agent.events import ErrorEvent, Observation, RunFinished, RunStarted
from agent.state import RunState
from agent.store import RunStore
from agent.testing import SCRIPTED_MODEL_ENV, act

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"
# terminal control sequences (CSI, OSC, charset, keypad) and carriage returns: what is left is the text
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]"
                  r"|\x1b[=>78]|\r")
PROMPT = "autogpt> "


class Terminal:
    """A process on a pty: `expect` waits for text in its output (ANSI codes removed), `type` sends keys."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its stdin/stdout/stderr are the pty's slave end, its controlling tty
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        self.pid, self.fd = pid, fd
        self.output = ""
        self.seen = 0
        self.exit_code: int | None = None

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait for `pattern` (a regex) after what the previous expect matched."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            if match := regex.search(self.output, self.seen):
                self.seen = match.end()
                return match
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f"{pattern!r} did not appear; the terminal showed:\n"
                                     f"{self.output[self.seen:][-3000:]}")

    def wait_for_input(self, timeout: float = 30.0) -> None:
        """Wait until the process is blocked reading the terminal (readline's select on stdin, or a read).

        A SIGINT that lands after a prompt is printed but before readline's select() starts waiting is
        only acted on once a line is entered (CPython's readline loop), so Ctrl-C at a prompt waits for this.
        """
        deadline = time.monotonic() + timeout
        while not _blocked_on_stdin(self.pid):
            if time.monotonic() > deadline:
                raise AssertionError(f"the process never waited for input; it showed:\n{self.output[-3000:]}")
            self._read(0.01)

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def line(self, text: str) -> None:
        self.type(text + "\r")

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while self.exit_code is None and time.monotonic() < deadline:
            self._read(0.2)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
        if self.exit_code is None:
            raise AssertionError(f"the session did not exit; it showed:\n{self.output[-3000:]}")
        return self.exit_code

    def close(self) -> None:
        if self.exit_code is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)

    def _read(self, timeout: float) -> bool:
        """Read what is there; False once the process closed the terminal."""
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child is gone
            return False
        self.output += ANSI.sub("", data.decode("utf-8", errors="replace"))
        return bool(data)


def _blocked_on_stdin(pid: int) -> bool:
    """The process's main thread is in select/pselect6 on fd 0 only, or in read(0, ...) (/proc/PID/syscall)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    select_on_stdin = fields[0] in ("23", "270") and fields[1:2] == ["0x1"]  # select / pselect6, nfds 1
    return select_on_stdin or (fields[0] == "0" and fields[1:2] == ["0x0"])


def until(done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        time.sleep(0.01)


def start_chat(tmp_path: Path, replies: list[Any], *extra: str) -> tuple[Terminal, Path, RunStore]:
    workspace, runs = tmp_path / "ws", tmp_path / "runs"
    workspace.mkdir()
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies))
    env = {**os.environ, SCRIPTED_MODEL_ENV: str(script), "TERM": "xterm-256color", "COLUMNS": "160",
           "LINES": "50", "AUTOGPT_HOME": str(tmp_path / "home")}
    argv = [AUTOGPT, "chat", "--workspace", str(workspace), "--runs-dir", str(runs), "--sandbox", "local",
            "--unsafe-local", *extra]
    return Terminal(argv, env, tmp_path), workspace, RunStore(runs)


@pytest.fixture
def chat_session(tmp_path):
    opened: list[Terminal] = []

    def start(replies: list[Any], *extra: str) -> tuple[Terminal, Path, RunStore]:
        term, workspace, store = start_chat(tmp_path, replies, *extra)
        opened.append(term)
        return term, workspace, store

    yield start
    for term in opened:
        term.close()


SESSION = [
    # goal 1: a plan, a write the user refuses (with a reason), the write the model does instead,
    # code the user allows for the whole session, then the answer
    {"steps": ["write the greeting", "compute 6*7"]},
    act("write_file", plan_step=1, path="hello.txt", content="hi\n"),
    act("write_file", plan_step=1, path="greeting.txt", content="hi\n"),
    act("run_python", plan_step=2, code="print(6 * 7)"),
    act("finish", answer="42"),
    # goal 2, a follow-up: run_python is not asked about again
    {"steps": ["double it"]},
    act("run_python", code="print(42 * 2)"),
    act("finish", answer="84"),
    # goal 3, approval off: a write, then a long step the user stops with Ctrl-C
    {"steps": ["note it", "wait"]},
    act("write_file", path="notes.txt", content="84\n"),
    act("run_python", plan_step=2, code="import time\nopen('started.txt', 'w').close()\ntime.sleep(30)"),
]


def test_a_chat_session_in_a_real_terminal(chat_session):
    term, workspace, store = chat_session(SESSION, "--plan")
    term.expect(r"Auto-GPT chat .*approval on")
    term.expect(PROMPT)

    term.line("write a greeting and tell me 6*7")
    term.expect(r"approve\? write_file will create hello\.txt")
    term.expect(r"\+hi")  # the diff against the (missing) file
    term.expect(r"\[e\]dit instruction: ")
    term.line("n")
    term.expect(r"Why not\?")
    term.line("call it greeting.txt")
    term.expect(r"failed The user did not allow this call: call it greeting\.txt")
    term.expect(r"approve\? write_file will create greeting\.txt")  # the model's next action
    term.line("y")
    term.expect(r"ok created greeting\.txt")
    term.expect(r"approve\? run_python will run this Python code:")
    term.expect(r"print\(6 \* 7\)")
    term.line("a")
    term.expect(r"ok 42")
    term.expect(r"answer 42")
    term.expect(PROMPT)

    term.line("/plan")
    term.expect(r"\[x\] 1\. write the greeting +done")
    term.expect(r"\[x\] 2\. compute 6\*7 +done")
    term.line("/help")
    term.expect(r"/approve on\|off")
    term.expect(PROMPT)

    term.line("now double it")
    term.expect(r"step 1 run_python")
    term.expect(r"ok 84")  # no approval prompt: "always" was given for run_python
    term.expect(r"answer 84")
    term.expect(PROMPT)

    term.line("/approve off")
    term.expect(r"approval is off")
    term.line("write it down, then wait")
    term.expect(r"ok created notes\.txt")  # written without asking
    term.expect(r"step 2 run_python")
    until((workspace / "started.txt").exists, "the step's code starting")  # Ctrl-C lands inside the step
    term.type("\x03")
    term.expect(r"stopped at step 2")
    term.expect(PROMPT)

    term.line("/runs")
    term.expect(r"interrupted")
    term.line("/quit")
    assert term.wait() == 0

    assert "approve? run_python" not in term.output.split("now double it", 1)[1]
    assert (workspace / "greeting.txt").read_text() == "hi\n" and not (workspace / "hello.txt").exists()
    assert (workspace / "notes.txt").read_text() == "84\n"
    first, follow_up, stopped = (store.load(i) for i in reversed(store.list_ids()))
    declined = [e for e in first.events if isinstance(e, Observation)][0]
    assert not declined.ok and "call it greeting.txt" in declined.output
    goal = next(e for e in follow_up.events if isinstance(e, RunStarted)).goal
    assert goal.startswith("now double it") and "write a greeting and tell me 6*7" in goal and "42" in goal
    assert stopped.result is None  # stopped mid-step: left resumable, not marked finished


def test_ctrl_c_at_the_prompt_twice_leaves(chat_session):
    term, _, _ = chat_session([])
    term.expect(PROMPT)
    term.wait_for_input()
    term.type("\x03")
    term.expect(r"Ctrl-C again, or /quit, to leave")
    term.expect(PROMPT)
    term.wait_for_input()
    term.type("\x03")
    assert term.wait() == 130


def test_run_with_approve_asks_before_running_code(tmp_path):
    workspace, script = tmp_path / "ws", tmp_path / "replies.json"
    workspace.mkdir()
    script.write_text(json.dumps([act("run_python", code="open('x.txt', 'w').write('1')"),
                                  act("run_python", code="print('fine')"), act("finish", answer="ok")]))
    env = {**os.environ, SCRIPTED_MODEL_ENV: str(script), "COLUMNS": "160", "AUTOGPT_HOME": str(tmp_path)}
    argv = [AUTOGPT, "run", "write x", "--approve", "--no-plan", "--workspace", str(workspace),
            "--sandbox", "local", "--unsafe-local", "--runs-dir", str(tmp_path / "runs")]
    term = Terminal(argv, env, tmp_path)
    try:
        term.expect(r"open\('x\.txt', 'w'\)")
        term.expect(r"\[e\]dit instruction: ")
        term.line("n")
        term.expect(r"Why not\?")
        term.line("do not write files")
        term.expect(r"\[e\]dit instruction: ")
        term.line("y")
        term.expect(r"ok fine")
        term.expect(r"answer ok")
        assert term.wait() == 0
    finally:
        term.close()
    assert not (workspace / "x.txt").exists()


@pytest.mark.real_model
def test_a_chat_with_the_real_model_runs_a_goal_and_ctrl_c_stops_generation(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {k: v for k, v in os.environ.items() if k != SCRIPTED_MODEL_ENV}
    env.update(TERM="xterm-256color", COLUMNS="160", AUTOGPT_HOME=str(tmp_path))
    argv = [AUTOGPT, "chat", "--no-approve", "--max-steps", "2", "--workspace", str(workspace),
            "--sandbox", "local", "--unsafe-local", "--runs-dir", str(tmp_path / "runs")]
    term = Terminal(argv, env, tmp_path)
    try:
        term.expect(r"Auto-GPT chat +model \S+ on (cpu|cuda)", timeout=120)
        term.expect(PROMPT)
        term.line("What is 2 + 3? Use run_python.")
        term.expect(r"\n(done|failed|budget_exhausted)\b", timeout=300)
        term.expect(PROMPT)
        term.line("Now multiply it by 10.")
        # The model's reply streaming into the status line: it is generating now, and the run cannot end
        # before this reply is done, its tool has run and one more reply is decoded (finish is offered only
        # after a tool call worked). Ctrl-C lands inside that.
        term.expect(r"thinking \{", timeout=60)
        term.type("\x03")
        term.expect(r"stopped at step", timeout=60)
        term.expect(PROMPT)
        term.line("/model")
        term.expect(r"model \S+ on (cpu|cuda)")
        term.line("/quit")
        assert term.wait() == 0
    finally:
        term.close()
    store = RunStore(tmp_path / "runs")
    stopped = store.load(store.list_ids()[0])
    assert stopped.result is None and isinstance(stopped.events[-1], ErrorEvent)
    assert stopped.events[-1].kind == "interrupted" and stopped.events[-1].message == "stopped by Ctrl-C"


# -- the session's pure parts ------------------------------------------------------------------------------

def test_a_follow_up_goal_carries_the_earlier_goals_and_answers():
    session = ChatSession()
    assert session.goal_text("count the files") == "count the files"
    for n in range(6):
        state = RunState(final=RunFinished(2, "done", f"answer {n}"))
        session.record(f"goal {n}", state)
    session.record("long one", RunState())  # stopped before it finished
    text = session.goal_text("and now?")
    assert text.startswith("and now?\n") and CONTEXT_HEADER in text
    assert "goal 0" not in text and "- goal 5 (done, answer: answer 5)" in text and "- long one (stopped)" in text


def test_the_second_ctrl_c_before_any_input_is_the_one_that_leaves():
    guard = InterruptGuard()
    assert guard.press() is False and guard.press() is True
    guard.reset()
    assert guard.press() is False
