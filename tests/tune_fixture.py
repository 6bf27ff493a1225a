"""A few short training conversations in the agent's own prompt and action format, for the tuning tests.

Rendered by the agent's functions (`agent.history.build_messages`, `action_json`), not by a copy of them; the
content is made up here (arithmetic and a file write), far from any suite task. The real training data comes
from `agent.tune.dataset`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig
from agent.events import ActionChosen, Observation
from agent.history import PromptContextCache, action_json, build_messages
from agent.state import RunState, Turn
from tools.registry import default_tools


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    train: bool


@dataclass(frozen=True)
class Conversation:
    messages: tuple[Message, ...]


def conversation(goal: str, calls: list[tuple[str, dict, str]], answer: str) -> Conversation:
    """The trajectory of `calls` ((tool, args, observation) each), then finish(answer)."""
    config = AgentConfig(workspace=Path("."))
    tools = default_tools(nlp=False)
    ctx = PromptContextCache().get(tools, config, goal)
    ctx = type(ctx)(ctx.system, goal, False, config.observation_chars, (), False, ())  # no worked examples
    state = RunState(goal=goal)
    for step, (tool, args, output) in enumerate(calls, start=1):
        state.turns.append(Turn(ActionChosen(step, "", tool, args), Observation(step, tool, output, True)))
    prompt = build_messages(ctx, state, feedback=None, budget_tokens=10**6, count=lambda m: 0)
    final = Turn(ActionChosen(len(calls) + 1, "", "finish", {"answer": answer}))
    messages = [Message(m.role, m.content, m.role == "assistant") for m in prompt]
    messages.append(Message("assistant", action_json(final, False, False), True))
    return Conversation(tuple(messages))


def arithmetic(a: int, b: int) -> Conversation:
    code = f"print({a} * {b})"
    return conversation(f"Multiply {a} by {b}.", [("run_python", {"code": code}, f"{a * b}\n")], str(a * b))


PAIRS = [(17, 23), (41, 9), (128, 7), (66, 66), (305, 12), (19, 81), (250, 4), (73, 37), (12, 12), (99, 3)]


def conversations(count: int = 8) -> list[Conversation]:
    return [arithmetic(a, b) for a, b in PAIRS[:count]]


def short_conversations(count: int = 8) -> list[Conversation]:
    """Without the system prompt (~40 tokens each): for tests of training's mechanics on a tiny model."""
    return [Conversation(arithmetic(a, b).messages[1:]) for a, b in PAIRS[:count]]


def write_jsonl(path: Path, items: list[Conversation], split: str = "train") -> Path:
    """The interface's JSONL (`agent.tune.dataset`): one example a line."""
    with path.open("w", encoding="utf-8") as f:
        for i, c in enumerate(items):
            f.write(json.dumps({"id": f"fixture-{i}", "family": "fixture", "split": split,
                                "messages": [m.__dict__ for m in c.messages], "meta": {}}) + "\n")
    return path
