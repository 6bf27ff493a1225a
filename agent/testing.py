"""A scripted chat model for deterministic tests of the loop (never a stand-in for the real model's tests)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.llm.base import GREEDY, ChatMessage, DecodingParams, Generation
from agent.llm.reply_grammar import ReplyGrammar, fenced


@dataclass
class ModelCall:
    messages: list[ChatMessage]
    json_schema: dict[str, Any] | None
    params: DecodingParams
    grammar: ReplyGrammar | None = None

    def constraint_json(self) -> str:
        """The schema or grammar the call was constrained by, as JSON text (for tests to look into)."""
        return json.dumps(self.json_schema) if self.grammar is None else self.grammar.key()


@dataclass
class ScriptedModel:
    """Replies with `outputs` in order. `assert_complete()` fails on leftovers. A dict is sent as JSON, or,
    under a reply grammar whose form for its tool has a fenced block, as that form: the JSON header, then
    the argument the header leaves out, raw in the block (the raw action format)."""

    outputs: list[str | dict[str, Any]]
    name: str = "scripted"
    device: str = "cpu"
    context_window: int = 8192
    calls: list[ModelCall] = field(default_factory=list)

    def generate(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                 grammar: ReplyGrammar | None = None, params: DecodingParams = GREEDY,
                 on_text: Callable[[str], None] | None = None) -> Generation:
        if len(self.calls) >= len(self.outputs):
            raise AssertionError(f"the model was called {len(self.calls) + 1} times; only "
                                 f"{len(self.outputs)} replies were scripted")
        self.calls.append(ModelCall(list(messages), json_schema, params, grammar))
        reply = self.outputs[len(self.calls) - 1]
        text = reply if isinstance(reply, str) else reply_text(reply, grammar)
        if on_text is not None:
            on_text(text)
        return Generation(text=text, tokens_in=self.count_tokens(messages), tokens_out=max(1, len(text) // 4),
                          prefilled_tokens=self.count_tokens(messages), seconds=0.0, finished=True)

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return sum(len(m.content) for m in messages) // 4 + 4 * len(messages)

    def assert_complete(self) -> None:
        left = len(self.outputs) - len(self.calls)
        assert left == 0, f"{left} scripted replies were never used"


def reply_text(reply: dict[str, Any], grammar: ReplyGrammar | None) -> str:
    """How the model would write `reply` under `grammar` (plain JSON without one)."""
    args = reply.get("args")
    for form in grammar.forms if grammar is not None and isinstance(args, dict) else ():
        properties = form.schema.get("properties", {})
        if form.body_language is None or properties.get("tool", {}).get("const") != reply.get("tool"):
            continue
        header_args = properties.get("args", {}).get("properties", {})
        body = [k for k in args if k not in header_args]
        if len(body) == 1 and isinstance(args[body[0]], str):
            header = {k: v for k, v in reply.items() if k != "args"}
            if header_args:
                header["args"] = {k: v for k, v in args.items() if k != body[0]}
            return json.dumps(header, ensure_ascii=False) + fenced(args[body[0]], form.body_language)
    return json.dumps(reply)


def act(tool: str, thought: str = "", plan_step: int | None = None, **args: Any) -> dict[str, Any]:
    """A scripted action reply; it has a "thought" only when one is given (thoughts are off by default)."""
    reply: dict[str, Any] = {"thought": thought} if thought else {}
    if plan_step is not None:
        reply["plan_step"] = plan_step
    reply.update(tool=tool, args=args)
    return reply


# -- a scripted model for end-to-end CLI tests ---------------------------------------------------------

SCRIPTED_MODEL_ENV = "AUTOGPT_SCRIPTED_MODEL"


GATE_TIMEOUT_S = 120.0  # a gate file that never appears fails the reply instead of hanging the test


@dataclass
class PacedScriptedModel(ScriptedModel):
    """A ScriptedModel that waits before some replies, like a real model thinking (a kill can land there):
    for a number of seconds, or until a file exists (the test says when, so nothing depends on timing)."""

    delays: dict[int, float] = field(default_factory=dict)  # reply index -> seconds to wait first
    gates: dict[int, Path] = field(default_factory=dict)  # reply index -> file to wait for first

    def generate(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                 grammar: ReplyGrammar | None = None, params: DecodingParams = GREEDY,
                 on_text: Callable[[str], None] | None = None) -> Generation:
        time.sleep(self.delays.get(len(self.calls), 0.0))
        if (gate := self.gates.get(len(self.calls))) is not None:
            deadline = time.monotonic() + GATE_TIMEOUT_S
            while not gate.exists():
                if time.monotonic() > deadline:
                    raise AssertionError(f"{gate} never appeared")
                time.sleep(0.01)
        return super().generate(messages, json_schema=json_schema, grammar=grammar, params=params,
                                on_text=on_text)


def scripted_model_from_env() -> PacedScriptedModel | None:
    """The model a CLI command uses instead of loading one, when $AUTOGPT_SCRIPTED_MODEL names a replies file.

    A test hook for driving the real `autogpt` process (in a pty, or killed and resumed) fast and
    deterministically. The file is a JSON list of replies (strings or JSON objects); an item
    `{"delay_s": 2.5, "reply": ...}` waits that long before replying, `{"after_file": PATH, "reply": ...}`
    until PATH exists.
    """
    path = os.environ.get(SCRIPTED_MODEL_ENV)
    if not path:
        return None
    items = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ValueError(f"{path}: the scripted replies must be a JSON list")
    outputs: list[str | dict[str, Any]] = []
    delays: dict[int, float] = {}
    gates: dict[int, Path] = {}
    for index, item in enumerate(items):
        if isinstance(item, dict) and "reply" in item and ("delay_s" in item or "after_file" in item):
            if "delay_s" in item:
                delays[index] = float(item["delay_s"])
            if "after_file" in item:
                gates[index] = Path(item["after_file"])
            item = item["reply"]
        outputs.append(item)
    return PacedScriptedModel(outputs, delays=delays, gates=gates)
