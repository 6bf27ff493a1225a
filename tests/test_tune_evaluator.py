"""Base vs tuned through the real `autogpt bench`: arms, one bench process per suite and arm, the table.

The runs are real `autogpt bench` processes (each starting one `autogpt run` per task) on a scripted model
($AUTOGPT_SCRIPTED_MODEL), so the evaluator's plumbing is tested fast; the `real_model` test at the end runs
one held-out task with the real default model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.testing import SCRIPTED_MODEL_ENV
from agent.tune.evaluator import Arm, EvalSettings, EvaluationError, bench_command, evaluate, run_bench_process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "two.jsonl"
    tasks = [{"id": "twelve", "goal": "What is 3 * 4?", "check": "printf '%s' \"$AGENT_ANSWER\" | grep -qw 12",
              "max_steps": 4},
             {"id": "twenty-five", "goal": "What is 5 * 5?",
              "check": "printf '%s' \"$AGENT_ANSWER\" | grep -qw 25", "max_steps": 4}]
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return path


@pytest.fixture
def scripted(tmp_path: Path, monkeypatch) -> None:
    """Every run answers 12: the first task passes, the second fails."""
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([{"tool": "run_python", "args": {"code": "print(3 * 4)"}},
                                   {"tool": "finish", "args": {"answer": "12"}}]))
    monkeypatch.setenv(SCRIPTED_MODEL_ENV, str(replies))
    monkeypatch.setenv("AUTOGPT_HOME", str(tmp_path / "home"))


def test_an_arm_is_a_name_and_bench_options() -> None:
    assert Arm.parse("tuned=--model default --adapter 'my dir'") == Arm("tuned", ("--model", "default",
                                                                                   "--adapter", "my dir"))
    for bad in ("--model base", "=--model base", "a b=--model x"):
        with pytest.raises(ValueError, match="NAME=BENCH_OPTIONS"):
            Arm.parse(bad)


def test_the_bench_command_carries_the_arm_and_the_shared_options(tmp_path: Path) -> None:
    settings = EvalSettings((Path("s.jsonl"),), only="csv-*", limit=3, bench_args=("--sandbox", "local"))
    command = bench_command(Path("s.jsonl"), Arm("base", ("--model", "base")), tmp_path / "r.json", settings)
    assert command[1:5] == ["-m", "agent.cli", "bench", str(Path("s.jsonl").resolve())]  # runs in the root
    assert command[command.index("--out") + 1] == str((tmp_path / "r.json").resolve())
    assert command[-8:] == ["--sandbox", "local", "--model", "base", "--only", "csv-*", "--limit", "3"]


def test_each_arm_runs_the_real_bench_and_the_rows_compare_them(suite: Path, tmp_path: Path, scripted) -> None:
    arms = (Arm("a", ("--model", "default")), Arm("b", ("--model", "default", "--worked-examples", "0")))
    seen = []
    evaluation = evaluate(EvalSettings((suite,), arms, tmp_path / "out", bench_args=("--sandbox", "local")),
                          on_row=seen.append)
    assert [(r.arm, r.passed, r.tasks) for r in evaluation.rows] == [("a", 1, 2), ("b", 1, 2)] == \
           [(r.arm, r.passed, r.tasks) for r in seen]
    assert all(r.median_steps == 2 and r.complete for r in evaluation.rows)
    data = evaluation.to_json()
    assert data["flips"] == {str(suite): {"a only": [], "b only": []}}
    report = json.loads((tmp_path / "out" / "two-b.json").read_text())
    assert [t["id"] for t in report["tasks"] if t["passed"]] == ["twelve"]


def test_side_by_side_arms_run_at_the_same_time(suite: Path, tmp_path: Path, scripted) -> None:
    both_running = threading.Barrier(2, timeout=60)  # broken (an error) if the arms ran one after the other

    def bench(command: list[str], log: Path) -> int:
        both_running.wait()
        return run_bench_process(command, log)

    arms = (Arm("base", ("--model", "default")), Arm("tuned", ("--model", "default")))
    settings = EvalSettings((suite,), arms, tmp_path / "out", bench_args=("--sandbox", "local"), side_by_side=True)
    evaluation = evaluate(settings, run_bench=bench)
    assert [(r.arm, r.passed, r.tasks) for r in evaluation.rows] == [("base", 1, 2), ("tuned", 1, 2)]


def test_a_bench_that_cannot_run_is_one_clear_error(suite: Path, tmp_path: Path, scripted) -> None:
    with pytest.raises(EvaluationError, match=r"arm broken .* exited 2: .*No such option: --no-such-flag"):
        evaluate(EvalSettings((suite,), (Arm("broken", ("--no-such-flag",)),), tmp_path / "out"))


def test_tune_eval_prints_one_table_and_writes_the_evaluation(suite: Path, tmp_path: Path, scripted) -> None:
    out = tmp_path / "eval"
    done = subprocess.run([sys.executable, "-m", "agent.cli", "tune-eval", str(suite), "--arm", "x=--model default",
                           "--arm", "y=--model default", "--out-dir", str(out), "--sandbox", "local"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "held-out evaluation" in done.stdout and "1/2" in done.stdout
    rows = json.loads((out / "evaluation.json").read_text())["rows"]
    assert [(r["arm"], r["passed"]) for r in rows] == [("x", 1), ("y", 1)]
    missing = subprocess.run([sys.executable, "-m", "agent.cli", "tune-eval", str(tmp_path / "nope.jsonl")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such suite file" in missing.stderr


@pytest.mark.real_model
def test_a_held_out_task_runs_through_the_real_bench_and_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOGPT_HOME", str(tmp_path / "home"))
    settings = EvalSettings((ROOT / "examples" / "suites" / "heldout.jsonl",), out_dir=tmp_path / "out",
                            only="compute-*", limit=1, bench_args=("--task-seconds", "300"))
    row = evaluate(settings).rows[0]
    assert (row.arm, row.tasks, row.crashed, row.timed_out) == ("default", 1, 0, 0)
    assert row.median_seconds > 0 and row.median_steps >= 1
