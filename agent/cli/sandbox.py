"""`autogpt sandbox build|exec`: make the Docker image; run one command in a fresh sandbox.

`exec` prints exactly one JSON line (ExecResult's fields: exit_code, stdout, stderr, timed_out, truncated,
duration_s, backend, failure) and exits 0 whenever the command ran, whatever its own exit code; it exits 2
with a message on stderr when the sandbox cannot start.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.options import fail
from agent.cli.terminal_text import safe_json
from sandbox.base import SandboxConfig, SandboxKind, SandboxUnavailable

sandbox_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="Sandboxed execution: build the Docker image, run a command in a sandbox.")
DEFAULTS = SandboxConfig()


@sandbox_app.command()
def build(
    tag: Annotated[str, typer.Option(help="image tag")] = DEFAULTS.image,
    force: Annotated[bool, typer.Option(help="rebuild even if the tag exists")] = False,
    pull: Annotated[bool, typer.Option(help="pull a slim Python image when a registry answers")] = True,
) -> None:
    """Build the Docker sandbox image (pulled, or debootstrapped offline); cached by tag."""
    from sandbox.image import build_image

    try:
        how = build_image(tag, force=force, pull=pull, log=lambda line: print(line, file=sys.stderr))
    except (SandboxUnavailable, RuntimeError, OSError) as exc:
        fail(str(exc))
    print(json.dumps({"image": tag, "how": how}))


@sandbox_app.command("exec", context_settings={"ignore_unknown_options": True,
                                               "allow_interspersed_args": False})
def exec_command(
    command: Annotated[list[str], typer.Argument(help="the command and its arguments (after --)")],
    backend: Annotated[SandboxKind, typer.Option(help="docker, local or auto")] = SandboxKind.AUTO,
    timeout: Annotated[float, typer.Option(min=0.1, help="seconds before the call is killed")]
    = DEFAULTS.timeout_s,
    workspace: Annotated[Path, typer.Option(help="folder mounted read-write as the working directory")]
    = Path("."),
    network: Annotated[bool, typer.Option("--network", help="allow network access (off by default)")] = False,
    unsafe_local: Annotated[bool, typer.Option("--unsafe-local", help="run locally without isolation "
                                               "where no namespaces are available")] = False,
) -> None:
    """Run CMD ARGS... in a fresh sandbox and print one JSON line with the result."""
    from sandbox.factory import open_sandbox

    # One call per sandbox: a warm executor would only add its own start-up.
    config = SandboxConfig(timeout_s=timeout, network=network, unsafe_local=unsafe_local, warm_exec=False)
    try:
        sandbox = open_sandbox(backend, workspace, config)
    except SandboxUnavailable as exc:
        fail(str(exc))
    try:
        result = sandbox.exec(list(command), timeout_s=timeout)
    finally:
        sandbox.close()
    print(safe_json(result.to_json()))

