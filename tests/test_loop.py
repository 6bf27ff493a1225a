"""The planner loop's logic, driven by a scripted model against real tools and a real local sandbox."""

from __future__ import annotations

from agent.config import Budget
from agent.events import ActionChosen, ErrorEvent, Observation, PlanUpdated, RunFinished
from agent.store import RunStore
from agent.testing import act


def events_of(agent, goal="a goal"):
    return list(agent.stream(goal))


def test_finish_path_runs_code_and_returns_the_answer(make_agent):
    agent, model = make_agent([act("run_python", code="print(2**20)"), act("finish", answer="1048576")])
    events = events_of(agent)
    model.assert_complete()
    observation = next(e for e in events if isinstance(e, Observation))
    assert observation.ok and observation.output == "1048576"
    assert isinstance(events[-1], RunFinished) and events[-1].status == "done"
    assert agent.result.answer == "1048576" and agent.result.steps == 2
    assert agent.result.tokens_in > 0 and agent.result.tokens_out > 0


def test_tool_error_is_fed_back_and_sampling_changes(make_agent):
    agent, model = make_agent([act("read_file", path="missing.txt"), act("list_dir", path="."),
                               act("finish", answer="none")])
    events = events_of(agent)
    model.assert_complete()
    failed = [e for e in events if isinstance(e, Observation) and not e.ok]
    assert failed and "no such file" in failed[0].output
    second_prompt = model.calls[1].messages[-1].content
    assert "no such file: missing.txt" in second_prompt and "failed" in second_prompt
    assert model.calls[0].params.temperature == 0.0
    assert model.calls[1].params.temperature > 0.0
    assert model.calls[2].params.temperature == 0.0  # back to greedy after a call that worked


def test_invalid_output_is_rejected_and_retried_with_feedback(make_agent):
    agent, model = make_agent(['{"thought": "x", "tool": "run_py', {"thought": "", "tool": "nope", "args": {}},
                               act("run_python", code="print(1)"), act("finish", answer="1")])
    events = events_of(agent)
    model.assert_complete()
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert [e.kind for e in errors] == ["invalid_output", "invalid_output"]
    assert "not complete JSON" in errors[0].message and "no tool 'nope'" in errors[1].message
    assert "rejected" in model.calls[1].messages[-1].content
    assert agent.result.status == "done"


def test_invalid_argument_types_are_rejected(make_agent):
    agent, model = make_agent([{"thought": "", "tool": "run_python", "args": {"code": 5}},
                               act("run_python", code="print(1)"), act("finish", answer="1")])
    events = events_of(agent)
    model.assert_complete()
    assert any(isinstance(e, ErrorEvent) and "invalid arguments for run_python" in e.message for e in events)


def test_repeated_action_changes_strategy_then_fails_as_a_loop(make_agent):
    same = act("run_python", code="print('same')")
    agent, model = make_agent([same, same, act("run_python", code="print('other')"), same],
                              loop_strikes=1, decode_attempts=3)
    events = events_of(agent)
    model.assert_complete()
    kinds = [e.kind for e in events if isinstance(e, ErrorEvent)]
    assert kinds[0] == "repeated_action"
    assert "already tried" in [e for e in events if isinstance(e, ErrorEvent)][-1].message
    assert sum(isinstance(e, ActionChosen) for e in events) == 3  # the forbidden repeat never ran
    final = events[-1]
    assert isinstance(final, RunFinished) and final.status == "failed" and "loop" in final.reason


def test_forbidden_action_is_not_executed_again(make_agent, workspace):
    same = act("run_python", code="open('count.txt','a').write('x')")
    agent, model = make_agent([same, same, same, act("finish", answer="ok")], loop_strikes=5)
    events_of(agent)
    model.assert_complete()
    # the second identical call ran (its result was the same), the third was refused before running
    assert (workspace / "count.txt").read_text() == "xx"


def test_step_budget_stops_the_run(make_agent):
    agent, model = make_agent([act("run_python", code=f"print({i})") for i in range(3)],
                              budget=Budget(max_steps=3))
    events = events_of(agent)
    model.assert_complete()
    assert events[-1].status == "budget_exhausted" and "step limit" in events[-1].reason
    assert agent.result.steps == 3


def test_token_budget_stops_the_run(make_agent):
    agent, model = make_agent([act("run_python", code="print(1)")], budget=Budget(max_tokens=50))
    events = events_of(agent)
    model.assert_complete()
    assert events[-1].status == "budget_exhausted" and "token limit" in events[-1].reason


def test_time_budget_stops_the_run(make_agent):
    agent, model = make_agent([act("run_python", code="import time; time.sleep(1.2)")],
                              budget=Budget(max_seconds=1.0))
    events = events_of(agent)
    model.assert_complete()
    assert events[-1].status == "budget_exhausted" and "time limit" in events[-1].reason


def test_workspace_escape_is_refused_and_reported(make_agent, workspace):
    (workspace.parent / "secret.txt").write_text("top secret")
    (workspace / "link.txt").symlink_to(workspace.parent / "secret.txt")
    agent, model = make_agent([act("read_file", path="../secret.txt"), act("read_file", path="/etc/passwd"),
                               act("read_file", path="link.txt"), act("write_file", path="../x.txt", content="x"),
                               act("list_dir", path="."), act("finish", answer="refused")], loop_strikes=9)
    events = events_of(agent)
    model.assert_complete()
    outputs = [e.output for e in events if isinstance(e, Observation)]
    assert all("top secret" not in o for o in outputs)
    assert "outside the workspace" in outputs[0] and "absolute paths" in outputs[1]
    assert "outside the workspace" in outputs[2] and "outside the workspace" in outputs[3]
    assert not (workspace.parent / "x.txt").exists()


def test_finish_is_not_offered_before_a_tool_call_worked(make_agent):
    agent, model = make_agent([act("run_python", code="print(1)"), act("finish", answer="1")])
    events_of(agent)
    first, second = (c.constraint_json() for c in model.calls)
    assert '"const": "finish"' not in first and '"const": "finish"' in second


def test_history_is_compacted_to_fit_the_context(make_agent):
    steps = [act("run_python", code=f"print('{i}' * 400)") for i in range(8)]
    agent, model = make_agent([*steps, act("finish", answer="done")], context_tokens=1200,
                              observation_chars=2000, budget=Budget(max_steps=20))
    events_of(agent)
    model.assert_complete()
    last = model.calls[-1].messages
    text = "\n".join(m.content for m in last)
    assert "Earlier steps (summarised)" in text
    assert model.count_tokens(last) <= 1200 or len(last) <= 30
    assert sum(1 for m in last if m.role == "assistant") < 8 + 4  # old turns were folded into a summary


def test_plan_is_made_first_and_tracked(make_agent):
    agent, model = make_agent([{"steps": ["compute", "answer"]}, act("run_python", plan_step=1, code="print(3)"),
                               act("finish", plan_step=2, answer="3")], plan=True)
    events = events_of(agent)
    model.assert_complete()
    plans = [e for e in events if isinstance(e, PlanUpdated)]
    assert [s.text for s in plans[0].steps] == ["compute", "answer"]
    assert plans[0].steps[0].status == "in_progress"
    assert all(s.status == "done" for s in plans[-1].steps)
    assert '"plan_step"' in model.calls[1].constraint_json()


def test_run_log_records_every_event_as_it_happens(make_agent, tmp_path):
    agent, model = make_agent([act("run_python", code="print(7)"), act("finish", answer="7")])
    events = events_of(agent)
    log = RunStore(tmp_path / "runs").load(agent.result.run_id)
    assert [e.type for e in log.events] == [e.type for e in events]
    assert log.result["status"] == "done" and log.result["answer"] == "7"
    actions = [e for e in log.events if isinstance(e, ActionChosen)]
    assert [a.step for a in actions] == [1, 2]


def test_a_crashing_tool_becomes_an_observation(make_agent):
    from tools.base import tool
    from tools.registry import default_tools

    @tool()
    def explode(ctx, x: int) -> str:
        """Always fails.

        Args:
            x: anything
        """
        raise RuntimeError("boom")

    agent, model = make_agent([act("explode", x=1), act("list_dir", path="."), act("finish", answer="ok")])
    agent.tools = default_tools(nlp=False, extra=[explode])
    events = events_of(agent)
    model.assert_complete()
    crash = next(e for e in events if isinstance(e, Observation))
    assert not crash.ok and "RuntimeError: boom" in crash.output
    assert agent.result.status == "done"


def test_a_failed_call_is_not_rerun_unchanged_right_away(make_agent, workspace):
    broken = act("run_python", code="open('runs.txt','a').write('x'); raise SystemExit(1)")
    agent, model = make_agent([broken, broken, act("write_file", path="fix.txt", content="fixed"), broken,
                               act("finish", answer="ok")], loop_strikes=9)
    events = events_of(agent)
    model.assert_complete()
    assert [e.kind for e in events if isinstance(e, ErrorEvent)][0] == "unchanged_retry"
    # refused right after its failure, allowed again once something else changed in between
    assert (workspace / "runs.txt").read_text() == "xx"


def test_the_decode_after_a_failure_is_told_which_reply_to_steer_away_from(make_agent):
    broken = act("run_python", code="raise SystemExit(3)")
    agent, model = make_agent([broken, act("run_python", code="print(3)"), act("finish", answer="3")])
    events_of(agent)
    model.assert_complete()
    assert model.calls[0].params.avoid == ()
    assert model.calls[1].params.avoid == ('{"tool": "run_python"}\n```python\nraise SystemExit(3)\n```',)
    assert model.calls[2].params.avoid == ()  # the call after it worked: nothing to avoid


def test_a_repeated_successful_call_leaves_its_tool_out_of_the_next_decode(make_agent):
    same = act("run_python", code="print(1)")
    agent, model = make_agent([same, same, act("finish", answer="1")])
    events = events_of(agent)
    model.assert_complete()
    assert events[-1].status == "done" and agent.result.answer == "1"
    schemas = [c.constraint_json() for c in model.calls]
    assert '"const": "run_python"' in schemas[1]
    assert '"const": "run_python"' not in schemas[2] and '"const": "finish"' in schemas[2]


def test_a_bare_expression_shows_its_value(make_agent):
    agent, model = make_agent([act("run_python", code="x = 6\nx * 7"), act("finish", answer="42")])
    events = events_of(agent)
    assert next(e for e in events if isinstance(e, Observation)).output == "42"


def test_actions_carry_a_thought_only_when_configured(make_agent):
    agent, model = make_agent([act("run_python", code="print(1)"), act("finish", answer="1")])
    events_of(agent)
    assert '"thought"' not in model.calls[0].constraint_json()
    assert not any('"thought"' in m.content for m in model.calls[1].messages if m.role == "assistant")
    agent, model = make_agent([act("run_python", thought="compute", code="print(1)"), act("finish", answer="1")],
                              thoughts=True)
    events_of(agent)
    assert '"thought"' in model.calls[0].constraint_json()
    assert '"thought": "compute"' in model.calls[1].messages[-2].content


def test_the_last_message_ends_with_the_observation(make_agent):
    agent, model = make_agent([act("run_python", code="print(1234)"), act("finish", answer="1234")])
    events_of(agent, goal="what is 1234?")
    last = model.calls[1].messages[-1].content
    assert last.startswith("Goal: what is 1234?") and last.rstrip().endswith("1234")


def test_finish_is_sent_back_while_a_file_the_goal_asks_for_is_missing(make_agent, workspace):
    agent, model = make_agent([act("run_python", code="print(6 * 7)"), act("finish", answer="mymath.py has gcd"),
                               act("write_file", path="mymath.py", content="def gcd(a, b):\n    return 1\n"),
                               act("finish", answer="written")], finish_checks=2)
    events = events_of(agent, "Write mymath.py containing gcd(a, b). Read notes.txt first.")
    model.assert_complete()
    sent_back = [e for e in events if isinstance(e, Observation) and e.tool == "finish" and not e.ok]
    assert len(sent_back) == 1 and "mymath.py" in sent_back[0].output and "notes.txt" not in sent_back[0].output
    assert "write mymath.py" in model.calls[2].messages[-1].content  # the model reads why
    offered = [c.constraint_json() for c in model.calls]
    assert '"const": "finish"' not in offered[2] and '"const": "finish"' in offered[3]  # one step without it
    assert agent.result.status == "done" and agent.result.answer == "written"
    assert (workspace / "mymath.py").is_file()


def test_finish_is_sent_back_at_most_finish_checks_times(make_agent):
    agent, model = make_agent([act("run_python", code="print(1)"), act("finish", answer="a"),
                               act("finish", answer="b")], finish_checks=1)
    events = events_of(agent, "Save the result to out.txt.")
    model.assert_complete()
    assert sum(1 for e in events if isinstance(e, Observation) and e.tool == "finish" and not e.ok) == 1
    assert agent.result.status == "done" and agent.result.answer == "b"  # nothing written, but not stuck
    assert agent.result.reason == "the model called finish; not written: out.txt"


def test_files_present_at_the_start_or_not_asked_for_never_hold_up_finish(make_agent, workspace):
    (workspace / "people.csv").write_text("name\nAda\n")
    agent, model = make_agent([act("run_python", code="print(1)"), act("finish", answer="1")], finish_checks=2)
    events_of(agent, "Read people.csv and notes.txt, then convert people.csv. Is there a config.yaml?")
    model.assert_complete()
    assert agent.result.status == "done"
    assert agent.result.reason == "the model called finish"
    agent, model = make_agent([act("run_python", code="print(1)"), act("finish", answer="1")])  # off by default
    events_of(agent, "Write report.json.")
    model.assert_complete()
    assert agent.result.status == "done" and agent.result.reason == "the model called finish; not written: report.json"
