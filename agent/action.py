"""The step grammar: one JSON schema built from the tool registry, and the parser for what comes back.

A step is `{"thought": str, "tool": <a registered name>, "args": {<that tool's arguments>}}`. The schema is
an anyOf with one branch per tool, so under the grammar the model can only name a real tool and give
arguments of the right types; pydantic then validates what the schema cannot say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agent.errors import InvalidAction
from tools.base import ToolRegistry

THOUGHT_MAX_CHARS = 160


@dataclass(frozen=True)
class Action:
    thought: str
    tool: str
    args: dict[str, Any]
    plan_step: int = 1

    def key(self) -> str:
        return call_key(self.tool, self.args)


def call_key(tool: str, args: dict[str, Any]) -> str:
    """Identity of a call, for repeat detection."""
    return tool + json.dumps(args, sort_keys=True)


def step_schema(registry: ToolRegistry, *, plan_steps: int = 0, exclude: frozenset[str] = frozenset(),
                thoughts: bool = True) -> dict[str, Any]:
    """With a plan, each step also says which plan step (1..plan_steps) it works on."""
    branches = []
    for t in registry:
        if t.name in exclude:
            continue
        properties: dict[str, Any] = {"thought": {"type": "string", "maxLength": THOUGHT_MAX_CHARS}} if thoughts else {}
        if plan_steps:
            properties["plan_step"] = {"enum": list(range(1, plan_steps + 1))}
        properties["tool"] = {"const": t.name}
        properties["args"] = _args_schema(t.args_schema())
        branches.append({
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        })
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _args_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's argument schema, trimmed to what the grammar needs (titles and descriptions go)."""
    props = {name: {k: v for k, v in spec.items() if k not in ("title", "description", "default")}
             for name, spec in schema.get("properties", {}).items()}
    return {"type": "object", "properties": props, "required": schema.get("required", []),
            "additionalProperties": False, **({"$defs": schema["$defs"]} if "$defs" in schema else {})}


def parse_action(text: str, registry: ToolRegistry) -> Action:
    """Turn the model's reply into an Action, or raise InvalidAction with a message the model can act on."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidAction(f"the reply was not complete JSON ({exc.msg}); reply with one JSON object") from None
    if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
        raise InvalidAction('the reply must be an object with "thought", "tool" and "args"')
    name = data["tool"]
    if name not in registry:
        raise InvalidAction(f"there is no tool {name!r}; use one of: {', '.join(registry.names())}")
    args = data.get("args") if isinstance(data.get("args"), dict) else {}
    try:
        validated = registry.get(name).args_model.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidAction(f"invalid arguments for {name}: {problems}") from None
    plan_step = data.get("plan_step", 1)
    return Action(thought=str(data.get("thought", "")), tool=name, args=validated.model_dump(mode="json"),
                  plan_step=plan_step if isinstance(plan_step, int) else 1)


PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"steps": {"type": "array", "items": {"type": "string", "maxLength": 60},
                             "minItems": 1, "maxItems": 4}},
    "required": ["steps"],
    "additionalProperties": False,
}


def parse_plan(text: str) -> list[str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidAction("the plan was not complete JSON") from None
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise InvalidAction('the plan must be {"steps": [...]}')
    return steps
