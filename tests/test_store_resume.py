"""The run store survives torn writes; resume never repeats a recorded or started tool call."""

from __future__ import annotations

import json

import pytest

from agent.errors import SetupError
from agent.events import ActionChosen, Observation, RunFinished
from agent.store import EVENTS_FILE, RunIdError, RunStore
from agent.testing import act


def test_torn_last_line_is_ignored_and_cut_before_appending(tmp_path):
    store = RunStore(tmp_path)
    writer = store.create("r1", {"goal": "g", "config": {}})
    writer.append(Observation(1, "list_dir", "a", True))
    writer.close()
    path = tmp_path / "r1" / EVENTS_FILE
    with open(path, "a") as f:
        f.write('{"step": 2, "tool": "list_d')
    log = store.load("r1")
    assert log.torn_tail and len(log.events) == 1
    writer = store.reopen("r1")
    writer.append(Observation(2, "list_dir", "b", True))
    writer.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_a_string_no_utf8_can_hold_is_logged_escaped_and_reads_back(tmp_path):
    store = RunStore(tmp_path)
    writer = store.create("r1", {"goal": "g \ud816", "config": {}})
    writer.append(Observation(1, "list_dir", "a \ud816 ✓", True))
    writer.close()
    log = store.load("r1")
    assert [e.output for e in log.events] == ["a \ud816 ✓"]


def test_a_damaged_middle_line_is_skipped_reported_by_number_and_never_appended_to(tmp_path):
    store = RunStore(tmp_path)
    writer = store.create("r2", {"goal": "g", "config": {}})
    writer.append(Observation(1, "list_dir", "a", True))
    writer.append(Observation(2, "list_dir", "b", True))
    writer.close()
    path = tmp_path / "r2" / EVENTS_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", '{"type": "x"}', lines[1]]) + "\n")
    log = store.load("r2")
    assert log.damaged and log.problems == ["events.jsonl lines 2, 3 are not a valid event (skipped)"]
    assert [e.output for e in log.events] == ["a", "b"]  # the rest of the run is still there
    with pytest.raises(SetupError, match="lines 2, 3"):
        store.reopen("r2")


def test_a_run_in_progress_holds_its_log_and_cannot_be_removed_or_reopened(tmp_path):
    store = RunStore(tmp_path)
    writer = store.create("r3", {"goal": "g", "config": {}})
    assert store.is_running("r3")
    with pytest.raises(SetupError, match="in progress"):
        store.reopen("r3")
    with pytest.raises(SetupError, match="in progress"):
        store.remove("r3")
    writer.close()
    assert not store.is_running("r3")
    store.remove("r3")
    assert not store.exists("r3") and store.list_ids() == []


def test_an_id_prefix_names_one_run_or_is_refused(tmp_path):
    store = RunStore(tmp_path)
    for run_id in ("20261201-101010-aaaaaa", "20261201-101010-abbbbb", "20261202-090000-cccccc"):
        store.create(run_id, {"goal": "g", "config": {}}).close()
    assert store.resolve("20261202") == "20261202-090000-cccccc"
    assert store.resolve("20261201-101010-ab") == "20261201-101010-abbbbb"
    assert store.resolve("20261201-101010-aaaaaa") == "20261201-101010-aaaaaa"
    with pytest.raises(RunIdError, match="matches 2 runs"):
        store.resolve("20261201")
    for unknown in ("nope", "", "../20261202-090000-cccccc"):
        with pytest.raises(RunIdError, match="no run"):
            store.resolve(unknown)


def _kill_after_action(agent):
    """Drive a run until its second action is recorded, then stop as if the process died."""
    stream = agent.stream("count")
    for event in stream:
        if isinstance(event, ActionChosen) and event.step == 2:
            break
    stream.close()
    return agent.store.list_ids()[0]


def test_resume_reports_the_interrupted_call_and_never_repeats_it(make_agent, workspace, tmp_path):
    append = act("run_python", code="open('log.txt','a').write('1')")
    agent, model = make_agent([append, act("run_python", code="open('log.txt','a').write('2')")])
    run_id = _kill_after_action(agent)
    assert (workspace / "log.txt").read_text() == "1"  # the second call was recorded but never ran

    resumed, model2 = make_agent([act("read_file", path="log.txt"), act("finish", answer="done")])
    events = list(resumed.resume(run_id))
    model2.assert_complete()
    interrupted = events[0]
    assert isinstance(interrupted, Observation) and interrupted.interrupted and interrupted.step == 2
    assert "interrupted" in model2.calls[0].messages[-1].content
    assert (workspace / "log.txt").read_text() == "1"
    log = resumed.store.load(run_id)
    steps = [e.step for e in log.events if isinstance(e, ActionChosen)]
    assert steps == [1, 2, 3, 4]  # every step exactly once, in order
    assert isinstance(log.events[-1], RunFinished) and log.events[-1].status == "done"


def test_resume_continues_with_the_same_history(make_agent):
    agent, _ = make_agent([act("run_python", code="print(41 + 1)"), act("list_dir", path=".")])
    run_id = _kill_after_action(agent)
    resumed, model2 = make_agent([act("finish", answer="42")])
    list(resumed.resume(run_id))
    prompt = "\n".join(m.content for m in model2.calls[0].messages)
    assert "print(41 + 1)" in prompt and "42" in prompt


def test_a_finished_run_cannot_be_resumed(make_agent):
    agent, _ = make_agent([act("run_python", code="print(1)"), act("finish", answer="1")])
    result = agent.run("g")
    again, _ = make_agent([])
    with pytest.raises(SetupError, match="already ended"):
        list(again.resume(result.run_id))
