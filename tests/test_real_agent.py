"""The agent with the real default model: every constrained step parses, and the CLI contract holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.action import step_schema
from agent.action_format import parse_action, step_grammar
from agent.config import AgentConfig
from agent.history import build_messages
from agent.llm.base import DecodingParams
from agent.loop import Agent
from agent.state import RunState

pytestmark = pytest.mark.real_model

GOALS = [
    "What is 2 to the power of 20?",
    "How many lines are in notes.txt?",
    "Write a function add(a, b) in add.py that returns their sum.",
    "List the files in the workspace.",
    "Label the sentiment of every review in reviews.txt.",
]


@pytest.mark.parametrize("action_format", ["raw", "json"])
@pytest.mark.parametrize("goal", GOALS)
def test_a_constrained_step_always_parses_into_a_valid_action(real_model, tmp_path, goal, action_format):
    agent = Agent(real_model, config=AgentConfig(workspace=tmp_path, plan=False, action_format=action_format))
    state = RunState(goal=goal)
    context = agent.prompt_context(state)
    messages = build_messages(context, state, feedback=None, budget_tokens=4096, count=real_model.count_tokens)
    schema = step_schema(agent.tools, thoughts=False) if action_format == "json" else None
    grammar = step_grammar(agent.tools) if action_format == "raw" else None
    for temperature in (0.0, 0.9):
        generation = real_model.generate(messages, json_schema=schema, grammar=grammar,
                                         params=DecodingParams(max_new_tokens=400, temperature=temperature,
                                                               seed=1))
        assert generation.finished, generation.text
        action = parse_action(generation.text, agent.tools)  # raises if the reply is not a valid action
        assert action.tool in agent.tools
        if action_format == "raw" and agent.tools.get(action.tool).body is not None:
            assert context.render(action) == generation.text  # history shows the reply as it was written


def test_cli_run_json_prints_the_contract_and_keeps_a_log(tmp_path):
    workspace, runs = tmp_path / "ws", tmp_path / "runs"
    workspace.mkdir()
    env = {**os.environ, "AUTOGPT_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "What is 2 to the power of 20?", "--workspace", str(workspace),
         "--runs-dir", str(runs), "--max-steps", "4", "--sandbox", "local", "--json"],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("run_id", "status", "answer", "steps", "tokens_in", "tokens_out", "seconds", "model"):
        assert key in result
    assert result["status"] in ("done", "failed", "budget_exhausted")
    assert result["tokens_in"] > 0 and result["tokens_out"] > 0
    attempts = result["attempts"]  # the tuned default makes up to three attempts: two that agree end them
    assert 2 <= len(attempts) <= 3 and 1 <= result["attempt"] <= len(attempts)
    assert all(1 <= a["steps"] <= 4 for a in attempts) and result["steps"] == sum(a["steps"] for a in attempts)
    assert result["run_id"] == attempts[result["attempt"] - 1]["run_id"]
    for attempt in attempts:  # each attempt is a run of its own, with its log
        log = Path(runs, attempt["run_id"], "events.jsonl").read_text().splitlines()
        types = [json.loads(line)["type"] for line in log]
        assert types[0] == "run_started" and types[-1] == "final" and "action" in types
    assert list(workspace.iterdir()) == []  # nothing was written, and the attempts' copies were elsewhere


def test_cli_reports_a_bad_model_path_as_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "x", "--model", str(tmp_path / "nope"),
                           "--workspace", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "cannot use model" in proc.stderr
