"""A scripted chat model for deterministic tests of the loop (never a stand-in for the real model's tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.llm.base import ChatMessage, DecodingParams, Generation


@dataclass
class ModelCall:
    messages: list[ChatMessage]
    json_schema: dict[str, Any] | None
    params: DecodingParams


@dataclass
class ScriptedModel:
    """Replies with `outputs` in order (dicts are sent as JSON). `assert_complete()` fails on leftovers."""

    outputs: list[str | dict[str, Any]]
    name: str = "scripted"
    device: str = "cpu"
    context_window: int = 8192
    calls: list[ModelCall] = field(default_factory=list)

    def generate(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                 params: DecodingParams = DecodingParams(),
                 on_text: Callable[[str], None] | None = None) -> Generation:
        if len(self.calls) >= len(self.outputs):
            raise AssertionError(f"the model was called {len(self.calls) + 1} times; only "
                                 f"{len(self.outputs)} replies were scripted")
        self.calls.append(ModelCall(list(messages), json_schema, params))
        reply = self.outputs[len(self.calls) - 1]
        text = reply if isinstance(reply, str) else json.dumps(reply)
        if on_text is not None:
            on_text(text)
        return Generation(text=text, tokens_in=self.count_tokens(messages), tokens_out=max(1, len(text) // 4),
                          prefilled_tokens=self.count_tokens(messages), seconds=0.0, finished=True)

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return sum(len(m.content) for m in messages) // 4 + 4 * len(messages)

    def assert_complete(self) -> None:
        left = len(self.outputs) - len(self.calls)
        assert left == 0, f"{left} scripted replies were never used"


def act(tool: str, thought: str = "", plan_step: int | None = None, **args: Any) -> dict[str, Any]:
    """A scripted action reply."""
    reply: dict[str, Any] = {"thought": thought}
    if plan_step is not None:
        reply["plan_step"] = plan_step
    reply.update(tool=tool, args=args)
    return reply
