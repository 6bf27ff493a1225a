"""`autogpt serve`: the model behind an OpenAI-compatible chat server (`agent.llm.openai_server`).

The model is loaded once, then every request is served by it; `response_format` json_schema requests are
decoded under the grammar. `python -m agent.llm.openai_server` runs this same command.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from agent.cli.options import AdapterOpt, fail, load_model
from agent.llm.base import ModelSetupError


def serve_command(
    host: Annotated[str, typer.Option(help="address to listen on (default: loopback only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on (0: any free port)")] = 8000,
    model: Annotated[str, typer.Option(help="model spec, as for `autogpt run --model`")] = "default",
    adapter: AdapterOpt = None,
    name: Annotated[str | None, typer.Option(help="model id clients ask for (default: the model's name)")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, mps (default: the best available)")] = None,
    api_key: Annotated[str | None, typer.Option(help="require `Authorization: Bearer KEY`")] = None,
    no_json_schema: Annotated[bool, typer.Option("--no-json-schema",
                                                 help="refuse response_format (for testing)")] = False,
) -> None:
    """Serve a chat model as an OpenAI-compatible server (GET /v1/models, POST /v1/chat/completions)."""
    from agent.llm.openai_server import ChatCompletionsServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        chat_model = load_model(model, device=device or "auto", adapter=adapter)
    except ModelSetupError as exc:
        fail(str(exc))
    try:
        server = ChatCompletionsServer(chat_model, host, port, name=name, json_schema=not no_json_schema,
                                       api_key=api_key)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    print(f"serving {server.served_name} on {chat_model.device} at {server.url}"
          f" (autogpt run --model openai:{server.url}#{server.served_name})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_main(argv: list[str] | None = None, prog: str = "autogpt serve") -> None:
    """Run `serve_command` as a program of its own, with `argv` (default: sys.argv[1:])."""
    app = typer.Typer(add_completion=False)
    app.command()(serve_command)
    app(args=argv, prog_name=prog)
