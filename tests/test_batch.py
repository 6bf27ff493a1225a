"""`autogpt batch` without Ray: the goals file, workspaces, the relay of a run's writes to the driver's store,
the retry loop that resumes a run whose worker died, results in input order, the command's contract.

The model is scripted (the loop's logic is not what is tested here); the tools, the local sandbox, the run
store and the worker processes are real. Ray's own tests are in test_batch_ray.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from batch_support import (
    check_every_step_once,
    observed_step,
    record,
    runs_show,
    upper_then_finish,
    wait_until,
    write_goals,
    write_json,
)
from mcp_servers import CALC_SERVER
from typer.testing import CliRunner

from agent.batch import Batch, BatchGoal, BatchSettings, goal_run, load_goals
from agent.bench import SuiteError, parse_jsonl
from agent.cli.batch import batch_command
from agent.events import Observation, RunStarted
from agent.scale.executor import Attempt, GoalExecutor, WorkerOptions
from agent.scale.pool import InProcessWorker, PoolError, WorkerLost, WorkerPool
from agent.scale.relay import AttemptEnded, EventRecorded
from agent.scale.runner import CRASHED, GoalRunner
from agent.store import RunStore
from agent.testing import SCRIPTED_MODEL_ENV, act
from sandbox.base import SandboxKind


@pytest.fixture
def scripted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point the workers' model at a replies file written by the test."""
    def use(replies: list) -> Path:
        path = write_json(tmp_path / "replies.json", replies)
        monkeypatch.setenv(SCRIPTED_MODEL_ENV, str(path))
        return path
    return use


def settings(tmp_path: Path, **fields) -> BatchSettings:
    return BatchSettings(workspaces=tmp_path / "workspaces", base_dir=tmp_path, sandbox=SandboxKind.LOCAL,
                         unsafe_local=True, **fields)


# -- the goals file --------------------------------------------------------------------------------------


def test_goal_lines_become_goals_with_optional_workspace_files_and_steps(tmp_path: Path) -> None:
    path = write_goals(tmp_path / "goals.jsonl", [{"id": "a", "goal": "g"},
                                                 {"id": "b", "goal": "g", "workspace": "ws/b",
                                                  "files": {"d/in.txt": "x"}, "max_steps": 3}])
    a, b = load_goals(path)
    assert (a.workspace, a.files, a.max_steps) == (None, {}, None)
    assert (b.workspace, b.files, b.max_steps) == (Path("ws/b"), {"d/in.txt": "x"}, 3)


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "a", "goal": ', "line 2: not valid JSON"),
    ('{"id": "a"}', "line 2: goal: Field required"),
    ('{"id": "a", "goal": "g", "check": "true"}', "line 2: check: Extra inputs"),
    ('{"id": "a", "goal": "g", "max_steps": 0}', "line 2: max_steps:"),
    ('{"id": "a", "goal": "g", "files": {"../x": ""}}', "must be relative"),
    ('{"id": "first", "goal": "g"}', "line 2: duplicate id 'first' (first on line 1)"),
])
def test_a_bad_goal_line_is_reported_with_its_line_number(line: str, message: str) -> None:
    with pytest.raises(SuiteError) as info:
        parse_jsonl(['{"id": "first", "goal": "g"}', line], BatchGoal, "goals.jsonl", noun="goals")
    assert str(info.value).startswith("goals.jsonl line 2: ") and message in str(info.value)


def test_each_goal_gets_its_own_workspace_and_step_limit(tmp_path: Path) -> None:
    goals = [BatchGoal(id="sum/1", goal="g"), BatchGoal(id="b", goal="g", workspace=Path("mine"), max_steps=3),
             BatchGoal(id="c", goal="g", workspace=tmp_path / "abs")]
    runs = [goal_run(goal, i, settings(tmp_path, max_steps=7)) for i, goal in enumerate(goals)]
    assert runs[0].config.workspace == (tmp_path / "workspaces" / "001-sum_1").resolve()
    assert runs[1].config.workspace == (tmp_path / "mine").resolve(), "relative to the goals file's folder"
    assert runs[2].config.workspace == (tmp_path / "abs").resolve()
    assert [r.config.budget.max_steps for r in runs] == [7, 3, 7]
    assert all(r.config.sandbox == "local" and r.config.sandbox_config.unsafe_local for r in runs)


def test_goals_get_the_run_options_of_the_batch(tmp_path: Path) -> None:
    default = goal_run(BatchGoal(id="a", goal="g"), 0, settings(tmp_path)).config
    assert (default.action_format, default.sandbox_config.python_session, default.worked_examples) == (
        "json", True, 2), "what `autogpt run` does without options"
    chosen = goal_run(BatchGoal(id="a", goal="g"), 0, settings(tmp_path, action_format="raw", python_session=False,
                                                               worked_examples=0)).config
    assert (chosen.action_format, chosen.sandbox_config.python_session, chosen.worked_examples) == ("raw", False, 0)


def test_batch_command_records_the_run_options_in_each_run(tmp_path: Path, scripted) -> None:
    scripted(upper_then_finish(1))
    goals = write_goals(tmp_path / "goals.jsonl", [{"id": "one", "goal": "upper", "files": {"in.txt": "a"}}])
    runs = tmp_path / "runs"
    result = invoke([str(goals), "--out", str(tmp_path / "out.jsonl"), "--runs-dir", str(runs), "--sandbox",
                     "local", "--unsafe-local", "--workspaces", str(tmp_path / "ws"), "--no-python-session",
                     "--worked-examples", "0"])
    assert result.exit_code == 0, result.output
    run_id = json.loads((tmp_path / "out.jsonl").read_text())["run_id"]
    config = RunStore(runs).load(run_id).meta["config"]
    assert (config["action_format"], config["sandbox_config"]["python_session"], config["worked_examples"]) == (
        "json", False, 0)


# -- one attempt: the worker's writes reach the driver's store ------------------------------------------


def test_the_driver_store_gets_every_event_as_the_worker_recorded_it(tmp_path: Path, scripted) -> None:
    scripted([act("run_python", code="print(6 * 7)"), act("finish", answer="42")])
    worker = InProcessWorker(WorkerOptions())
    store = RunStore(tmp_path / "runs")
    pool = WorkerPool([worker])
    run = goal_run(BatchGoal(id="a", goal="six times seven", files={"in.txt": "x"}), 0, settings(tmp_path))
    outcome = GoalRunner(pool, store).run(run)
    assert outcome.result.status == "done" and outcome.result.answer == "42" and outcome.retried == 0
    log = store.load(outcome.result.run_id)
    assert isinstance(log.events[0], RunStarted) and log.events[0].goal == "six times seven"
    assert log.meta["goal"] == "six times seven" and log.meta["model"] == "scripted"
    assert log.result is not None and log.result["answer"] == "42"
    assert [o.output for o in log.events if isinstance(o, Observation)] == ["42", "42"]
    assert (run.config.workspace / "in.txt").read_text() == "x", "the fresh workspace has the goal's files"


def test_a_worker_starts_the_mcp_servers_of_the_goal_for_its_attempt(tmp_path: Path, scripted) -> None:
    scripted([act("add", a=2, b=3), act("finish", answer="5")])
    calls = tmp_path / "calls.jsonl"
    config_file = write_json(tmp_path / "mcp.json", {"mcpServers": {"calc": {
        "command": sys.executable, "args": [str(CALC_SERVER)], "env": {"CALC_LOG": str(calls)}}}})
    run = goal_run(BatchGoal(id="sum", goal="add 2 and 3"), 0, settings(tmp_path))
    run = replace(run, config=run.config.model_copy(update={"mcp_config": config_file}))
    store = RunStore(tmp_path / "runs")
    outcome = GoalRunner(WorkerPool([InProcessWorker(WorkerOptions())]), store).run(run)
    assert (outcome.result.status, outcome.result.answer) == ("done", "5"), outcome.result.reason
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [{"tool": "add", "args": {"a": 2, "b": 3}}]
    observed = [o.output for o in store.load(outcome.result.run_id).events if isinstance(o, Observation)]
    assert observed[0].strip() == "5"


def test_a_worker_that_dies_mid_goal_is_recovered_and_the_run_resumes(tmp_path: Path, scripted) -> None:
    scripted([record(1), record(2), record(3), act("finish", answer="1, 2, 3")])
    worker = DiesAfterObservation(WorkerOptions(), step=2)
    store = RunStore(tmp_path / "runs")
    retries: list = []
    runner = GoalRunner(WorkerPool([worker]), store, on_retry=retries.append)
    run = goal_run(BatchGoal(id="r", goal="record"), 0, settings(tmp_path))
    outcome = runner.run(run)
    assert outcome.result.status == "done" and outcome.retried == 1 and worker.recovered == 1
    assert [(r.goal_id, r.resume_step) for r in retries] == [("r", 2)]
    check_every_step_once(store, outcome.result.run_id, steps=4)
    assert (run.config.workspace / "steps.txt").read_text() == "1\n2\n3\n", "no step lost or repeated"
    assert worker.attempts[1].prior is not None and worker.attempts[1].number == 2


def test_a_goal_whose_worker_keeps_dying_ends_crashed_and_stays_resumable(tmp_path: Path, scripted) -> None:
    scripted([record(1), record(2), record(3), act("finish", answer="x")])
    worker = DiesAfterObservation(WorkerOptions(), step=1, times=5)
    store = RunStore(tmp_path / "runs")
    outcome = GoalRunner(WorkerPool([worker]), store, retries=1).run(goal_run(BatchGoal(id="r", goal="g"), 0,
                                                                              settings(tmp_path)))
    assert outcome.result.status == CRASHED and outcome.retried == 1
    assert "the worker died" in outcome.result.reason and "1 retries used" in outcome.result.reason
    log = store.load(outcome.result.run_id)
    assert log.result is None and [o.step for o in log.events if isinstance(o, Observation)] == [1, 2]


def test_a_goal_whose_worker_cannot_be_replaced_says_why(tmp_path: Path, scripted) -> None:
    scripted([record(1), record(2), act("finish", answer="x")])
    worker = DiesAfterObservation(WorkerOptions(), step=1)
    worker.cannot_recover = True
    outcome = GoalRunner(WorkerPool([worker]), RunStore(tmp_path / "runs")).run(
        goal_run(BatchGoal(id="r", goal="g"), 0, settings(tmp_path)))
    assert outcome.result.status == CRASHED and outcome.retried == 0
    assert "no worker could take its place: no model for you" in outcome.result.reason


def test_a_goal_that_cannot_start_is_crashed_and_the_batch_goes_on(tmp_path: Path, scripted) -> None:
    scripted(upper_then_finish(1))
    (tmp_path / "a-file").write_text("not a folder")
    goals = [BatchGoal(id="bad", goal="g", workspace=Path("a-file")),
             BatchGoal(id="good", goal="g", files={"in.txt": "abc"})]
    runner = GoalRunner(WorkerPool([InProcessWorker(WorkerOptions())]), RunStore(tmp_path / "runs"))
    bad, good = Batch(runner, settings(tmp_path)).run(goals)
    assert bad.status == CRASHED and "a-file" in bad.reason and bad.run_id == ""
    assert good.status == "done" and (Path(good.workspace) / "out.txt").read_text() == "ABC"


class DiesAfterObservation:
    """A worker whose process "dies" right after the observation of `step` reached the driver."""

    def __init__(self, options: WorkerOptions, step: int, times: int = 1) -> None:
        self._executor = GoalExecutor(options)
        self.info, self.loads = self._executor.info(), 1
        self.step, self.deaths, self.recovered, self.cannot_recover = step, times, 0, False
        self.attempts: list[Attempt] = []

    def run(self, attempt: Attempt, send) -> AttemptEnded:
        self.attempts.append(attempt)
        messages = self._executor.messages(attempt)
        for message in messages:
            if isinstance(message, AttemptEnded):
                return message
            send(message)
            record = message.record if isinstance(message, EventRecorded) else {}
            if self.deaths and record.get("type") == "observation" and record["step"] >= self.step:
                self.deaths -= 1
                messages.close()
                raise WorkerLost("killed by the test")
        raise AssertionError("no AttemptEnded")

    def recover(self) -> None:
        self.recovered += 1
        if self.cannot_recover:
            raise PoolError("no model for you")

    def close(self) -> None:
        pass


# -- many goals ------------------------------------------------------------------------------------------


def test_worker_processes_run_goals_in_their_workspaces_and_results_keep_input_order(tmp_path: Path,
                                                                                     scripted) -> None:
    scripted(upper_then_finish(4))  # each process has its own copy of the script: up to 4 goals each
    from agent.scale.pool import open_local_pool

    goals = [BatchGoal(id=f"g{i}", goal="upper", files={"in.txt": f"text {i}"}) for i in range(4)]
    pool = open_local_pool(2, WorkerOptions())
    try:
        store = RunStore(tmp_path / "runs")
        finished: list[str] = []
        results = Batch(GoalRunner(pool, store), settings(tmp_path),
                        on_result=lambda r: finished.append(r.id)).run(goals)
    finally:
        pool.close()
    assert [r.id for r in results] == ["g0", "g1", "g2", "g3"] and sorted(finished) == ["g0", "g1", "g2", "g3"]
    assert all(r.status == "done" and r.steps == 2 for r in results)
    assert len({r.worker for r in results}) == 2, "both worker processes took goals"
    assert pool.loads == 2, "the model was loaded once per worker, not once per goal"
    for i, r in enumerate(results):
        assert (Path(r.workspace) / "out.txt").read_text() == f"TEXT {i}"
        assert store.load(r.run_id).meta["goal"] == "upper"


def test_batch_command_writes_results_in_input_order_and_every_run_is_in_the_store(tmp_path: Path,
                                                                                    scripted) -> None:
    scripted(upper_then_finish(3))
    goals = write_goals(tmp_path / "goals.jsonl", [
        {"id": "one", "goal": "upper", "files": {"in.txt": "a"}},
        {"id": "two", "goal": "upper", "files": {"in.txt": "b"}, "workspace": "given"},
        {"id": "three", "goal": "upper", "files": {"in.txt": "c"}, "max_steps": 5}])
    out = tmp_path / "results" / "results.jsonl"
    runs = tmp_path / "runs"
    result = invoke([str(goals), "--out", str(out), "--runs-dir", str(runs), "--sandbox", "local",
                     "--unsafe-local", "--workspaces", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["one", "two", "three"]
    for r in lines:
        assert set(r) >= {"id", "run_id", "status", "answer", "steps", "seconds", "retried"}
        assert (r["status"], r["answer"], r["steps"], r["retried"]) == ("done", "written", 2, 0)
        shown = runs_show(runs, r["run_id"])
        assert shown["status"] == "done" and shown["goal"] == "upper"
    assert (tmp_path / "given" / "out.txt").read_text() == "B"
    assert "3 goals: 3 done; nothing retried" in result.output
    assert "done one" in result.output and "3/3" in result.output


def test_without_out_the_results_go_to_stdout_as_jsonl(tmp_path: Path, scripted) -> None:
    scripted(upper_then_finish(1))
    goals = write_goals(tmp_path / "goals.jsonl", [{"id": "only", "goal": "upper", "files": {"in.txt": "z"}}])
    command = [sys.executable, "-m", "agent.cli", "batch", str(goals), "--runs-dir", str(tmp_path / "runs"),
               "--sandbox", "local", "--unsafe-local", "--workspaces", str(tmp_path / "ws")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["only"]
    assert "1 goals: 1 done" in done.stderr


@pytest.mark.parametrize(("argv", "message"), [
    (["GOALS"], "goals.jsonl line 2: duplicate id 'a'"),
    (["missing.jsonl"], "cannot read goals file"),
    (["GOALS", "--worker-cpus", "2"], "--worker-cpus and --worker-memory are for Ray actors"),
    (["GOALS", "--ray", "--worker-memory", "lots"], "--worker-memory: 'lots' is not a size"),
    (["GOALS", "--adapter", "no-such-folder"], "adapter no-such-folder is not a directory"),
])
def test_bad_input_is_one_clear_message_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    goals = tmp_path / "goals.jsonl"
    goals.write_text('{"id": "a", "goal": "g"}\n{"id": "a", "goal": "h"}\n' if argv[0] == "GOALS" else "")
    if {"--worker-cpus", "--worker-memory", "--adapter"} & set(argv):
        goals.write_text('{"id": "a", "goal": "g"}\n')
    argv = [str(goals) if a == "GOALS" else str(tmp_path / a) if a.endswith(".jsonl") else a for a in argv]
    result = invoke([*argv, "--sandbox", "local", "--unsafe-local"])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_without_ray_nothing_of_ray_is_imported(tmp_path: Path, scripted) -> None:
    replies = scripted(upper_then_finish(2))
    goals = write_goals(tmp_path / "goals.jsonl", [{"id": f"g{i}", "goal": "upper", "files": {"in.txt": "q"}}
                                                  for i in range(2)])
    program = ("import sys\nfrom agent.cli import app\n"
               f"sys.argv = ['autogpt', 'batch', {str(goals)!r}, '--workers', '2', '--sandbox', 'local',\n"
               f"            '--unsafe-local', '--runs-dir', {str(tmp_path / 'runs')!r},\n"
               f"            '--workspaces', {str(tmp_path / 'ws')!r}]\n"
               "try:\n    app()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
               "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray was imported'\n"
               "print('no ray')\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=180,
                          env={**os.environ, SCRIPTED_MODEL_ENV: str(replies)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no ray" in done.stdout and "2 goals: 2 done" in done.stderr


def invoke(argv: list[str]):
    app = typer.Typer()
    app.command()(batch_command)
    return CliRunner().invoke(app, argv)


def test_a_killed_worker_process_is_replaced_and_its_goal_resumes(tmp_path: Path, scripted) -> None:
    """SIGKILL both worker processes while their models "think" about step 2: each goal goes on in a fresh
    process, from its recorded events; every step once, the workspace written once per step."""
    import signal
    import threading

    from agent.scale.pool import open_local_pool

    replies = scripted([record(1), {"delay_s": 60, "reply": record(2)}, act("finish", answer="1, 2")])
    pool = open_local_pool(2, WorkerOptions())
    store = RunStore(tmp_path / "runs")
    goals = [BatchGoal(id=f"k{i}", goal="record") for i in range(2)]
    results: list = []
    batch = Batch(GoalRunner(pool, store), settings(tmp_path))
    thread = threading.Thread(target=lambda: results.extend(batch.run(goals)))
    thread.start()
    try:
        wait_until(lambda: len(observed_step(store, 1)()) == 2, 60, "step 1 of both goals")
        write_json(replies, [record(2), act("finish", answer="1, 2")])  # what the new processes will load
        for worker in pool.workers:
            os.kill(worker.info.pid, signal.SIGKILL)
        thread.join(timeout=120)
    finally:
        pool.close()
    assert not thread.is_alive()
    assert [(r.id, r.status, r.retried) for r in results] == [("k0", "done", 1), ("k1", "done", 1)]
    assert pool.loads == 4
    for r in results:
        check_every_step_once(store, r.run_id, steps=3)
        assert (Path(r.workspace) / "steps.txt").read_text() == "1\n2\n"


def test_ctrl_c_keeps_the_results_so_far_and_the_unfinished_run_resumes(tmp_path: Path, scripted) -> None:
    import signal

    from batch_support import AUTOGPT, UPPER

    replies = scripted([*upper_then_finish(1), act("run_python", code=UPPER),
                        {"delay_s": 60, "reply": act("finish", answer="late")}])
    goals = write_goals(tmp_path / "goals.jsonl", [{"id": name, "goal": "upper", "files": {"in.txt": name}}
                                                  for name in ("first", "second")])
    out, runs = tmp_path / "results.jsonl", tmp_path / "runs"
    env = {**os.environ, SCRIPTED_MODEL_ENV: str(replies)}
    proc = subprocess.Popen([AUTOGPT, "batch", str(goals), "--out", str(out), "--runs-dir", str(runs), "--sandbox",
                             "local", "--unsafe-local", "--workspaces", str(tmp_path / "ws")], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = RunStore(runs)
    wait_until(lambda: out.is_file() and out.read_text(), 60, "the first goal's result")
    second = wait_until(lambda: [r for r in observed_step(store, 1)() if store.load(r).result is None], 60,
                        "the second goal's first step")[0]
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["first"]
    assert "interrupted: 1 of 2 goals ran" in " ".join(stderr.split()) and "Traceback" not in stderr
    resume_replies = write_json(tmp_path / "resume.json", [act("finish", answer="resumed")])
    resumed = subprocess.run([AUTOGPT, "resume", second, "--runs-dir", str(runs)], capture_output=True, text=True,
                             env={**env, SCRIPTED_MODEL_ENV: str(resume_replies)}, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    check_every_step_once(store, second, steps=2)
