"""Retries that improve: code that does not compile never reaches the sandbox, a rejected call is decoded
again from the same prompt at a low temperature, and the temperature never climbs into noise. Driven by a
scripted model against real tools and a real local sandbox."""

from __future__ import annotations

import pytest

from agent.events import ActionChosen, ErrorEvent, Observation
from agent.strategy import RETRY_TEMPERATURE
from agent.testing import act
from sandbox.base import SandboxConfig
from sandbox.local import LocalSandbox
from tools.python_source import compile_problem

BROKEN = 'print(f"{x")'  # an f-string cut short: the JSON format's typical fault
ALSO_BROKEN = "def f(:\n    pass"


class CountingSandbox(LocalSandbox):
    """The real local sandbox, counting the Python calls that reached it."""

    python_calls: list[str] = []

    def run_python(self, code, *, timeout_s=None):
        CountingSandbox.python_calls.append(code)
        return super().run_python(code, timeout_s=timeout_s)


@pytest.fixture
def counting(make_agent, workspace):
    CountingSandbox.python_calls = []

    def build(outputs, **config):
        agent, model = make_agent(outputs, **config)
        agent.sandbox_factory = lambda: CountingSandbox(workspace, SandboxConfig(unsafe_local=True))
        return agent, model

    return build


def test_code_that_does_not_compile_is_decoded_again_and_never_run(counting):
    agent, model = counting([act("run_python", code=BROKEN), act("run_python", code=ALSO_BROKEN),
                             act("run_python", code="print(6 * 7)"), act("finish", answer="42")])
    events = list(agent.stream("what is 6 * 7?"))
    model.assert_complete()
    rejected = [e for e in events if isinstance(e, ErrorEvent)]
    assert [e.kind for e in rejected] == ["failed_check", "failed_check"]
    assert "SyntaxError" in rejected[0].message and "does not compile" in rejected[0].message
    assert BROKEN in rejected[0].reply  # the reply is logged, for counting what the model wrote
    assert CountingSandbox.python_calls == ["print(6 * 7)"]
    assert [e.step for e in events if isinstance(e, ActionChosen)] == [1, 2]  # the candidates cost no step
    first, second, third = (call.params for call in model.calls[:3])
    assert first.temperature == 0.0 and second.temperature == third.temperature == RETRY_TEMPERATURE
    assert len({first.seed, second.seed, third.seed}) == 3
    assert model.calls[0].messages == model.calls[1].messages == model.calls[2].messages  # the same prompt
    assert agent.result.status == "done" and agent.result.steps == 2


def test_when_no_candidate_compiles_the_model_reads_the_syntax_error_and_nothing_runs(counting):
    agent, model = counting([act("run_python", code=BROKEN), act("run_python", code=ALSO_BROKEN),
                             act("run_python", code=BROKEN), act("run_python", code="print(1)"),
                             act("finish", answer="1")])
    events = list(agent.stream("a goal"))
    model.assert_complete()
    chosen = [e for e in events if isinstance(e, ActionChosen)]
    assert chosen[0].args == {"code": BROKEN} and chosen[0].step == 1  # the first candidate, shown its error
    observation = next(e for e in events if isinstance(e, Observation))
    assert not observation.ok and "f-string: expecting '}'" in observation.output
    assert observation.output.startswith("[the code does not compile, so it was not run]")
    assert CountingSandbox.python_calls == ["print(1)"]
    assert "f-string: expecting '}'" in model.calls[3].messages[-1].content


def test_a_call_that_just_failed_is_sampled_again_from_the_same_prompt(counting):
    broken = act("run_python", code="raise SystemExit(2)")
    agent, model = counting([broken, broken, act("run_python", code="print(2)"), act("finish", answer="2")])
    events = list(agent.stream("a goal"))
    model.assert_complete()
    assert [e.kind for e in events if isinstance(e, ErrorEvent)] == ["unchanged_retry"]
    assert model.calls[1].messages == model.calls[2].messages
    assert model.calls[2].params.seed != model.calls[1].params.seed
    assert CountingSandbox.python_calls == ["raise SystemExit(2)", "print(2)"]


def test_the_temperature_stays_low_however_many_calls_fail(counting):
    failing = [act("run_python", code=f"raise SystemExit({i})") for i in range(1, 6)]
    agent, model = counting([*failing, act("run_python", code="print(0)"), act("finish", answer="0")])
    list(agent.stream("a goal"))
    model.assert_complete()
    temperatures = [call.params.temperature for call in model.calls]
    assert temperatures[0] == 0.0 and set(temperatures[1:6]) == {RETRY_TEMPERATURE}
    assert temperatures[6] == 0.0  # greedy again once a call worked


def test_the_compile_check_is_pythons_own():
    assert compile_problem("print('ok')") is None
    assert compile_problem("x = '\\d'") is None  # a warning, not an error: not ours to refuse
    assert "IndentationError" in compile_problem("def f():\nreturn 1")
    assert "'(' was never closed" in compile_problem("print((1)")
