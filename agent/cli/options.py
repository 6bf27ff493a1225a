"""What every command shares: the common options, the one way to fail, and how a command gets its model."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agent.llm.base import ChatModel
from sandbox.base import SandboxKind

RunsDir = Annotated[Path | None, typer.Option("--runs-dir", help="where runs are recorded "
                                              "(default $AUTOGPT_HOME/runs)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]
SandboxOpt = Annotated[SandboxKind, typer.Option(help="where code runs: docker, local, or auto (docker when "
                                                 "its engine and image are there, else local)")]
ModelOpt = Annotated[str, typer.Option(help="default (the embedded model, tuned), base (the same, untuned), a model "
                                       "directory, a .gguf file, or openai:URL#MODEL")]
AdapterOpt = Annotated[Path | None, typer.Option("--adapter", help="a LoRA adapter folder (`autogpt tune --out`) to "
                                                 "run on top of the local model (instead of the shipped one)")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu or cuda")]
DtypeOpt = Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16")]
McpOpt = Annotated[list[str] | None, typer.Option("--mcp", metavar="'COMMAND ARGS...'",
                                                  help="an MCP server (stdio) whose tools the agent may use; "
                                                  "repeatable")]
McpConfigOpt = Annotated[Path | None, typer.Option("--mcp-config", help='MCP servers file: {"mcpServers": '
                                                   '{"name": {"command": ..., "args": [...]} or {"url": ...}}}')]
McpCwdOpt = Annotated[Path | None, typer.Option("--mcp-cwd", help="folder the --mcp commands start in "
                                                "(default: the current one)")]


class ActionFormatChoice(StrEnum):
    RAW = "raw"
    JSON = "json"


ActionFormatOpt = Annotated[ActionFormatChoice | None, typer.Option(
    "--action-format", help="how the model writes actions: raw (code and file content as they are, in a "
    "fenced block after a JSON header) or json (escaped in JSON strings, the default)")]


PythonSessionOpt = Annotated[bool, typer.Option(
    "--python-session/--no-python-session", help="run_python keeps one Python interpreter for the run "
    "(variables, imports and functions last from call to call); off: a fresh interpreter per call")]


KeepInputsOpt = Annotated[bool, typer.Option(
    "--keep-inputs/--no-keep-inputs", help="when the goal asks for new files, put back the files it reads "
    "whenever a call changes them, and tell the model (on by default)")]


TemperatureOpt = Annotated[float, typer.Option(min=0.0, max=2.0, help="sampling temperature of each decode "
                                               "(0: greedy, the default)")]
SeedOpt = Annotated[int, typer.Option(help="seed of the sampled decodes (the same seed, the same run)")]


AttemptsOpt = Annotated[int | None, typer.Option(min=1, max=16, help="runs of the goal, each in its own copy of "
                                                 "the workspace (those after the first sampled); the best is "
                                                 "kept (default: 3 with the tuned default model, else 1)")]


UNTUNED_WORKED_EXAMPLES = 2
TUNED_DEFAULT_ATTEMPTS = 3
TUNED_FINISH_CHECKS = 0


def action_format_for(choice: ActionFormatChoice | None, model_spec: str) -> str:
    """The action format a run uses: the one asked for, else JSON (it passed more of the core suite's tasks
    with the default model, docs/code-actions.md; and servers take a JSON schema, not our grammar)."""
    return choice.value if choice is not None else "json"


def worked_examples_for(choice: int | None, model_spec: str, adapter: Path | None = None) -> int:
    """How many worked example runs a prompt shows: the number asked for, else none for a tuned model (it
    was trained without them, and learned the job itself) and two for any other."""
    if choice is not None:
        return choice
    return 0 if is_tuned(model_spec, adapter) else UNTUNED_WORKED_EXAMPLES


def finish_checks_for(choice: int | None, model_spec: str, adapter: Path | None = None) -> int:
    """How many times finish is sent back while a file the goal asks for is missing: the number asked for,
    else TUNED_FINISH_CHECKS for a tuned model and none for any other (the base model ignores it)."""
    if choice is not None:
        return choice
    return TUNED_FINISH_CHECKS if is_tuned(model_spec, adapter) else 0


def attempts_problem(choice: int | None, approve: bool, mcp: bool) -> str | None:
    """Why --attempts N cannot be honoured, or None. Several attempts need every effect of a run to stay in
    its copy of the workspace, so that only the kept one's remain: not with --approve (the user would be
    asked again for each attempt's calls) nor with MCP tools (they act outside the workspace)."""
    if choice is None or choice == 1 or not (approve or mcp):
        return None
    return (f"--attempts {choice} cannot go with {'--approve' if approve else 'MCP servers'}: each attempt would "
            + ("ask you again" if approve else "act outside the workspace, where no attempt can be undone"))


def attempts_for(choice: int | None, model: ChatModel, *, approve: bool = False, mcp: bool = False,
                 workspace: Path | None = None, console: Console | None = None) -> int:
    """How many attempts a run makes: the number asked for, else TUNED_DEFAULT_ATTEMPTS for the tuned
    default model (three of its runs take about the time of one of the base model's) and one for any other
    model; one with --approve or MCP tools, and one (said on `console`) for a workspace too big to copy."""
    from agent.attempts import copy_problem

    attempts = choice if choice is not None else (TUNED_DEFAULT_ATTEMPTS if is_tuned_default(model) else 1)
    if attempts == 1 or approve or mcp:
        return 1
    if workspace is not None and (problem := copy_problem(workspace)) is not None:
        if console is not None:
            console.print(f"[yellow]one attempt[/]: {escape(problem)}")
        return 1
    return attempts


def is_tuned_default(model: ChatModel) -> bool:
    """Whether `model` is the embedded model with the adapter that ships with the package."""
    from agent.llm.lora import shipped_adapter

    shipped = shipped_adapter()
    return shipped is not None and model.name == f"{shipped.base_name}+{shipped.name}"


def is_tuned(model_spec: str, adapter: Path | None = None) -> bool:
    """Whether a run's model has an adapter: the user's, or the shipped one of the default model."""
    from agent.llm.loading import DEFAULT_MODEL
    from agent.llm.lora import SHIPPED, WEIGHTS_FILE

    return adapter is not None or (model_spec == DEFAULT_MODEL and (SHIPPED / WEIGHTS_FILE).is_file())


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and the exit code (2: a usage or setup error the user must fix)."""
    from agent.cli.terminal_text import printable

    # one line, not wrapped at the terminal's width
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(printable(message))}")
    raise typer.Exit(code)


def load_model(spec: str, *, device: str = "auto", dtype: str = "auto", adapter: Path | None = None) -> ChatModel:
    """The command's model: a scripted one when $AUTOGPT_SCRIPTED_MODEL is set (tests), else `spec` (with
    `adapter`)."""
    from agent.testing import scripted_model_from_env

    scripted = scripted_model_from_env()
    if scripted is not None:
        return scripted
    from agent.llm import load_chat_model

    return load_chat_model(spec, device=device, dtype=dtype, adapter=adapter)


# -- worker pools: `batch` and `bench --ray` -------------------------------------------------------------

RayFlag = Annotated[bool, typer.Option("--ray", help="run on Ray: a pool of actors, each holding one loaded "
                                       "model (a local Ray instance unless --ray-address is given)")]
RayAddressOpt = Annotated[str, typer.Option("--ray-address", help="an existing Ray cluster: auto, HOST:PORT "
                                            "or ray://HOST:PORT (implies --ray)")]
WorkerCpusOpt = Annotated[float | None, typer.Option("--worker-cpus", min=0.0, help="CPUs Ray reserves for "
                                                     "each actor (default 1)")]
WorkerMemoryOpt = Annotated[str, typer.Option("--worker-memory", help="memory Ray reserves for each actor, "
                                              "e.g. 1.5GiB or 800MB (default: none)")]
RetriesOpt = Annotated[int, typer.Option(min=0, help="attempts per goal after its worker died (each resumes "
                                         "the run from its recorded events)")]

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3}


def parse_size(text: str) -> int:
    """Bytes from `2GiB`, `800MB`, `1.5gb` or a plain number of bytes; ValueError otherwise."""
    import re

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if found is None or found.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a size: write it like 2GiB, 800MB or 1500000000")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def ray_settings(ray: bool, address: str, cpus: float | None, memory: str):
    """The RaySettings of the command's options, or None without --ray (and then no Ray option is allowed)."""
    if not (ray or address):
        if cpus is not None or memory:
            fail("--worker-cpus and --worker-memory are for Ray actors: add --ray (or --ray-address)")
        return None
    from agent.scale.ray_pool import RaySettings

    try:
        memory_bytes = parse_size(memory) if memory else 0
    except ValueError as exc:
        fail(f"--worker-memory: {exc}")
    return RaySettings(address=address, worker_cpus=1.0 if cpus is None else cpus, worker_memory=memory_bytes)


def open_worker_pool(console: Console, size: int, options, settings):
    """`size` workers that have each loaded the model (Ray actors when `settings` is set), or fail()."""
    import importlib.util

    from agent.scale.pool import PoolError, open_local_pool

    if settings is not None and importlib.util.find_spec("ray") is None:
        fail("Ray is not installed: pip install '.[ray]' in this package's folder (or drop --ray)")
    where = "Ray actors" if settings is not None else ("worker processes" if size > 1 else "worker")
    with console.status(f"starting {size} {where}, loading model {options.model} in each ..."):
        try:
            if settings is None:
                return open_local_pool(size, options)
            from agent.scale.ray_pool import open_ray_pool

            return open_ray_pool(size, options, settings)
        except PoolError as exc:
            fail(str(exc))
