"""The action formats: what `render_action` writes, `parse_action` reads back unchanged, in both formats,
for code no JSON string would carry safely; and the raw format's grammar, on the real tokenizer, admits
exactly what the writer writes."""

from __future__ import annotations

import json

import pytest

from agent.action import Action
from agent.action_format import body_tool_lines, parse_action, render_action, step_grammar
from agent.config import Budget
from agent.errors import InvalidAction
from agent.events import ActionChosen
from agent.llm.reply_grammar import ReplySyntaxError, fenced, split_reply
from agent.testing import act
from tools.registry import default_tools

TOOLS = default_tools(nlp=False)

HARD_CODE = [
    'print("hello, world")',
    "print(f\"{'a'!r} and {\"b\"}\")",
    'path = "C:\\\\temp\\\\new"\nprint(path, "\\n", r"\\d+")',
    "def f(x):\n\tif x:\n\t\treturn 'tab'\n    \nprint(f(1))",
    'print("héllo wörld ✓ 日本語 🙂")',
    'fence = "```"\nprint(fence + "python")',
    'doc = """\n```python\nprint(1)\n```\n"""\nprint(doc)',
    "````\n```",
    "x = 1\n\n\ny = 2\n",
    "",
    "\n",
    "  indented = True",
    "print('}}\"}')  # braces and quotes",
    "s = '\\x00\\r\\n'\r\nprint(len(s))",
]


@pytest.mark.parametrize("code", HARD_CODE)
@pytest.mark.parametrize("action_format", ["raw", "json"])
def test_code_reads_back_exactly_as_it_was_written(code, action_format):
    action = Action("", "run_python", {"code": code})
    text = render_action(action, TOOLS, action_format)
    assert parse_action(text, TOOLS) == action


@pytest.mark.parametrize("content", HARD_CODE)
def test_file_content_reads_back_exactly_with_its_path_in_the_header(content):
    action = Action("", "write_file", {"path": "notes/a b.md", "content": content})
    text = render_action(action, TOOLS, "raw")
    assert text.startswith('{"tool": "write_file", "args": {"path": "notes/a b.md"}}\n```')
    assert parse_action(text, TOOLS) == action


def test_the_raw_format_writes_code_as_it_is_after_a_small_header():
    action = Action("", "run_python", {"code": 'print("a\\tb")'})
    assert render_action(action, TOOLS) == '{"tool": "run_python"}\n```python\nprint("a\\tb")\n```'
    assert render_action(action, TOOLS, "json") == json.dumps({"tool": "run_python", "args": action.args})
    finish = Action("", "finish", {"answer": "42"})
    assert render_action(finish, TOOLS) == '{"tool": "finish", "args": {"answer": "42"}}'  # no body: JSON


def test_a_body_with_a_line_of_three_backticks_gets_a_longer_fence():
    assert fenced("a\n```\nb", "") == "\n````\na\n```\nb\n````"
    assert fenced("````x", "py").startswith("\n`````py\n")
    assert fenced('s = "```"', "python") == '\n```python\ns = "```"\n```'  # not at a line's start: 3 do


def test_thought_and_plan_step_come_first_in_the_header():
    action = Action("count them", "run_python", {"code": "print(3)"}, plan_step=2)
    text = render_action(action, TOOLS, plan=True, thoughts=True)
    assert text.startswith('{"thought": "count them", "plan_step": 2, "tool": "run_python"}\n```python\n')
    assert parse_action(text, TOOLS) == action


@pytest.mark.parametrize(("reply", "problem"), [
    ('{"tool": "run_python"}\n```python\nprint(1)', "not closed"),
    ('{"tool": "run_python"}\nprint(1)', "not a ``` code block"),
    ('{"tool": "finish", "args": {"answer": "x"}}\n```\ny\n```', "takes no code block"),
    ('{"tool": "run_python", "args": {"code": "1"}}\n```python\n2\n```', "twice"),
    ('{"tool": "run_python"}\n```python\n1\n```\nmore words', "text after"),
    ('{"tool": "run_py', "not complete JSON"),
])
def test_a_broken_reply_gets_a_message_the_model_can_act_on(reply, problem):
    with pytest.raises(InvalidAction, match=problem):
        parse_action(reply, TOOLS)


@pytest.mark.parametrize("reply", [
    '{"tool": "finish", "args": {"answer": "notes/\\ud816.txt"}}',  # sampled at a high temperature
    '{"tool": "run_python"}\n```python\nprint("\ud816")\n```',
    '{"thought": "\\udc00", "tool": "finish", "args": {"answer": "x"}}',
])
def test_a_reply_with_half_a_surrogate_pair_is_refused_with_a_message(reply):
    with pytest.raises(InvalidAction, match="half of a UTF-16 pair"):
        parse_action(reply, TOOLS)


def test_both_formats_are_read_whatever_the_run_uses():
    assert parse_action('{"tool": "run_python", "args": {"code": "print(1)"}}', TOOLS).args == {"code": "print(1)"}
    spaced = '  {"tool": "run_python"}\n\n```python\nprint(1)\n```\n'
    assert parse_action(spaced, TOOLS).args == {"code": "print(1)"}


def test_split_reply_gives_the_header_the_body_and_its_language():
    reply = split_reply('{"tool": "x"}\n```sh\nls -l\n```')
    assert (reply.header, reply.body, reply.language) == ({"tool": "x"}, "ls -l", "sh")
    assert split_reply('{"a": 1}').body is None
    with pytest.raises(ReplySyntaxError):
        split_reply("no json")


def test_the_grammar_has_a_block_form_for_each_tool_with_a_body():
    grammar = step_grammar(TOOLS, exclude=frozenset({"finish"}))
    forms = {f.schema["properties"]["tool"]["const"]: f for f in grammar.forms}
    assert set(forms) == set(TOOLS.names()) - {"finish"}
    assert forms["run_python"].body_language == "python" and "args" not in forms["run_python"].schema["properties"]
    assert forms["write_file"].schema["properties"]["args"]["required"] == ["path"]
    assert forms["read_file"].body_language is None and "args" in forms["read_file"].schema["properties"]
    lines = {line["name"]: line for line in body_tool_lines(TOOLS, "raw")}
    assert lines["write_file"]["header"] == '{"tool": "write_file", "args": {"path": "..."}}'
    assert body_tool_lines(TOOLS, "json") == []


# -- through the real grammar, on the real tokenizer ---------------------------------------------------


def admitted(model, grammar, text: str) -> bool:
    """Whether the compiled grammar accepts `text` (as the tokenizer splits it) as a complete reply."""
    matcher = model.grammar.matcher(grammar)
    return all(matcher.accept_token(t) for t in model.tokenizer.encode(text).ids) and matcher.is_completed()


@pytest.mark.real_model
@pytest.mark.parametrize("code", HARD_CODE)
def test_the_real_grammar_admits_any_code_and_it_reads_back_unchanged(real_model, code):
    grammar = step_grammar(TOOLS)
    for action in (Action("", "run_python", {"code": code}),
                   Action("", "write_file", {"path": "a.py", "content": code})):
        text = render_action(action, TOOLS)
        assert admitted(real_model, grammar, text), text
        assert parse_action(text, TOOLS) == action


@pytest.mark.real_model
def test_the_real_grammar_ends_the_block_at_its_fence_and_nowhere_else(real_model):
    grammar = step_grammar(TOOLS)
    assert admitted(real_model, grammar, '{"tool": "finish", "args": {"answer": "x"}}')
    assert not admitted(real_model, grammar, '{"tool": "run_python"}\n```python\nprint(1)')  # open block
    assert not admitted(real_model, grammar, '{"tool": "run_python"}\n```python\nprint(1)\n```\nmore')
    assert not admitted(real_model, grammar, '{"tool": "run_python", "args": {"code": "1"}}')  # not raw
    assert not admitted(real_model, grammar, '{"tool": "read_file", "args": {"path": "a"}}\n```\nx\n```')


def test_every_model_gets_the_json_format_unless_told_otherwise():
    from agent.cli.options import ActionFormatChoice, action_format_for

    assert action_format_for(None, "default") == "json"
    assert action_format_for(ActionFormatChoice.RAW, "default") == "raw"
    assert action_format_for(None, "openai:http://127.0.0.1:8000/v1#m") == "json"
    assert action_format_for(ActionFormatChoice.RAW, "openai:http://127.0.0.1:8000/v1#m") == "raw"


def test_the_string_guard_guards_json_strings_only_until_the_header_ends():
    import torch

    from agent.llm.string_guard import StringGuard

    guard = StringGuard({7: ")}}", 8: "}"})

    def blocked(text: str) -> bool:
        guard.reset()
        guard.feed(text)
        logits = torch.zeros(1, 10)
        guard.apply(logits)
        return bool(logits[0, 7] == float("-inf"))

    assert blocked('{"tool": "finish", "args": {"answer": "f(x')  # inside a JSON string
    assert not blocked('{"tool": "finish", "args": {"answer": "x"')  # between strings
    assert not blocked('{"tool": "run_python"}\n```python\nprint("f(x')  # code after the header is not JSON


# -- the run log -----------------------------------------------------------------------------------------


def logged_actions(agent) -> list[tuple[str, dict]]:
    log = agent.store.load(agent.result.run_id)
    return [(e.tool, e.args) for e in log.events if isinstance(e, ActionChosen)]


CODE = 'text = "a \\"quoted\\" word"\nprint(text.count("o"))'
STEPS = [act("write_file", path="w.txt", content="x"), act("run_python", code=CODE), act("finish", answer="2")]


def test_the_log_holds_actions_the_same_way_in_either_format(make_agent):
    runs = []
    for action_format in ("raw", "json"):
        agent, model = make_agent(STEPS, action_format=action_format)
        agent.run("a goal")
        model.assert_complete()
        runs.append(logged_actions(agent))
    assert runs[0] == runs[1] == [(a["tool"], a["args"]) for a in STEPS]


@pytest.mark.parametrize("recorded", ["json", "before the format was configurable"])
def test_a_recorded_run_resumes_and_shows_its_history_in_its_format(make_agent, recorded):
    first, _ = make_agent(STEPS[:2], action_format="json", budget=Budget(max_steps=2))
    first.run("a goal")  # stopped by its budget after two calls
    log = first.store.load(first.result.run_id)
    meta = log.meta
    if recorded != "json":
        meta["config"].pop("action_format")
    cut = first.store.create("recorded", meta)
    for event in log.events[:-1]:  # all but the final event: the run was interrupted
        cut.append(event)
    cut.close()
    resumed, model = make_agent([act("finish", answer="2")], action_format=meta["config"].get("action_format", "raw"))
    list(resumed.resume("recorded"))
    model.assert_complete()
    last_action = [m.content for m in model.calls[0].messages if m.role == "assistant"][-1]
    if recorded == "json":
        assert last_action == json.dumps({"tool": "run_python", "args": {"code": CODE}})
    else:
        assert last_action == '{"tool": "run_python"}\n```python\n' + CODE + "\n```"


@pytest.mark.real_model
def test_under_the_raw_grammar_the_model_writes_code_that_reads_back_and_steers_off_a_failed_reply(base_model,
                                                                                                    tmp_path):
    real_model = base_model  # the untuned model: the shipped adapter was trained on the JSON format
    from agent.config import AgentConfig
    from agent.history import build_messages
    from agent.llm.base import DecodingParams
    from agent.loop import Agent
    from agent.state import RunState

    agent = Agent(real_model, config=AgentConfig(workspace=tmp_path, action_format="raw"))
    state = RunState(goal='Print the text He said "hi" with Python.')
    messages = build_messages(agent.prompt_context(state), state, feedback=None, budget_tokens=4096,
                              count=real_model.count_tokens)
    grammar = step_grammar(agent.tools, exclude=frozenset({"finish"}))
    first = real_model.generate(messages, grammar=grammar, params=DecodingParams(max_new_tokens=200))
    action = parse_action(first.text, agent.tools)
    assert first.finished and action.tool == "run_python" and '"' in action.args["code"], first.text
    steered = real_model.generate(messages, grammar=grammar,
                                  params=DecodingParams(max_new_tokens=200, avoid=(first.text,)))
    assert steered.finished and steered.text != first.text
    parse_action(steered.text, agent.tools)
