"""How an action is written on the wire: the one writer, the reader, and the grammar of the raw format.

Two formats (`AgentConfig.action_format`):
- "json": every action is one JSON object, `{"tool": "read_file", "args": {"path": "a.txt"}}`; code and file
  content are escaped inside JSON strings.
- "raw" (the default): the same for tools without a body; a tool that names a body argument (run_python's
  `code`, write_file's `content`: `@tool(body=...)`) is a JSON header without that argument, then the
  argument's text as it is, in a fenced block that the grammar closes:

      {"tool": "write_file", "args": {"path": "a.py"}}
      ```
      print("nothing here is escaped: \\ " ' ```")
      ```

`render_action` is the only writer (history, worked examples and training data all call it); `parse_action`
reads both formats; `step_grammar` builds the raw format's grammar from the tool registry (`step_schema`,
agent/action.py, is the JSON format's). The run log keeps actions as `ActionChosen(tool, args)` either way.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ValidationError

from agent.action import Action, args_schema, header_properties
from agent.errors import InvalidAction
from agent.llm.reply_grammar import ReplyForm, ReplyGrammar, ReplySyntaxError, fenced, split_reply
from tools.base import Tool, ToolRegistry

ActionFormat = Literal["raw", "json"]
DEFAULT_FORMAT: ActionFormat = "raw"


def render_action(action: Action, tools: ToolRegistry, action_format: ActionFormat = DEFAULT_FORMAT, *,
                  plan: bool = False, thoughts: bool = False) -> str:
    """The text of `action` as the model writes it under the grammar (byte for byte)."""
    header: dict[str, Any] = {"thought": action.thought} if thoughts else {}
    if plan:
        header["plan_step"] = action.plan_step
    header["tool"] = action.tool
    body = _raw_body(tools, action.tool) if action_format == "raw" else None
    if body is None or body not in action.args:
        header["args"] = action.args
        return json.dumps(header, ensure_ascii=False)
    tool = tools.get(action.tool)
    if _has_header_args(tool):
        header["args"] = {k: v for k, v in action.args.items() if k != body}
    return json.dumps(header, ensure_ascii=False) + fenced(str(action.args[body]), tool.body_language)


def parse_action(text: str, tools: ToolRegistry) -> Action:
    """The model's reply (either format) as an Action, or InvalidAction with a message the model can act on."""
    try:
        reply = split_reply(text)
    except ReplySyntaxError as exc:
        raise InvalidAction(str(exc)) from None
    data = reply.header
    if (bad := lone_surrogate(data) or lone_surrogate(reply.body)) is not None:
        raise InvalidAction(f"the reply holds {bad!r}, half of a UTF-16 pair, which is no character: write plain text")
    if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
        raise InvalidAction('the reply must start with an object with "tool" and "args"')
    name = data["tool"]
    if name not in tools:
        raise InvalidAction(f"there is no tool {name!r}; use one of: {', '.join(tools.names())}")
    tool = tools.get(name)
    args = data.get("args") if isinstance(data.get("args"), dict) else {}
    if reply.body is not None:
        if tool.body is None:
            raise InvalidAction(f"{name} takes no code block; give all its arguments in the JSON")
        if tool.body in args:
            raise InvalidAction(f"{name} got its {tool.body} twice: in the JSON and in the code block")
        args = {**args, tool.body: reply.body}
    try:
        validated = tool.args_model.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidAction(f"invalid arguments for {name}: {problems}") from None
    plan_step = data.get("plan_step", 1)
    return Action(thought=str(data.get("thought", "")), tool=name, args=validated.model_dump(mode="json"),
                  plan_step=plan_step if isinstance(plan_step, int) else 1)


def lone_surrogate(value: Any) -> str | None:
    """The first unpaired UTF-16 surrogate in `value`'s strings (`"\\ud816"` in JSON decodes to one), or None."""
    if isinstance(value, str):
        return next((c for c in value if "\ud800" <= c <= "\udfff"), None)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        return next((bad for item in value if (bad := lone_surrogate(item)) is not None), None)
    return None


def step_grammar(tools: ToolRegistry, *, plan_steps: int = 0, exclude: frozenset[str] = frozenset(),
                 thoughts: bool = False) -> ReplyGrammar:
    """The raw format's replies: per tool, a JSON object, or a JSON header and its body's fenced block."""
    forms = []
    for tool in tools:
        if tool.name in exclude:
            continue
        properties = header_properties(tool.name, plan_steps, thoughts)
        full = args_schema(tool.args_schema())
        if tool.body is None:
            properties["args"] = full
        elif _has_header_args(tool):
            properties["args"] = {**full, "properties": {k: v for k, v in full["properties"].items()
                                                         if k != tool.body},
                                  "required": [k for k in full["required"] if k != tool.body]}
        schema = {"type": "object", "properties": properties, "required": list(properties),
                  "additionalProperties": False}
        forms.append(ReplyForm(schema, tool.body_language if tool.body is not None else None))
    return ReplyGrammar(tuple(forms))


def body_tool_lines(tools: ToolRegistry, action_format: ActionFormat) -> list[dict[str, str]]:
    """For the system prompt: how each tool with a body is written (none in the JSON format)."""
    if action_format != "raw":
        return []
    lines = []
    for tool in tools:
        if tool.body is None:
            continue
        header: dict[str, Any] = {"tool": tool.name}
        if _has_header_args(tool):
            header["args"] = {k: "..." for k in tool.args_model.model_fields if k != tool.body}
        lines.append({"name": tool.name, "header": json.dumps(header), "body": tool.body,
                      "fence": "```" + tool.body_language})
    return lines


def _raw_body(tools: ToolRegistry, name: str) -> str | None:
    return tools.get(name).body if name in tools else None


def _has_header_args(tool: Tool) -> bool:
    return any(k != tool.body for k in tool.args_model.model_fields)
