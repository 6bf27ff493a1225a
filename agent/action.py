"""What a step is: the typed Action, its identity, and the JSON schema of the JSON action format.

A JSON step is `{"thought": str, "tool": <a registered name>, "args": {<that tool's arguments>}}`. The schema
is an anyOf with one branch per tool, so under the grammar the model can only name a real tool and give
arguments of the right types; pydantic then validates what the schema cannot say. How actions are written
and read in either format (JSON, or raw code after a JSON header) is agent/action_format.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
    """The JSON format's step schema. With a plan, each step also says which plan step (1..plan_steps) it
    works on."""
    branches = []
    for t in registry:
        if t.name in exclude:
            continue
        properties = header_properties(t.name, plan_steps, thoughts)
        properties["args"] = args_schema(t.args_schema())
        branches.append({
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        })
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def header_properties(tool: str, plan_steps: int, thoughts: bool) -> dict[str, Any]:
    """What comes before a step's arguments: a thought, the plan step, the tool's name (in that order)."""
    properties: dict[str, Any] = {"thought": {"type": "string", "maxLength": THOUGHT_MAX_CHARS}} if thoughts else {}
    if plan_steps:
        properties["plan_step"] = {"enum": list(range(1, plan_steps + 1))}
    properties["tool"] = {"const": tool}
    return properties


def args_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's argument schema, trimmed to what the grammar needs (titles and descriptions go)."""
    props = {name: {k: v for k, v in spec.items() if k not in ("title", "description", "default")}
             for name, spec in schema.get("properties", {}).items()}
    return {"type": "object", "properties": props, "required": schema.get("required", []),
            "additionalProperties": False, **({"$defs": schema["$defs"]} if "$defs" in schema else {})}


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
