"""LangChain tools registered as ours, and ours exported as LangChain tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool, ToolException, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, field_validator

from agent.action import step_schema
from agent.action_format import parse_action
from agent.config import AgentConfig
from agent.loop import Agent
from agent.store import RunStore
from agent.testing import ScriptedModel, act
from tools.base import ToolContext, ToolError, ToolRegistry
from tools.files import read_file, write_file
from tools.langchain_adapter import from_langchain, to_langchain
from tools.registry import finish


@tool
def multiply(a: int, b: int = 2) -> int:
    """Multiply two integers.

    Args:
        a: the first factor
        b: the second factor
    """
    return a * b


class CityQuery(BaseModel):
    city: str = Field(description="a city name")
    limit: int = Field(default=3, ge=1, le=10)

    @field_validator("city")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("city must not be blank")
        return value


class WeatherTool(BaseTool):
    name: str = "weather"
    description: str = "Look up the weather forecast for a city."
    args_schema: type[BaseModel] = CityQuery

    def _run(self, city: str, limit: int = 3) -> dict[str, Any]:
        if city == "Atlantis":
            raise ToolException("no station in Atlantis")
        if city == "Crash":
            raise ConnectionError("upstream down")
        return {"city": city, "days": ["sunny"] * limit}


class EchoTool(BaseTool):
    """No args_schema: LangChain infers it from `_run`."""

    name: str = "echo"
    description: str = "Repeat the text."

    def _run(self, text: str) -> str:
        return text


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(tmp_path)


# -- LangChain tools in ------------------------------------------------------------------------------------

def test_a_langchain_function_tool_keeps_its_name_schema_and_summary(ctx: ToolContext) -> None:
    ours = from_langchain(multiply)
    assert (ours.name, ours.description, ours.side_effects) == ("multiply", "Multiply two integers.", True)
    assert ours.signature_line() == "multiply(a: int, b=2)"
    schema = ours.args_model.model_json_schema()
    assert schema["required"] == ["a"] and schema["properties"]["b"]["default"] == 2
    assert ours.invoke(ctx, {"a": 6, "b": 7}) == "42"
    assert ours.invoke(ctx, {"a": 6}) == "12"


def test_bad_arguments_to_a_langchain_tool_are_tool_errors(ctx: ToolContext) -> None:
    ours = from_langchain(multiply)
    with pytest.raises(ToolError, match="a: Input should be a valid integer"):
        ours.invoke(ctx, {"a": "six"})
    with pytest.raises(ToolError, match="c: Extra inputs are not permitted"):
        ours.invoke(ctx, {"a": 1, "c": 2})
    with pytest.raises(ToolError, match="a: Field required"):
        ours.invoke(ctx, {})


def test_a_basetool_subclass_runs_with_its_own_validators_and_errors(ctx: ToolContext) -> None:
    ours = from_langchain(WeatherTool(), side_effects=False)
    assert ours.signature_line() == "weather(city: str, limit=3)" and not ours.side_effects
    forecast = json.loads(ours.invoke(ctx, {"city": "Oslo", "limit": 2}))  # a dict comes back as JSON
    assert forecast == {"city": "Oslo", "days": ["sunny", "sunny"]}
    with pytest.raises(ToolError, match="city must not be blank"):
        ours.invoke(ctx, {"city": "  "})
    with pytest.raises(ToolError, match="limit: Input should be less than or equal to 10"):
        ours.invoke(ctx, {"city": "Oslo", "limit": 11})
    with pytest.raises(ToolError, match="^weather failed: no station in Atlantis$"):
        ours.invoke(ctx, {"city": "Atlantis"})
    with pytest.raises(ToolError, match="weather failed: ConnectionError: upstream down"):
        ours.invoke(ctx, {"city": "Crash"})


def test_schemas_inferred_by_langchain_or_given_as_json_schema_work(ctx: ToolContext) -> None:
    echo = from_langchain(EchoTool(), name="say")
    assert echo.signature_line() == "say(text: str)" and echo.invoke(ctx, {"text": "hi"}) == "hi"

    class Lookup(BaseTool):
        name: str = "lookup"
        description: str = "Look a key up."
        args_schema: dict[str, Any] = {"type": "object", "required": ["key"],
                                       "properties": {"key": {"type": "string"}, "n": {"type": "integer"}}}

        def _run(self, key: str, n: int | None = None) -> str:
            return f"{key}:{n}"

    lookup = from_langchain(Lookup())
    assert lookup.invoke(ctx, {"key": "k"}) == "k:None"
    with pytest.raises(ToolError, match="key: Input should be a valid string"):
        lookup.invoke(ctx, {"key": 3})


def test_a_langchain_tool_is_part_of_the_action_grammar(ctx: ToolContext) -> None:
    registry = ToolRegistry([from_langchain(WeatherTool()), from_langchain(multiply), finish])
    schema = step_schema(registry)
    assert [b["properties"]["tool"]["const"] for b in schema["anyOf"]] == ["weather", "multiply", "finish"]
    action = parse_action(json.dumps(act("multiply", thought="x", a=3, b=4)), registry)
    assert registry.get(action.tool).invoke(ctx, action.args) == "12"


def test_the_agent_uses_a_langchain_tool_in_a_run(tmp_path: Path) -> None:
    model = ScriptedModel([act("multiply", a=6, b=7), act("finish", answer="42")])
    agent = Agent(model, config=AgentConfig(workspace=tmp_path, plan=False),
                  tools=ToolRegistry([from_langchain(multiply), finish]), store=RunStore(tmp_path / "runs"))
    result = agent.run("What is 6 times 7?")
    assert (result.status, result.answer) == ("done", "42")
    assert any("42" in m.content for m in model.calls[1].messages)  # the tool's output was observed
    model.assert_complete()


# -- our tools out -----------------------------------------------------------------------------------------

def test_read_file_exported_to_langchain_reads_from_the_workspace(ctx: ToolContext) -> None:
    (ctx.workspace / "notes.txt").write_text("remember the milk")
    lc_tool = to_langchain(read_file, ctx)
    assert isinstance(lc_tool, BaseTool)
    assert lc_tool.invoke({"path": "notes.txt"}) == "remember the milk"
    call = {"type": "tool_call", "id": "call-1", "name": "read_file", "args": {"path": "notes.txt"}}
    message = lc_tool.invoke(call)  # the way LangChain agents call tools
    assert (message.content, message.tool_call_id) == ("remember the milk", "call-1")


def test_exported_tool_schema_is_what_a_langchain_model_is_shown() -> None:
    spec = convert_to_openai_tool(to_langchain(read_file, ToolContext(Path("."))))["function"]
    assert spec["name"] == "read_file" and spec["description"] == "Read a text file from the workspace."
    assert spec["parameters"]["required"] == ["path"]
    assert spec["parameters"]["properties"]["path"]["description"] == "file path relative to the workspace"


def test_our_tool_errors_surface_as_tool_exceptions_or_as_output(ctx: ToolContext) -> None:
    lc_tool = to_langchain(read_file, ctx)
    with pytest.raises(ToolException, match="outside the workspace"):
        lc_tool.invoke({"path": "../secret"})
    lc_tool.handle_tool_error = True
    assert lc_tool.invoke({"path": "missing.txt"}).startswith("no such file: missing.txt")


def test_a_tool_survives_the_round_trip_out_and_back_in(ctx: ToolContext) -> None:
    back = from_langchain(to_langchain(write_file, ctx))
    assert back.signature_line() == "write_file(path: str, content: str)"
    assert back.invoke(ctx, {"path": "a/b.txt", "content": "hi"}) == "created a/b.txt (2 bytes)"
    assert (ctx.workspace / "a" / "b.txt").read_text() == "hi"
    with pytest.raises(ToolError, match="^write_file failed: absolute paths are not allowed"):
        back.invoke(ctx, {"path": "/etc/passwd", "content": "x"})
