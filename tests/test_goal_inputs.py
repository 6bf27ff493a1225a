"""The goal's inputs are put back when a call changes them, while the goal asks for new files
(agent/goal_inputs.py): which files count, what is put back and how, and what the model is told."""

from __future__ import annotations

import os

import pytest

from agent.events import Observation
from agent.goal_inputs import KeptInputs, goal_inputs
from agent.testing import act


@pytest.mark.parametrize(("goal", "files", "inputs"), [
    ("Read article.txt and write a short summary of it to summary.txt.", ["article.txt"], ("article.txt",)),
    ("Concatenate a.txt, b.txt and c.txt (in that order) into all.txt.", ["a.txt", "b.txt", "c.txt"],
     ("a.txt", "b.txt", "c.txt")),
    ("In stock.json, add 5 to every count and save the result as stock_new.json.", ["stock.json"], ("stock.json",)),
    ("Add a docstring to utils.py and write its tests to test_utils.py.", ["utils.py"], ()),  # asked to change it
    ("Fix words.py so that test_words.py passes.", ["words.py", "test_words.py"], ()),  # no new file asked for
    ("What is the total in sales.csv?", ["sales.csv"], ()),
    ("Read notes.txt and write a summary to summary.txt.", [], ()),  # not there at the start
    ("Label each line of data/in.txt and save the labels to out.csv.", ["data/in.txt"], ("data/in.txt",)),
])
def test_the_files_a_goal_reads_while_it_asks_for_new_ones_are_its_inputs(goal, files, inputs):
    assert goal_inputs(goal, files) == inputs


GOAL = "Read a.txt and b.txt, and write their lines joined to out.txt."


def test_a_changed_or_removed_input_is_put_back_and_the_rest_left_alone(tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    kept = KeptInputs.of(GOAL, tmp_path, ["a.txt", "b.txt"])
    assert kept.asked == ("out.txt",) and kept.restore_changed() == []
    (tmp_path / "a.txt").write_text("overwritten")
    (tmp_path / "b.txt").unlink()
    (tmp_path / "out.txt").write_text("alpha beta\n")
    assert kept.restore_changed() == ["a.txt", "b.txt"]
    assert (tmp_path / "a.txt").read_text() == "alpha\n" and (tmp_path / "b.txt").read_text() == "beta\n"
    assert (tmp_path / "out.txt").read_text() == "alpha beta\n"


def test_putting_back_never_writes_through_a_link_or_outside_the_workspace(tmp_path):
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    (workspace / "data").mkdir(parents=True)
    outside.mkdir()
    (workspace / "a.txt").write_text("alpha\n")
    (workspace / "data" / "in.txt").write_text("rows\n")
    secret = outside / "secret.txt"
    secret.write_text("host file\n")
    kept = KeptInputs.of("Read a.txt and data/in.txt and write out.txt.", workspace, ["a.txt", "data/in.txt"])
    (workspace / "a.txt").unlink()
    os.symlink(secret, workspace / "a.txt")  # the model's code put a link in the input's place
    (workspace / "data" / "in.txt").unlink()
    (workspace / "data").rmdir()
    os.symlink(outside, workspace / "data")  # and a folder of the host in its folder's place
    assert kept.restore_changed() == ["a.txt"]
    assert not (workspace / "a.txt").is_symlink() and (workspace / "a.txt").read_text() == "alpha\n"
    assert secret.read_text() == "host file\n" and not (outside / "in.txt").exists()


def test_a_big_input_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("agent.goal_inputs.MAX_FILE_BYTES", 4)
    (tmp_path / "a.txt").write_text("too long")
    (tmp_path / "b.txt").write_text("ok")
    assert list(KeptInputs.of(GOAL, tmp_path, ["a.txt", "b.txt"]).originals) == ["b.txt"]


def test_the_run_puts_an_overwritten_input_back_and_tells_the_model_where_to_write(make_agent, workspace):
    (workspace / "a.txt").write_text("alpha\n")
    (workspace / "b.txt").write_text("beta\n")
    agent, model = make_agent([
        act("run_python", code="open('a.txt', 'w').write('joined')\nprint('ok')"),
        act("write_file", path="out.txt", content="alpha\nbeta\n"),
        act("finish", answer="wrote out.txt")])
    events = list(agent.stream(GOAL))
    model.assert_complete()
    observations = [e for e in events if isinstance(e, Observation)]
    assert not observations[0].ok and observations[0].output.startswith("ok\n")
    assert "a.txt is an input of the goal" in observations[0].output and "write out.txt" in observations[0].output
    assert "write out.txt" in model.calls[1].messages[-1].content  # the model reads it
    assert observations[1].ok and "input" not in observations[1].output
    assert (workspace / "a.txt").read_text() == "alpha\n" and agent.result.status == "done"


def test_keep_inputs_off_leaves_what_the_model_wrote(make_agent, workspace):
    (workspace / "a.txt").write_text("alpha\n")
    agent, model = make_agent([act("write_file", path="a.txt", content="gone"), act("finish", answer="x")],
                              keep_inputs=False)
    list(agent.stream(GOAL))
    model.assert_complete()
    assert (workspace / "a.txt").read_text() == "gone"


def test_a_run_that_writes_over_its_inputs_a_second_time_fails(make_agent, workspace):
    (workspace / "a.txt").write_text("alpha\n")
    agent, model = make_agent([act("write_file", path="a.txt", content="one"),
                               act("run_python", code="open('a.txt', 'w').write('two')")])
    list(agent.stream(GOAL))
    model.assert_complete()
    assert agent.result.status == "failed" and "kept writing over the goal's inputs" in agent.result.reason
    assert (workspace / "a.txt").read_text() == "alpha\n"
