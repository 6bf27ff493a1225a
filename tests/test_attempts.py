"""Several attempts at one goal (agent/attempts.py): which attempt is kept, how its copy of the workspace
becomes the workspace, and `autogpt run --attempts N` end to end with a scripted model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.attempts import (
    AttemptOutcome,
    Attempts,
    adopt,
    copy_workspace,
    kept_index,
    named_functions,
    normalized_answer,
    outcome_of,
    settled,
)
from agent.config import AgentConfig
from agent.goal_checks import examples, goal_checks, run_checks
from agent.loop import Agent
from agent.result import RunResult
from agent.store import RunStore
from agent.testing import ScriptedModel, act
from sandbox.base import SandboxConfig
from sandbox.local import LocalSandbox
from tests.test_bad_input import Cli, one_error_line

LOCAL = ["--sandbox", "local", "--unsafe-local"]


def outcome(status: str = "done", answer: str = "", missing: tuple[str, ...] = (), broken: tuple[str, ...] = (),
            agreement: str | None = None, failed: int = 0) -> AttemptOutcome:
    result = RunResult("r", status, answer)
    return AttemptOutcome(result, missing, broken, normalized_answer(answer) if agreement is None else agreement,
                          failed)


def test_answers_that_say_the_same_number_agree():
    assert normalized_answer("1048576") == normalized_answer("The answer is 1048576.")
    assert normalized_answer("3.50") == normalized_answer("3.5")
    assert normalized_answer("Paris") == normalized_answer("paris.")
    assert normalized_answer("41") != normalized_answer("42")


def test_the_answer_most_finished_attempts_agree_on_is_kept():
    outcomes = [outcome(answer="41"), outcome(answer="It is 42."), outcome(answer="42")]
    assert kept_index(outcomes) == 1  # two say 42: the earlier of them


def test_an_attempt_that_finished_with_every_asked_file_beats_one_that_did_not():
    outcomes = [outcome(missing=("out.txt",)), outcome("budget_exhausted"), outcome(answer="wrote it")]
    assert kept_index(outcomes) == 2


def test_between_answers_as_often_agreed_on_the_run_with_fewer_failed_calls_is_kept():
    assert kept_index([outcome(answer="1584", failed=1), outcome(answer="479001600")]) == 1
    assert kept_index([outcome(answer="7", failed=2), outcome(answer="7", failed=1), outcome(answer="8")]) == 1


def test_python_that_compiles_beats_python_that_does_not_and_ties_go_to_the_first():
    assert kept_index([outcome(broken=("f.py",), agreement="a"), outcome(agreement="b")]) == 1
    assert kept_index([outcome(answer="x"), outcome(answer="y")]) == 0
    assert kept_index([outcome("failed"), outcome("budget_exhausted")]) == 0
    with pytest.raises(ValueError):
        kept_index([])


def test_attempts_stop_once_the_rest_could_not_change_the_choice():
    assert not settled([], 3)
    assert not settled([outcome(answer="42")], 3)
    assert settled([outcome(answer="42"), outcome(answer="42")], 3)
    assert not settled([outcome(answer="42"), outcome(answer="41")], 3)
    assert not settled([outcome(missing=("a.txt",)), outcome(missing=("a.txt",))], 3)
    assert settled([outcome(answer="41"), outcome(answer="42")], 2)


def test_the_outcome_looks_at_the_files_the_goal_asks_for(tmp_path: Path):
    (tmp_path / "fizz.py").write_text("def fizz(:\n")
    (tmp_path / "empty.txt").write_text("")
    goal = "Write fizz.py with a function fizz(n), and save the log to empty.txt and notes to notes.txt."
    seen = outcome_of(RunResult("r", "done", "done"), tmp_path, goal, [])
    assert seen.missing == ("empty.txt", "notes.txt") and seen.broken_python == ("fizz.py",) and not seen.complete
    (tmp_path / "fizz.py").write_text("def fizz(n):\n    return n\n")
    (tmp_path / "empty.txt").write_text("log")
    (tmp_path / "notes.txt").write_text("notes")
    seen = outcome_of(RunResult("r", "done", "Wrote them."), tmp_path, goal, [])
    assert seen.complete and not seen.broken_python and seen.agreement.startswith("files:")
    other = outcome_of(RunResult("r", "done", "All three files are written."), tmp_path, goal, [])
    assert other.agreement == seen.agreement  # the same files: they agree whatever the answers say


def test_a_python_file_must_define_the_functions_the_goal_names(tmp_path: Path):
    goal = "Write lists.py with a function flatten(items), e.g. flatten([1, [2]]), and pair(a, b) beside it."
    assert named_functions(goal) == ("flatten", "pair")
    (tmp_path / "lists.py").write_text("def flat(items):\n    return items\n\ndef pair(a, b):\n    return a, b\n")
    seen = outcome_of(RunResult("r", "done", "ok"), tmp_path, goal, [])
    assert seen.complete and seen.broken_python == ("flatten()",)
    (tmp_path / "lists.py").write_text("def flatten(items):\n    return items\n\ndef pair(a, b):\n    return a\n")
    assert outcome_of(RunResult("r", "done", "ok"), tmp_path, goal, []).broken_python == ()
    assert named_functions("Compute fib(30) where fib(1) = 1, and 12! (12 factorial).") == ()


def test_adopting_a_copy_writes_changes_and_deletes_what_the_copy_deleted(tmp_path: Path):
    workspace = tmp_path / "ws"
    (workspace / "keep").mkdir(parents=True)
    (workspace / "keep" / "same.txt").write_text("same")
    (workspace / "edit.txt").write_text("old")
    (workspace / "gone.txt").write_text("bye")
    (workspace / "olddir").mkdir()
    (workspace / "olddir" / "x.txt").write_text("x")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "HEAD").write_text("ref")
    copy = copy_workspace(workspace, tmp_path / "attempt")
    assert not (copy / ".git").exists()
    (copy / "edit.txt").write_text("new")
    (copy / "gone.txt").unlink()
    (copy / "olddir" / "x.txt").unlink()
    (copy / "olddir").rmdir()
    (copy / "made" / "deep").mkdir(parents=True)
    (copy / "made" / "deep" / "new.txt").write_text("hi")
    os.symlink("edit.txt", copy / "link")
    changed = adopt(copy, workspace)
    assert (workspace / "edit.txt").read_text() == "new" and (workspace / "keep" / "same.txt").read_text() == "same"
    assert not (workspace / "gone.txt").exists() and not (workspace / "olddir").exists()
    assert (workspace / "made" / "deep" / "new.txt").read_text() == "hi"
    assert (workspace / "link").is_symlink() and os.readlink(workspace / "link") == "edit.txt"
    assert (workspace / ".git" / "HEAD").read_text() == "ref"  # never copied, never touched
    assert set(changed) == {"edit.txt", "gone.txt", "olddir", "olddir/x.txt", "made", "made/deep",
                            "made/deep/new.txt", "link"}
    assert adopt(copy, workspace) == []


def run_attempts(workspace: Path, runs: Path, replies: list, planned: int, goal: str):
    model = ScriptedModel(replies)
    config = AgentConfig(workspace=workspace)
    attempts = Attempts(config, goal, tuple(p.name for p in workspace.iterdir()), planned)
    seen_workspaces = []
    for attempt in attempts:
        seen_workspaces.append(attempt.config.workspace)
        agent = Agent(model, config=attempt.config, store=RunStore(runs), sandbox_factory=lambda w=attempt.config.
                      workspace: LocalSandbox(w, SandboxConfig(unsafe_local=True)))
        agent.run(goal)
        attempts.record(agent.result, agent.store.load(agent.result.run_id).events)
    return attempts.keep(), model, seen_workspaces


def test_each_attempt_works_in_its_own_copy_and_the_kept_one_becomes_the_workspace(tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "data.txt").write_text("3 4")
    replies = [act("read_file", path="data.txt"), act("finish", answer="Wrote sum.txt."),  # says so, did not
               act("write_file", path="sum.txt", content="7"), act("finish", answer="7 is in sum.txt"),
               act("write_file", path="sum.txt", content="8"), act("finish", answer="done")]
    kept, model, copies = run_attempts(workspace, tmp_path / "runs", replies, 3, "Write sum.txt holding the sum.")
    model.assert_complete()
    assert kept.index == 1 and kept.result.answer == "7 is in sum.txt"
    assert (workspace / "sum.txt").read_text() == "7" and kept.changed == ("sum.txt",)
    assert len(set(copies)) == 3 and workspace not in copies and not any(c.exists() for c in copies)
    assert [o.complete for o in kept.outcomes] == [False, True, True]
    assert len(list((tmp_path / "runs").iterdir())) == 3  # every attempt is a recorded run
    assert model.calls[0].params.temperature == 0.0 and model.calls[2].params.temperature == 0.6
    assert model.calls[2].params.seed != model.calls[4].params.seed
    summary = kept.summary()
    assert summary["attempt"] == 2 and summary["steps"] == 6 and len(summary["attempts"]) == 3


def test_attempts_stop_early_when_two_agree(tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    replies = [act("run_python", code="print(6 * 7)"), act("finish", answer="42"),
               act("run_python", code="print(42)"), act("finish", answer="The answer is 42.")]
    kept, model, _ = run_attempts(workspace, tmp_path / "runs", replies, 3, "What is 6 times 7?")
    model.assert_complete()  # no third attempt ran
    assert len(kept.outcomes) == 2 and kept.index == 0 and kept.changed == ()


def test_autogpt_run_attempts_prints_the_kept_run_and_every_attempt(tmp_path: Path):
    cli = Cli(tmp_path)
    replies = [act("list_dir", path="."), act("finish", answer="nothing written"),
               act("write_file", path="out.txt", content="hello"), act("finish", answer="wrote out.txt")]
    result = cli("run", "Write out.txt saying hello.", "--workspace", str(cli.workspace), *LOCAL,
                 "--attempts", "2", "--json", replies=replies)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["attempt"] == 2 and line["answer"] == "wrote out.txt" and line["status"] == "done"
    assert [a["complete"] for a in line["attempts"]] == [False, True]
    assert line["attempts"][0]["missing"] == ["out.txt"] and line["steps"] == 4
    assert (cli.workspace / "out.txt").read_text() == "hello"
    assert "kept attempt 2 of 2" in result.stderr


def test_attempts_refuse_to_go_with_approval(tmp_path: Path):
    cli = Cli(tmp_path)
    result = cli("run", "hi", "--workspace", str(cli.workspace), *LOCAL, "--attempts", "3", "--approve",
                 replies=[])
    one_error_line(result, "--attempts 3", "--approve")


def test_a_run_of_any_model_but_the_tuned_default_makes_one_attempt(tmp_path: Path):
    cli = Cli(tmp_path)
    result = cli("run", "What is 6 times 7?", "--workspace", str(cli.workspace), *LOCAL, "--json",
                 replies=[act("run_python", code="print(6 * 7)"), act("finish", answer="42")])
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["answer"] == "42" and "attempts" not in line  # the scripted model is not the tuned default


# -- the checks a goal states itself ---------------------------------------------------------------------


def test_the_checks_a_goal_states_are_found():
    checks = goal_checks("Fix stats.py so that `python test_stats.py` passes.", ["stats.py", "test_stats.py"])
    assert [c.description for c in checks] == ["python test_stats.py exits 0"]
    assert checks[0].command == ("python3", "test_stats.py") and checks[0].unchanged == "test_stats.py"
    assert goal_checks("Fix stats.py so that test_stats.py passes.", ["stats.py"]) == ()  # no such test file
    quoted = goal_checks("Running `python greet.py` crashes. Fix greet.py.", ["greet.py"])
    assert [c.description for c in quoted] == ["python greet.py exits 0"] and quoted[0].unchanged == ""
    example = goal_checks("Write roman.py with to_roman(n), e.g. to_roman(1994) == 'MCMXCIV'.", [])
    assert [c.description for c in example] == ["to_roman(1994) == 'MCMXCIV'"]
    json_file = goal_checks("Convert people.csv into people.json.", ["people.csv"])
    assert [c.description for c in json_file] == ["people.json is valid JSON"]
    assert goal_checks("What is 2 to the power of 20?", []) == ()


def test_examples_are_calls_on_literals_with_a_literal_value():
    assert examples("e.g. flatten([1, [2, [3]]]) == [1, 2, 3].") == [("flatten([1, [2, [3]]])", "[1, 2, 3]")]
    assert examples("add(2, 3) returns 5, and pair('a') -> ('a', 'a')") == [("add(2, 3)", "5"),
                                                                            ("pair('a')", "('a', 'a')")]
    assert examples("f(x) == 3, and open(name) returns a file") == []  # not literals


def test_goal_checks_run_in_the_sandbox_on_the_attempts_copy(tmp_path: Path):
    original, copy = tmp_path / "original", tmp_path / "copy"
    for folder in (original, copy):
        folder.mkdir()
        (folder / "test_calc.py").write_text("from calc import add\nassert add(2, 3) == 5\n")
    (copy / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (copy / "out.json").write_text("[1, 2")
    goal = "Fix calc.py so test_calc.py passes, and save the totals to out.json; e.g. add(1, 1) == 2."
    checks = goal_checks(goal, ["calc.py", "test_calc.py"])
    assert len(checks) == 2  # no example check: the goal asks for no Python file
    with LocalSandbox(copy, SandboxConfig(unsafe_local=True)) as sandbox:
        assert run_checks(checks, sandbox, original) == (True, False)
        (copy / "test_calc.py").write_text("assert True\n")  # a test the attempt rewrote does not count
        assert run_checks(checks, sandbox, original) == (False, False)


def test_an_attempt_that_passes_the_goals_test_is_kept_and_ends_the_attempts(tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (workspace / "test_calc.py").write_text("from calc import add\nassert add(2, 3) == 5\n")
    goal = "Fix calc.py so that test_calc.py passes."
    fixed = "def add(a, b):\n    return a + b\n"
    replies = [act("write_file", path="calc.py", content="def add(a, b):\n    return a * b\n"),
               act("finish", answer="Fixed."),
               act("write_file", path="calc.py", content=fixed), act("finish", answer="Fixed calc.py.")]
    model = ScriptedModel(replies)
    attempts = Attempts(AgentConfig(workspace=workspace), goal, ("calc.py", "test_calc.py"), 3,
                        sandbox_for=lambda copy: LocalSandbox(copy, SandboxConfig(unsafe_local=True)))
    for attempt in attempts:
        agent = Agent(model, config=attempt.config, store=RunStore(tmp_path / "runs"),
                      sandbox_factory=lambda w=attempt.config.workspace: LocalSandbox(w, SandboxConfig(
                          unsafe_local=True)))
        agent.run(goal)
        attempts.record(agent.result, agent.store.load(agent.result.run_id).events)
    kept = attempts.keep()
    model.assert_complete()  # the second attempt passed the test: no third one ran
    assert [o.checks for o in kept.outcomes] == [(False,), (True,)] and kept.index == 1
    assert (workspace / "calc.py").read_text() == fixed
    assert kept.summary()["attempts"][1]["checks_passed"] == 1


def test_a_runs_temperature_is_the_least_any_decode_samples_at(tmp_path: Path):
    model = ScriptedModel([act("list_dir", path="."), act("finish", answer="empty")])
    config = AgentConfig(workspace=tmp_path, temperature=0.5, seed=7)
    Agent(model, config=config, store=RunStore(tmp_path / "runs")).run("What is here?")
    assert [c.params.temperature for c in model.calls] == [0.5, 0.5]
    assert model.calls[0].params.seed != model.calls[1].params.seed  # seeded per step, from the run's seed


def test_bench_hands_attempts_to_each_tasks_run(tmp_path: Path):
    cli = Cli(tmp_path)
    suite = tmp_path / "suite.jsonl"
    suite.write_text(json.dumps({"id": "out", "goal": "Write out.txt saying hello.", "check": "grep -q hello out.txt"})
                     + "\n")
    replies = [act("list_dir", path="."), act("finish", answer="nothing written"),
               act("write_file", path="out.txt", content="hello"), act("finish", answer="wrote out.txt")]
    report = tmp_path / "report.json"
    result = cli("bench", str(suite), *LOCAL, "--attempts", "2", "--out", str(report), replies=replies)
    assert result.returncode == 0, result.stderr
    task = json.loads(report.read_text())["tasks"][0]
    assert task["passed"] and task["steps"] == 4 and task["answer"] == "wrote out.txt"
    assert len(list(cli.runs.iterdir())) == 2  # both attempts are recorded runs
    refused = cli("bench", str(suite), "--ray", "--attempts", "2", replies=[])
    one_error_line(refused, "--attempts", "--ray")


def test_the_docstring_examples_a_named_file_held_at_the_start_must_hold(tmp_path: Path):
    original, copy = tmp_path / "original", tmp_path / "copy"
    stub = 'def add(a, b):\n    """Add.\n    >>> add(2, 3)\n    5\n    """\n'
    for folder in (original, copy):
        folder.mkdir()
        (folder / "solution.py").write_text(stub)
    goal = "Complete `add` in solution.py so that it does what its docstring says."
    checks = goal_checks(goal, ["solution.py"], original)
    assert [c.description for c in checks] == ["the examples in solution.py's docstrings hold"]
    with LocalSandbox(copy, SandboxConfig(unsafe_local=True)) as sandbox:
        assert run_checks(checks, sandbox, original) == (False,)  # no body yet
        (copy / "solution.py").write_text("def add(a, b):\n    return a + b\n")  # docstring gone: still checked
        assert run_checks(checks, sandbox, original) == (True,)
        (copy / "solution.py").write_text("def add(a, b):\n    return a * b\n")
        assert run_checks(checks, sandbox, original) == (False,)
