"""Tools from a JSON schema: the schema reaches the step grammar as it is, calls are validated with jsonschema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.action import step_schema
from agent.action_format import parse_action
from agent.errors import InvalidAction
from agent.testing import act
from tools.base import ToolContext, ToolError, ToolRegistry
from tools.registry import default_tools
from tools.schema_tool import inline_refs, schema_tool

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer": {"type": "string", "minLength": 1},
        "items": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1},
                           "unit": {"enum": ["kg", "piece"]}},
            "required": ["sku", "qty"], "additionalProperties": False}},
        "express": {"type": "boolean", "default": False},
        "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                    "required": ["city"]},
    },
    "required": ["customer", "items"],
}


def order_tool(calls: list[dict[str, Any]]):
    def place(args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args)
        return {"placed": sum(item["qty"] for item in args["items"])}

    return schema_tool("place_order", "Place an order.", ORDER_SCHEMA, place)


def test_the_schema_reaches_the_step_grammar_unchanged() -> None:
    branch = step_schema(ToolRegistry([order_tool([])]), thoughts=False)
    args = branch["properties"]["args"]
    assert args["properties"]["items"] == ORDER_SCHEMA["properties"]["items"]  # nested object, enum, bounds
    assert args["properties"]["address"] == ORDER_SCHEMA["properties"]["address"]
    assert args["properties"]["express"] == {"type": "boolean"}  # only the default goes (as for @tool)
    assert args["required"] == ["customer", "items"] and args["additionalProperties"] is False


def test_the_step_grammar_with_schema_tools_compiles() -> None:
    from agent.llm.grammar import import_xgrammar

    xgr = import_xgrammar()
    schema = step_schema(default_tools(extra=[order_tool([])]))
    grammar = xgr.Grammar.from_json_schema(json.dumps(schema))  # raises on anything it cannot compile
    assert "place_order" in str(grammar)


def test_valid_arguments_are_passed_as_given_and_the_result_becomes_text(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    registry = ToolRegistry([order_tool(calls)])
    args = {"customer": "ada", "items": [{"sku": "x1", "qty": 2, "unit": "kg"}, {"sku": "y", "qty": 1}]}
    action = parse_action(json.dumps(act("place_order", **args)), registry)
    assert action.args == args  # no defaults filled in, nothing dropped
    assert registry.call(ToolContext(tmp_path), "place_order", action.args) == ('{"placed": 3}', True)
    assert calls == [args]


def test_invalid_arguments_are_refused_with_where_and_why(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    registry = ToolRegistry([order_tool(calls)])
    bad = {"customer": "", "items": [{"sku": "x", "qty": 0, "unit": "ton"}], "coupon": "FREE"}
    with pytest.raises(InvalidAction) as caught:
        parse_action(json.dumps(act("place_order", **bad)), registry)
    message = str(caught.value)
    for where in ("customer:", "items.0.qty:", "items.0.unit:", "coupon: unexpected argument"):
        assert where in message, message
    output, ok = registry.call(ToolContext(tmp_path), "place_order", bad)
    assert not ok and output.startswith("invalid arguments for place_order:") and calls == []


def test_refs_are_inlined_for_the_grammar_and_recursion_is_cut() -> None:
    schema = {"type": "object", "properties": {"node": {"$ref": "#/$defs/Node"}},
              "$defs": {"Node": {"type": "object", "properties": {"label": {"type": "string"},
                                                                  "child": {"$ref": "#/$defs/Node"}}}}}
    inlined = inline_refs(schema)
    assert "$defs" not in inlined
    node = inlined["properties"]["node"]
    assert node["properties"]["label"] == {"type": "string"} and node["properties"]["child"] == {}
    # A property that happens to be called "definitions" is a property, not a keyword.
    assert inline_refs({"type": "object", "properties": {"definitions": {"type": "string"}}})["properties"] == {
        "definitions": {"type": "string"}}


def test_the_recursive_schema_is_still_enforced_in_full(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"node": {"$ref": "#/$defs/Node"}},
              "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"},
                                                                  "n": {"type": "integer"}}}}}
    registry = ToolRegistry([schema_tool("tree", "A tree.", schema, lambda args: "ok")])
    output, ok = registry.call(ToolContext(tmp_path), "tree", {"node": {"child": {"child": {"n": "deep"}}}})
    assert not ok and "node.child.child.n" in output


@pytest.mark.parametrize("schema, words", [
    ({"type": "object", "properties": {"x": {"type": "float"}}}, "not a valid JSON schema"),
    ({"type": "array", "items": {"type": "string"}}, "must describe an object"),
    ({"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}}, "only local $ref"),
    ({"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}}, "points at nothing"),
])
def test_a_schema_that_cannot_work_is_refused_when_the_tool_is_made(schema: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("$", r"\$")):
        schema_tool("broken", "Broken.", schema, lambda args: "")


def test_the_prompt_shows_types_enums_and_optional_arguments() -> None:
    line = schema_tool("convert", "Convert.", {
        "type": "object",
        "properties": {"value": {"type": "number"}, "to": {"enum": ["c", "f"]},
                       "tags": {"type": "array", "items": {"type": "string"}}, "digits": {"type": "integer",
                                                                                         "default": 2}},
        "required": ["value", "to"]}, lambda args: "").signature_line()
    assert line == 'convert(value: number, to: "c"|"f", tags=None, digits=2)'


def test_a_tool_error_from_the_callable_is_a_failed_observation(tmp_path: Path) -> None:
    def refuse(args: dict[str, Any]) -> str:
        raise ToolError(f"no such city: {args['city']}")

    registry = ToolRegistry([schema_tool("weather", "Weather.", {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, refuse)])
    assert registry.call(ToolContext(tmp_path), "weather", {"city": "Atlantis"}) == ("no such city: Atlantis", False)


def test_a_loop_run_calls_a_schema_tool(make_agent, workspace: Path) -> None:
    calls: list[dict[str, Any]] = []
    agent, model = make_agent([act("place_order", customer="ada", items=[{"sku": "a", "qty": 4}]),
                               act("finish", answer="placed 4")])
    agent.tools = default_tools(extra=[order_tool(calls)])
    result = agent.run("Order 4 of item a for ada.")
    model.assert_complete()
    assert result.status == "done" and calls == [{"customer": "ada", "items": [{"sku": "a", "qty": 4}]}]
    first_schema = model.calls[0].constraint_json()
    assert '"const": "place_order"' in first_schema and '"enum": ["kg", "piece"]' in first_schema
