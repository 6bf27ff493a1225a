"""A real `autogpt run` process killed with SIGKILL, then `autogpt resume`: every step once, in order.

Both processes are the real CLI with a scripted model (AUTOGPT_SCRIPTED_MODEL); the tools run for real in
the local sandbox, so "not repeated" is checked on the files the calls wrote, not only in the log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.events import ActionChosen, Observation, RunFinished
from agent.store import EVENTS_FILE, RunStore, read_records
from agent.testing import SCRIPTED_MODEL_ENV, act

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"
RECORD = "open('steps.txt', 'a').write('{n}\\n')"


class Runs:
    """A workspace and runs folder, and the real CLI run over them with a given script of replies."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp, self.workspace, self.runs = tmp_path, tmp_path / "ws", tmp_path / "runs"
        self.workspace.mkdir()
        self.store = RunStore(self.runs)

    def start(self, replies: list[Any], *argv: str) -> subprocess.Popen[str]:
        script = self.tmp / f"replies-{len(list(self.tmp.glob('replies-*')))}.json"
        script.write_text(json.dumps(replies))
        env = {**os.environ, SCRIPTED_MODEL_ENV: str(script), "AUTOGPT_HOME": str(self.tmp / "home")}
        return subprocess.Popen([AUTOGPT, *argv, "--runs-dir", str(self.runs)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.tmp)

    def run(self, replies: list[Any], goal: str) -> subprocess.Popen[str]:
        return self.start(replies, "run", goal, "--workspace", str(self.workspace), "--sandbox", "local",
                          "--unsafe-local", "--no-plan")

    def wait_for(self, proc: subprocess.Popen[str], seen: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 30.0) -> str:
        """Poll the run's event log until `seen(records)`; returns the run id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for folder in self.runs.glob("*"):
                records, _ = read_records(folder / EVENTS_FILE)
                if seen(records):
                    return folder.name
            if proc.poll() is not None:
                raise AssertionError(f"the run ended ({proc.returncode}) first:\n{proc.stdout.read()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        raise AssertionError("the run never got there")


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def has(kind: str, step: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda records: any(r["type"] == kind and r["step"] == step for r in records)


def resumed(runs: Runs, run_id: str, replies: list[Any]) -> str:
    proc = runs.start(replies, "resume", run_id)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def check_every_step_once(runs: Runs, run_id: str, steps: int) -> list[Observation]:
    log = runs.store.load(run_id)
    assert not log.torn_tail
    assert [e.step for e in log.events if isinstance(e, ActionChosen)] == list(range(1, steps + 1))
    observations = [e for e in log.events if isinstance(e, Observation)]
    assert [o.step for o in observations] == list(range(1, steps + 1))
    assert isinstance(log.events[-1], RunFinished) and log.events[-1].status == "done"
    show = subprocess.run([AUTOGPT, "runs", "show", run_id, "--json", "--runs-dir", str(runs.runs)],
                          capture_output=True, text=True, check=True)
    assert json.loads(show.stdout)["status"] == "done"
    return observations


@pytest.fixture
def runs(tmp_path: Path) -> Runs:
    return Runs(tmp_path)


def test_killed_during_a_tool_call_resumes_without_repeating_it(runs):
    slow = RECORD.format(n=2) + "\nimport time\ntime.sleep(30)"
    proc = runs.run([act("run_python", code=RECORD.format(n=1)), act("run_python", code=slow)], "record")
    run_id = runs.wait_for(proc, has("action", 2))
    deadline = time.monotonic() + 20
    while "2" not in _read(runs.workspace / "steps.txt") and time.monotonic() < deadline:
        time.sleep(0.05)  # the call has started (and written) before the kill
    kill(proc)

    out = resumed(runs, run_id, [act("read_file", path="steps.txt"), act("finish", answer="recorded 1, 2")])

    assert "recorded 1, 2" in out
    observations = check_every_step_once(runs, run_id, steps=4)
    interrupted = observations[1]
    assert interrupted.interrupted and not interrupted.ok and "interrupted" in interrupted.output
    assert not any(o.interrupted for o in observations[2:])
    assert _read(runs.workspace / "steps.txt") == "1\n2\n"  # the killed call was not run again
    assert observations[2].output == "1\n2\n"


def test_killed_between_steps_resumes_at_the_next_step(runs):
    # the second reply waits for a file nobody writes: the kill lands while the model "thinks"
    replies = [act("run_python", code=RECORD.format(n=1)),
               {"after_file": str(runs.tmp / "never"), "reply": act("run_python", code=RECORD.format(n=2))}]
    proc = runs.run(replies, "record")
    run_id = runs.wait_for(proc, has("observation", 1))
    kill(proc)
    assert runs.store.load(run_id).events[-1].type == "observation"

    resumed(runs, run_id, [act("run_python", code=RECORD.format(n=2)), act("finish", answer="done")])

    observations = check_every_step_once(runs, run_id, steps=3)
    assert not any(o.interrupted for o in observations)
    assert _read(runs.workspace / "steps.txt") == "1\n2\n"


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""
