"""What a tool is, and the one registry the agent builds its action grammar from.

A tool is a typed function whose first parameter is the `ToolContext`; its other parameters become a
pydantic argument model, and its docstring (summary + "Args:" lines) is what the prompt shows the model.
A tool may instead carry a raw JSON schema for its arguments (`tools.schema_tool`, MCP tools): then that
schema is what the step grammar gets, and validation is jsonschema's.

A tool may name one string argument its `body` (run_python's code, write_file's content): in the raw action
format (agent/action_format.py) the model writes that argument as it is, in a fenced block after a small JSON
header, instead of escaped inside a JSON string. A tool may also give a `check`: a cheap look at its arguments
on the host (does the code compile?); what it finds wrong is sent back without anything being run.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from sandbox.base import Sandbox, SandboxUnavailable


class ToolError(Exception):
    """A failure the model can act on (bad path, code that crashed); shown to it as the observation."""


@dataclass
class InterpreterLog:
    """What run_python has seen of the run's Python session, to say when the state it held was lost."""

    calls: int = 0  # calls that ran in a session
    lost: str = ""  # why the state was lost, when the model has not been told yet


@dataclass
class ToolContext:
    """What a tool may touch: the run's workspace and its sandbox (started lazily by the caller)."""

    workspace: Path
    sandbox_factory: Callable[[], Sandbox] | None = None
    _sandbox: Sandbox | None = field(default=None, repr=False)
    interpreter: InterpreterLog = field(default_factory=InterpreterLog)

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            if self.sandbox_factory is None:
                raise ToolError("no sandbox is configured for this run")
            try:
                self._sandbox = self.sandbox_factory()
            except SandboxUnavailable as exc:
                raise ToolError(f"the sandbox is not available: {exc}") from exc
        return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args_model: type[BaseModel]
    function: Callable[..., str]
    side_effects: bool = False
    writes_with: str | None = None  # an argument that, when given, makes the call write (an output path)
    json_schema: dict[str, Any] | None = None  # the arguments' raw JSON schema, when not from a signature
    body: str | None = None  # the string argument written raw after the JSON header (raw action format)
    body_language: str = ""  # the fenced block's info string, e.g. "python"
    check: Callable[[dict[str, Any]], str | None] | None = None  # host-side look at validated arguments

    def args_schema(self) -> dict[str, Any]:
        """The JSON schema of the tool's arguments, as the step grammar gets it."""
        return self.json_schema if self.json_schema is not None else self.args_model.model_json_schema()

    def invoke(self, ctx: ToolContext, raw_args: dict[str, Any]) -> str:
        """Validate and check the arguments, then call. Both kinds of failure become a ToolError."""
        try:
            args = self.args_model.model_validate(raw_args).model_dump()
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'args'}: {e['msg']}" for e in exc.errors())
            raise ToolError(f"invalid arguments for {self.name}: {problems}") from exc
        if (problem := self.problem(args)) is not None:
            raise ToolError(problem)
        return self.function(ctx, **args)

    def acts(self, args: dict[str, Any]) -> bool:
        """Whether this call may change something (approval mode asks before it runs): always for a tool with
        side effects, and for one that only reads unless told where to write, when that argument is given."""
        return self.side_effects or (self.writes_with is not None and bool(args.get(self.writes_with)))

    def problem(self, args: dict[str, Any]) -> str | None:
        """What the tool's `check` finds wrong with these (validated) arguments; None when they may run."""
        return self.check(args) if self.check is not None else None

    def signature_line(self) -> str:
        """How the prompt shows the tool: required arguments with types, optional ones with defaults."""
        if self.json_schema is not None:
            return f"{self.name}({', '.join(schema_params(self.json_schema))})"
        params = [f"{name}: {_type_name(info.annotation)}" if info.is_required() else f"{name}={info.default!r}"
                  for name, info in self.args_model.model_fields.items()]
        return f"{self.name}({', '.join(params)})"


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def schema_params(schema: dict[str, Any]) -> list[str]:
    """A JSON schema's top-level properties in the signature style above: `a: integer`, `b=2`, `c=None`."""
    required = set(schema.get("required", []))
    params = []
    for name, spec in schema.get("properties", {}).items():
        spec = spec if isinstance(spec, dict) else {}
        if name in required:
            params.append(f"{name}: {_schema_type_name(spec)}")
        else:
            params.append(f"{name}={spec.get('default')!r}")
    return params


def _schema_type_name(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "|".join(json.dumps(v) for v in spec["enum"])
    kind = spec.get("type")
    if isinstance(kind, list):
        return "|".join(map(str, kind))
    if kind == "array" and isinstance(spec.get("items"), dict) and "type" in spec["items"]:
        return f"array[{_schema_type_name(spec['items'])}]"
    if kind is None and any(k in spec for k in ("anyOf", "oneOf")):
        return "|".join(_schema_type_name(s) for s in spec.get("anyOf", spec.get("oneOf")) if isinstance(s, dict))
    return str(kind or "any")


_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?:\s*(.+)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and per-argument descriptions."""
    summary_lines, arg_docs, in_args = [], {}, False
    for line in inspect.cleandoc(doc or "").splitlines():
        if line.strip() in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args:
            match = _ARG_LINE.match(line)
            if match:
                arg_docs[match.group(1)] = match.group(2).strip()
            elif not line.strip():
                in_args = False
        else:
            summary_lines.append(line)
    return " ".join(s.strip() for s in summary_lines if s.strip()), arg_docs


def tool(name: str | None = None, *, side_effects: bool = False, writes_with: str | None = None,
         body: str | None = None, body_language: str = "",
         check: Callable[[dict[str, Any]], str | None] | None = None) -> Callable[[Callable[..., str]], Tool]:
    """Turn `def f(ctx: ToolContext, a: int, b: str = "x") -> str` into a `Tool`; `writes_with` names a
    parameter that, when given, makes a call write; `body` names a `str` parameter the raw action format writes
    in a fenced block, `check` a host-side look at the arguments."""

    def wrap(function: Callable[..., str]) -> Tool:
        summary, arg_docs = _parse_docstring(function.__doc__ or "")
        hints = get_type_hints(function, include_extras=True)
        fields: dict[str, Any] = {}
        params = list(inspect.signature(function).parameters.values())[1:]  # first is the ToolContext
        for param in params:
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (hints[param.name], Field(default, description=arg_docs.get(param.name)))
        tool_name = name or function.__name__
        for role, argument in (("body", body), ("writes_with", writes_with)):
            if argument is not None and argument not in fields:
                raise TypeError(f"{tool_name}: the {role} argument {argument!r} is not one of its parameters")
        args_model = create_model(
            f"{tool_name}_args", __config__=ConfigDict(extra="forbid"), **fields
        )
        return Tool(tool_name, summary, args_model, function, side_effects, writes_with=writes_with, body=body,
                    body_language=body_language, check=check)

    return wrap


class ToolRegistry:
    """The set of tools one agent can use, in a stable order (the order the prompt lists them)."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.register(t)

    def register(self, t: Tool) -> None:
        if t.name in self._tools:
            raise ValueError(f"a tool named {t.name!r} is already registered")
        self._tools[t.name] = t

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"unknown tool {name!r}; available: {', '.join(self._tools)}") from None

    def call(self, ctx: ToolContext, name: str, args: dict[str, Any]) -> tuple[str, bool]:
        """Run a tool; any failure becomes text for the model (ok=False) instead of an exception."""
        try:
            return self.get(name).invoke(ctx, args), True
        except ToolError as exc:
            return str(exc), False
        except Exception as exc:  # a crashing tool is the run's problem to report, not to die of
            return f"the tool crashed: {type(exc).__name__}: {exc}", False

    def names(self) -> list[str]:
        return list(self._tools)

    def __iter__(self):
        return iter(self._tools.values())

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)
