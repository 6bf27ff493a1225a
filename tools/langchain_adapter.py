"""LangChain tools in, our tools out. LangChain stays at this edge: nothing else imports it.

    registry.register(from_langchain(wikipedia_tool))       # any BaseTool or @tool function
    lc_tool = to_langchain(read_file, ToolContext(workspace))  # a StructuredTool for a LangChain agent
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tools.base import Tool, ToolContext, ToolError, _parse_docstring

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                               "array": list, "object": dict}


def from_langchain(lc_tool: BaseTool, *, name: str | None = None, side_effects: bool = True) -> Tool:
    """Our Tool for a LangChain tool: its call schema becomes the argument model the agent's grammar and
    validation use; it runs through `lc_tool.invoke`, and whatever it raises becomes a ToolError.

    `side_effects` defaults to True: a foreign tool's effects are unknown, so approval mode asks first.
    """
    from langchain_core.tools import ToolException

    tool_name = name or lc_tool.name
    summary, _ = _parse_docstring(lc_tool.description or "")
    args_model = _args_model(tool_name, lc_tool.tool_call_schema)

    def call(ctx: ToolContext, **args: Any) -> str:
        try:
            result = lc_tool.invoke(args)
        except ToolError:
            raise
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'args'}: {e['msg']}"
                                 for e in exc.errors())
            raise ToolError(f"invalid arguments for {tool_name}: {problems}") from exc
        except ToolException as exc:  # the tool's own way of reporting a failure
            raise ToolError(f"{tool_name} failed: {exc}") from exc
        except Exception as exc:  # anything else it lets through: still the model's to hear about
            raise ToolError(f"{tool_name} failed: {type(exc).__name__}: {exc}") from exc
        return _as_text(result)

    call.__name__ = tool_name
    return Tool(tool_name, summary or tool_name, args_model, call, side_effects)


def to_langchain(tool: Tool, ctx: ToolContext) -> BaseTool:
    """A LangChain StructuredTool running `tool` in `ctx`, with our argument model as its schema.

    Our ToolErrors are raised as ToolException, so `handle_tool_error` on the result decides whether the
    LangChain agent sees them as the tool's output (as ours does) or as an exception.
    """
    from langchain_core.tools import StructuredTool, ToolException

    def call(**args: Any) -> str:
        try:
            return tool.invoke(ctx, args)
        except ToolError as exc:
            raise ToolException(str(exc)) from exc

    return StructuredTool.from_function(func=call, name=tool.name, description=tool.description,
                                        args_schema=tool.args_model, infer_schema=False)


def _args_model(tool_name: str, schema: type[BaseModel] | dict[str, Any]) -> type[BaseModel]:
    """A pydantic model that forbids unknown arguments: a subclass of the tool's own (so its validators
    still run) or, for a tool described by a JSON-schema dict, one built from its top-level properties."""
    model_name = f"{tool_name}_args"
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        namespace = {"model_config": ConfigDict(extra="forbid"), "__module__": __name__}
        return type(model_name, (schema,), namespace)
    if not isinstance(schema, dict):
        raise TypeError(f"{tool_name}: unsupported args_schema {schema!r} (a pydantic v1 model?); "
                        "give the tool a pydantic v2 model or a JSON-schema dict")
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for field, spec in schema.get("properties", {}).items():
        annotation = _JSON_TYPES.get(spec.get("type"), Any) if isinstance(spec, dict) else Any
        description = spec.get("description") if isinstance(spec, dict) else None
        if field in required:
            fields[field] = (annotation, Field(..., description=description))
        else:
            default = spec.get("default") if isinstance(spec, dict) else None
            fields[field] = (annotation | None, Field(default, description=description))
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _as_text(result: Any) -> str:
    """Tools may return anything; the agent's observations are text (JSON where it serializes)."""
    if isinstance(result, str):
        return result
    content = getattr(result, "content", None)  # a ToolMessage (from a tool-call input)
    if isinstance(content, str):
        return content
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)
