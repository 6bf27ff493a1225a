"""Helpers shared by the batch test modules: goals files, scripted replies, and the event-log checks that
say a run was neither cut short nor repeated."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.events import ActionChosen, Observation, RunFinished
from agent.store import RunStore
from agent.testing import act

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"
UPPER = "open('out.txt', 'w').write(open('in.txt').read().upper()); print('written')"


def record(n: int) -> dict[str, Any]:
    """A step that appends `n` to steps.txt: run twice, it shows twice."""
    return act("run_python", code=f"open('steps.txt', 'a').write('{n}\\n'); print('recorded {n}')")


def upper_then_finish(goals: int) -> list[dict[str, Any]]:
    """Replies for `goals` goals in a row on one model: write out.txt from in.txt, then finish."""
    return [act("run_python", code=UPPER), act("finish", answer="written")] * goals


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_goals(path: Path, goals: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(g) + "\n" for g in goals), encoding="utf-8")
    return path


def check_every_step_once(store: RunStore, run_id: str, steps: int) -> list[Observation]:
    """The run's log has actions and observations 1..steps, each once and in order, and ends done."""
    log = store.load(run_id)
    assert not log.torn_tail
    assert [e.step for e in log.events if isinstance(e, ActionChosen)] == list(range(1, steps + 1))
    observations = [e for e in log.events if isinstance(e, Observation)]
    assert [o.step for o in observations] == list(range(1, steps + 1))
    assert isinstance(log.events[-1], RunFinished) and log.events[-1].status == "done"
    assert log.timestamps == sorted(log.timestamps), "events keep the order and times they happened in"
    return observations


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def observed_step(store: RunStore, step: int) -> Callable[[], list[str]]:
    """Run ids in `store` whose log has the observation of `step`."""
    def runs() -> list[str]:
        found = []
        for run_id in store.list_ids():
            try:
                events = store.load(run_id).events
            except (ValueError, FileNotFoundError):
                continue
            if any(isinstance(e, Observation) and e.step == step for e in events):
                found.append(run_id)
        return found
    return runs


def runs_show(runs_dir: Path, run_id: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    shown = subprocess.run([AUTOGPT, "runs", "show", run_id, "--json", "--runs-dir", str(runs_dir)],
                           capture_output=True, text=True, check=True, env=env)
    return json.loads(shown.stdout)
