"""`autogpt mcp-server`: the agent's own tools, and the whole agent, for any MCP client (stdio).

    {"mcpServers": {"autogpt": {"command": "autogpt", "args": ["mcp-server", "--workspace", "/path/to/dir"]}}}

Served: `run_python` (in the sandbox: no network, limits), `read_file` / `write_file` / `list_dir` (confined
to the workspace), the NLP tools, and `run_goal` (a full agent run on a goal; the model is loaded on its first
call). Each tool is the same `tools/` implementation the agent calls, with the same argument schema. Calls
run one at a time, in a worker thread, so the server keeps answering (pings, cancellations) meanwhile.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli.options import DeviceOpt, DtypeOpt, ModelOpt, RunsDir, SandboxOpt, fail, load_model
from agent.config import AgentConfig, Budget
from agent.llm.base import ChatModel, ModelSetupError
from sandbox.base import SandboxConfig, SandboxKind
from sandbox.factory import sandbox_factory, unavailable_reason
from tools.base import Tool, ToolContext, ToolError, ToolRegistry
from tools.execute import run_python
from tools.files import list_dir, read_file, write_file
from tools.schema_tool import schema_tool

SERVER_NAME = "autogpt"
NLP_SERVED = ("classify_sentiment", "classify_topic", "extract_entities", "summarize_text")
RUN_GOAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "goal": {"type": "string", "minLength": 1, "description": "what the agent should do, in plain language"},
        "max_steps": {"type": "integer", "minimum": 1, "maximum": 50, "description": "most model decisions"},
    },
    "required": ["goal"],
}


class GoalRunner:
    """`run_goal`: one agent run in the served workspace; the model is loaded once, on the first goal."""

    def __init__(self, config: AgentConfig, model_spec: str, device: str, dtype: str, runs_dir: Path | None) -> None:
        self.config, self.model_spec, self.device, self.dtype, self.runs_dir = (config, model_spec, device,
                                                                                 dtype, runs_dir)
        self._model: ChatModel | None = None

    def __call__(self, args: dict[str, Any]) -> str:
        from agent.loop import Agent
        from agent.store import RunStore

        if self._model is None:
            try:
                self._model = load_model(self.model_spec, device=self.device, dtype=self.dtype)
            except ModelSetupError as exc:
                raise ToolError(f"the model could not be loaded: {exc}") from exc
        budget = self.config.budget.model_copy(update={"max_steps": args.get("max_steps",
                                                                             self.config.budget.max_steps)})
        agent = Agent(self._model, config=self.config.model_copy(update={"budget": budget}),
                      store=RunStore(self.runs_dir), model_spec=self.model_spec)
        result = agent.run(args["goal"])
        return json.dumps({"answer": result.answer, "run_id": result.run_id, "status": result.status,
                           "steps": result.steps, "reason": result.reason}, ensure_ascii=False)


def served_tools(goal_runner: GoalRunner | None) -> ToolRegistry:
    """What the server offers, in the order its clients list them."""
    registry = ToolRegistry([run_python, read_file, write_file, list_dir])
    try:
        from tools.nlp.tools import NLP_TOOLS
    except ImportError:  # the NLP extra is not installed
        NLP_TOOLS = []
    for nlp_tool in NLP_TOOLS:
        if nlp_tool.name in NLP_SERVED:
            registry.register(nlp_tool)
    if goal_runner is not None:
        registry.register(schema_tool("run_goal", "Run the Auto-GPT agent on a goal in the workspace: it plans, "
                                      "runs code in the sandbox, reads and writes files; returns its final "
                                      "answer and the run id (JSON).", RUN_GOAL_SCHEMA, goal_runner))
    return registry


def build_server(registry: ToolRegistry, context: ToolContext) -> Any:
    """A low-level MCP Server whose tools are `registry`'s, called in `context`."""
    import anyio
    from mcp.server import Server
    from mcp.types import CallToolResult, ListToolsResult, TextContent, ToolAnnotations
    from mcp.types import Tool as McpTool

    listed = [McpTool(name=t.name, description=t.description, input_schema=t.args_schema(),
                      annotations=_annotations(t, ToolAnnotations)) for t in registry]
    one_at_a_time = threading.Lock()

    def call(name: str, args: dict[str, Any]) -> tuple[str, bool]:
        with one_at_a_time:
            return registry.call(context, name, args)

    async def on_list_tools(ctx: Any, params: Any) -> ListToolsResult:
        return ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: Any) -> CallToolResult:
        text, ok = await anyio.to_thread.run_sync(call, params.name, dict(params.arguments or {}))
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=not ok)

    return Server(SERVER_NAME, version="0.1.0", on_list_tools=on_list_tools, on_call_tool=on_call_tool)


def _annotations(t: Tool, annotations: Any) -> Any:
    # Nothing served reaches the network: code runs in a sandbox without one, files stay in the workspace.
    return annotations(read_only_hint=not t.side_effects and t.writes_with is None,
                       destructive_hint=t.name == "write_file" or None, open_world_hint=t.name == "run_goal")


async def _serve_stdio(server: Any) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def mcp_server_command(
    workspace: Annotated[Path, typer.Option(help="folder the tools work in (files stay inside it)")] = Path("."),
    sandbox: SandboxOpt = SandboxKind.AUTO,
    unsafe_local: Annotated[bool, typer.Option(help="allow the local sandbox without isolation")] = False,
    model: ModelOpt = "default",
    max_steps: Annotated[int, typer.Option(min=1, help="most model decisions of a run_goal run")] = 12,
    goals: Annotated[bool, typer.Option(help="offer run_goal (the whole agent on a goal)")] = True,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    runs_dir: RunsDir = None,
) -> None:
    """Serve the agent's tools over MCP on stdin/stdout, for another MCP client (an IDE, a desktop app,
    another agent) to use: run_python in the sandbox, workspace files, NLP classifiers, and run_goal."""
    import anyio

    if not workspace.is_dir():
        fail(f"workspace {workspace} is not a directory")
    root = workspace.resolve()
    sandbox_config = SandboxConfig(unsafe_local=unsafe_local)
    if (problem := unavailable_reason(sandbox, sandbox_config)) is not None:
        fail(problem)
    config = AgentConfig(workspace=root, budget=Budget(max_steps=max_steps), sandbox=sandbox,
                         sandbox_config=sandbox_config)
    runner = GoalRunner(config, model, device, dtype, runs_dir) if goals else None
    context = ToolContext(root, sandbox_factory(sandbox, root, sandbox_config))
    try:
        anyio.run(_serve_stdio, build_server(served_tools(runner), context))
    except KeyboardInterrupt:
        pass
    finally:
        context.close()
