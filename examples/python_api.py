"""Embedding the agent in a program: stream a run's events as they happen, with a policy on side effects.

    python examples/python_api.py ["your goal"]

Uses the default local model (loaded once; reuse the Agent for more goals). The run is recorded like a CLI
run: `autogpt runs show RUN_ID` shows it afterwards, and `autogpt resume RUN_ID` continues it if it was
interrupted. For one call without events: `from agent import run; run("goal", workspace=".")`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from agent import Agent, AgentConfig, Budget, load_chat_model
from agent.action import Action
from agent.events import ActionChosen, Observation, PlanUpdated, RunFinished, RunStarted

GOAL = "Compute 2 to the power of 20 with Python and report the number."


def no_shell(action: Action) -> str | None:
    """An approver: asked before each tool with side effects; a string declines the call and says why."""
    if action.tool == "run_shell":
        return "shell commands are not allowed here; use Python"
    return None


def main() -> int:
    goal = sys.argv[1] if len(sys.argv) > 1 else GOAL
    workspace = Path(tempfile.mkdtemp(prefix="autogpt-example-"))
    model = load_chat_model("default")
    print(f"model {model.name} on {model.device}; workspace {workspace}")
    config = AgentConfig(workspace=workspace, budget=Budget(max_steps=6))
    agent = Agent(model, config=config, approver=no_shell)

    for event in agent.stream(goal):
        if isinstance(event, RunStarted):
            print(f"run {event.run_id}: {event.goal}")
        elif isinstance(event, PlanUpdated):
            print("plan:", "; ".join(f"{s.text} ({s.status})" for s in event.steps))
        elif isinstance(event, ActionChosen):
            print(f"step {event.step}: {event.tool} {event.args}")
        elif isinstance(event, Observation):
            print(f"  {'ok' if event.ok else 'failed'}: {event.output.strip()[:200]}")
        elif isinstance(event, RunFinished):
            print(f"{event.status}: {event.answer}")

    result = agent.result  # set once the stream ends: status, answer, steps, tokens, seconds
    assert result is not None
    print(f"{result.steps} steps, {result.tokens_in + result.tokens_out} tokens, {result.seconds:.1f} s")
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
