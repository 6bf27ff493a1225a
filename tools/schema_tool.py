"""Tools from a JSON schema: a name, a description, an argument schema and a callable.

    registry.register(schema_tool("get_weather", "Current weather in a city.",
                                  {"type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"]},
                                  lambda args: weather_api(args["city"])))

The schema becomes the tool's branch of the step grammar as it is (nested objects, enums, arrays, optional
fields), so under the grammar the model can only write arguments it allows; the call's arguments are
validated against it with jsonschema before the callable runs. This is what MCP tools are built on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from tools.base import Tool, ToolContext

# Keywords whose value is one subschema, a list of them, or a map of name -> subschema (JSON Schema 2020-12
# plus the older `definitions` / `additionalItems` / list-valued `items`).
_ONE = ("items", "additionalProperties", "additionalItems", "not", "contains", "propertyNames", "if", "then",
        "else", "unevaluatedItems", "unevaluatedProperties")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")


def schema_tool(name: str, description: str, schema: dict[str, Any], function: Callable[[dict[str, Any]], Any],
                *, side_effects: bool = True) -> Tool:
    """A Tool whose arguments are described by `schema` (a JSON schema of an object).

    `function` is called with the validated arguments as one dict; what it returns becomes the observation
    (a string as is, anything else as JSON). A `ToolError` it raises is shown to the model as a failed call.
    `side_effects` defaults to True: approval mode asks before a tool whose effects are unknown runs.
    Raises ValueError for a schema that is not a valid JSON schema of an object.
    """
    if not name:
        raise ValueError("a tool needs a name")
    validator = checked_validator(name, schema)
    grammar_schema = inline_refs(schema)

    def call(ctx: ToolContext, **args: Any) -> str:
        return as_text(function(args))

    call.__name__ = name
    return Tool(name, description, json_schema_args_model(name, validator), call, side_effects,
                json_schema=grammar_schema)


def checked_validator(name: str, schema: dict[str, Any]) -> Any:
    """A jsonschema validator for `schema` (2020-12 unless it names its dialect in `$schema`)."""
    if not isinstance(schema, dict):
        raise ValueError(f"the argument schema of {name} must be a JSON object, not {type(schema).__name__}")
    if schema.get("type", "object") != "object":
        raise ValueError(f"the argument schema of {name} must describe an object (\"type\": \"object\")")
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except schema_errors.SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "the top level"
        raise ValueError(f"the argument schema of {name} is not a valid JSON schema (at {where}): "
                         f"{exc.message}") from None
    return cls(schema)


def json_schema_args_model(name: str, validator: Any) -> type[BaseModel]:
    """An argument model that validates with jsonschema: `model_validate` checks the raw arguments against
    the schema and keeps them as they are, so the code that validates and dumps a tool's arguments treats
    schema tools and signature tools alike."""

    class SchemaArgs(BaseModel):
        model_config = ConfigDict(extra="allow")

        @classmethod
        def model_validate(cls, obj: Any, **_: Any) -> SchemaArgs:
            problems = [(tuple(e.absolute_path), e.message, e.instance) for e in validator.iter_errors(obj)]
            problems += [((key,), "unexpected argument", obj[key]) for key in _unexpected(validator.schema, obj)]
            if problems:
                details = [InitErrorDetails(type=PydanticCustomError("json_schema", "{problem}", {"problem": text}),
                                            loc=loc, input=value) for loc, text, value in sorted(problems, key=str)]
                raise ValidationError.from_exception_data(f"{name}_args", details)
            return cls.model_construct(**obj)

        @classmethod
        def model_json_schema(cls, *_: Any, **__: Any) -> dict[str, Any]:
            return copy.deepcopy(validator.schema)

    SchemaArgs.__name__ = SchemaArgs.__qualname__ = f"{name}_args"
    return SchemaArgs


def _unexpected(schema: dict[str, Any], args: Any) -> list[str]:
    """Top-level arguments the schema does not name, unless it says what to do with others: the step
    grammar allows none (as for @tool tools), so a call without the grammar is held to the same."""
    if not isinstance(args, dict) or "additionalProperties" in schema or "patternProperties" in schema:
        return []
    return [key for key in args if key not in schema.get("properties", {})]


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local `$ref` replaced by what it points to, and its `$defs` dropped.

    A tool's schema sits inside the step schema, where its `#/$defs/...` pointers would point at the step
    schema's root instead of its own. A recursive reference becomes `{}` (any JSON value) at the point it
    recurses: the grammar loosens there, and jsonschema still checks the full schema before the call.
    """

    def resolve(ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref pointers (#/...) are supported, not {ref!r}")
        node: Any = schema
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise ValueError(f"$ref {ref!r} points at nothing in the schema") from None
        return node

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = {} if ref in seen else walk(resolve(ref), (*seen, ref))
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {**target, **walk(siblings, seen)} if isinstance(target, dict) else target
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "definitions"):
                continue
            if key in _MAP and isinstance(value, dict):
                out[key] = {name: walk(sub, seen) for name, sub in value.items()}
            elif key in _LIST + _ONE and isinstance(value, list):
                out[key] = [walk(sub, seen) for sub in value]
            elif key in _ONE:
                out[key] = walk(value, seen)
            else:
                out[key] = value
        return out

    return walk(schema, ())


def as_text(result: Any) -> str:
    """Observations are text: a string as is, anything else as JSON (or its str() when not serializable)."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)
