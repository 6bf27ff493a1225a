"""`autogpt ui`: a local web page over the run store: watch runs live, start, stop, resume, approve.

The app itself is `agent.cli.web`; this module checks the options, binds the address, serves until
Ctrl-C and says what it stopped.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agent.cli.options import DeviceOpt, DtypeOpt, RunsDir, SandboxOpt, fail, load_model
from sandbox.base import SandboxKind

TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,256}")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def ui_command(
    host: Annotated[str, typer.Option(help="address to serve on; anything but loopback is reachable by "
                                      "others on the network")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free one)")] = 8765,
    workspace: Annotated[Path, typer.Option(help="folder the runs started from the page work in")] = Path("."),
    runs_dir: RunsDir = None,
    model: Annotated[list[str] | None, typer.Option(help="a model the page may start runs with (repeat to "
                                                    "offer several; the first is the default)")] = None,
    sandbox: SandboxOpt = SandboxKind.AUTO,
    unsafe_local: Annotated[bool, typer.Option(help="allow the local sandbox without isolation")] = False,
    approve: Annotated[bool, typer.Option("--approve", help="runs started from the page ask there before "
                                          "writing files or running code (the default of the page's box)")] = False,
    token: Annotated[str | None, typer.Option(envvar="AUTOGPT_UI_TOKEN", help="require this bearer token "
                                              "(8+ URL-safe characters); the printed address carries it")] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Serve a web page to watch runs live and to start, stop, resume and approve them."""
    from agent.cli.web.live import UiSettings
    from agent.store import RunStore

    console, errors = Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)
    if not workspace.is_dir():
        fail(f"workspace {workspace} is not a directory")
    if token is not None and not TOKEN.fullmatch(token):
        fail("--token must be 8 to 256 characters from A-Z a-z 0-9 . _ ~ -")
    loopback = _is_loopback(host)
    if not loopback:
        errors.print(f"[bold yellow]warning:[/] serving on {escape(host)}: anyone who can reach it can start "
                     "runs that write files and run code" + ("" if token else "; add --token"))
    runs_path = RunStore(runs_dir).runs_dir
    settings = UiSettings(runs_dir=runs_path, workspace=workspace.resolve(), models=tuple(model or ["default"]),
                          device=device, dtype=dtype, sandbox=sandbox, unsafe_local=unsafe_local, approve=approve,
                          token=token, allowed_hosts=(LOOPBACK_NAMES | {host.lower()}) if loopback else None)
    listener = _listen(host, port)
    bound = listener.getsockname()[1]
    url = f"http://{f'[{host}]' if ':' in host else host}:{bound}/" + (f"?token={token}" if token else "")

    def ready() -> None:
        console.print(f"[bold]Auto-GPT UI[/] on {url}")
        console.print(f"[dim]runs {escape(str(runs_path))} · workspace {escape(str(settings.workspace))} · "
                      "Ctrl-C stops[/]")

    stopped = _serve(settings, listener, device, dtype, ready)
    for run_id in stopped:
        console.print(f"[yellow]stopped[/] run {run_id}; `autogpt resume {run_id}` continues it")
    console.print("[dim]server stopped[/]")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """Bind before serving, so that a taken port or a bad address is one clear message."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    listener.set_inheritable(True)
    return listener


def _serve(settings, listener: socket.socket, device: str, dtype: str, ready: Callable[[], None]) -> list[str]:
    """Serve until Ctrl-C (or SIGTERM); the ids of the runs that were stopped on the way out."""
    app = None
    try:
        import uvicorn

        from agent.cli.web.app import create_app

        app = create_app(settings, lambda spec: load_model(spec, device=device, dtype=dtype), on_ready=ready)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=3)
        uvicorn.Server(config).run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn hands the Ctrl-C it caught back once it has shut down
        pass
    finally:
        listener.close()
    return list(app.state.stopped_runs) if app is not None else []
