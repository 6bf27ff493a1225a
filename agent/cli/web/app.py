"""The web app behind `autogpt ui`: two pages, their assets, and a small JSON + server-sent-events API.

  GET  /                         the runs list          GET  /api/runs?q=WORDS        its rows, newest first
  GET  /runs/RUN_ID              one run's page         GET  /api/runs/RUN_ID         one row and its config
  GET  /api/runs/RUN_ID/events   its events (SSE)       GET  /api/settings            what the page may choose
  POST /api/runs                 start a goal           POST /api/runs/RUN_ID/stop    stop it (resumable)
  POST /api/runs/RUN_ID/resume   resume it              POST /api/runs/RUN_ID/approval  answer a waiting call
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from agent.cli.web.display import code_css, text_html
from agent.cli.web.guard import MAX_BODY_BYTES, RequestGuard
from agent.cli.web.live import LiveRuns, ResumeRequest, RunRefused, StartRequest, UiSettings
from agent.cli.web.stream import run_events
from agent.cli.web.views import matches, summary_row
from agent.llm.base import ChatModel
from agent.store import EVENTS_FILE, META_FILE, RESULT_FILE, RunStore
from sandbox.base import SandboxKind

STATIC = Path(__file__).parent / "static"
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_LISTED = 500
DEFAULT_STEPS = 12


class ApprovalAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approval_id: str = Field(min_length=1, max_length=64)
    decision: str = Field(min_length=1, max_length=16)
    detail: str = Field(default="", max_length=4_000)


class Refused(Exception):
    """A request refused with an HTTP status and one clear message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def run_folder(runs_dir: Path, run_id: str) -> Path:
    """The folder of a recorded run, refusing ids that are not plain names and files that lead elsewhere."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise Refused(400, "not a run id")
    root = runs_dir.resolve()
    folder = (runs_dir / run_id).resolve()
    if folder.parent != root or not (folder / META_FILE).is_file():
        raise Refused(404, f"no run {run_id}")
    for name in (META_FILE, EVENTS_FILE, RESULT_FILE):
        path = folder / name
        if path.exists() and path.resolve().parent != folder:
            raise Refused(403, f"run {run_id} has a file that points outside its folder")
    return folder


class Endpoints:
    """The routes' handlers over one runs folder and the runs this server drives."""

    def __init__(self, settings: UiSettings, runs: LiveRuns) -> None:
        self.settings, self.runs, self.store = settings, runs, RunStore(settings.runs_dir)

    def folder(self, request: Request) -> tuple[str, Path]:
        run_id = request.path_params["run_id"]
        return run_id, run_folder(self.settings.runs_dir, run_id)

    def live_state(self, run_id: str) -> str | None:
        live = self.runs.get(run_id)
        return live.status()["state"] if live is not None and live.active else None

    def rows(self, query: str) -> list[dict[str, Any]]:
        found = []
        for run_id in self.store.list_ids()[:MAX_LISTED]:
            try:
                run_folder(self.settings.runs_dir, run_id)
                row = summary_row(self.store.load(run_id), live_status=self.live_state(run_id))
            except (Refused, ValueError, OSError, KeyError):
                continue  # a damaged run is left out of the list, as in `autogpt runs list`
            if not query or matches(row, query):
                found.append(row)
        return found

    async def list_page(self, request: Request) -> Response:
        return _page("index.html")

    async def run_page(self, request: Request) -> Response:
        self.folder(request)
        return _page("run.html")

    async def list_runs(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.rows, request.query_params.get("q", "")[:500]))

    async def show_run(self, request: Request) -> Response:
        run_id, _ = self.folder(request)
        try:
            log = await run_in_threadpool(self.store.load, run_id)
        except ValueError as exc:
            raise Refused(422, str(exc)) from None
        live = self.runs.get(run_id)
        return JSONResponse({**summary_row(log, live_status=self.live_state(run_id)), "torn_tail": log.torn_tail,
                             "config": log.meta.get("config", {}), "result": log.result,
                             "model_spec": log.meta.get("model_spec", ""),
                             "here": live.status() if live is not None else None})

    async def stream_run(self, request: Request) -> Response:
        run_id, folder = self.folder(request)
        after = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        if not after.isdigit():
            raise Refused(400, "after must be a line number")

        def status() -> dict[str, Any] | None:
            live = self.runs.get(run_id)
            return live.status() if live is not None else None

        shutdown = anyio.Event()  # set by sse-starlette when the server stops: the stream ends cleanly
        return EventSourceResponse(run_events(folder, int(after), status, shutdown.is_set), ping=15,
                                   shutdown_event=shutdown, shutdown_grace_period=1.0)

    async def start_run(self, request: Request) -> Response:
        body = StartRequest.model_validate(await _json(request))
        run_id = await run_in_threadpool(self.runs.start, body)
        return JSONResponse({"run_id": run_id}, status_code=201)

    async def resume_run(self, request: Request) -> Response:
        run_id, _ = self.folder(request)
        body = ResumeRequest.model_validate(await _json(request))
        await run_in_threadpool(self.runs.resume, run_id, body)
        return JSONResponse({"run_id": run_id}, status_code=202)

    async def stop_run(self, request: Request) -> Response:
        run_id, _ = self.folder(request)
        await _json(request)
        self.runs.stop(run_id)
        return JSONResponse({"run_id": run_id, "state": "stopping"}, status_code=202)

    async def answer_approval(self, request: Request) -> Response:
        run_id, _ = self.folder(request)
        answer = ApprovalAnswer.model_validate(await _json(request))
        self.runs.decide(run_id, answer.approval_id, answer.decision, answer.detail)
        return JSONResponse({"run_id": run_id, "decision": answer.decision})

    async def page_settings(self, request: Request) -> Response:
        s = self.settings
        return JSONResponse({"models": list(s.models), "sandboxes": [k.value for k in SandboxKind],
                             "sandbox": s.sandbox.value, "approve": s.approve, "workspace": str(s.workspace.resolve()),
                             "runs_dir": str(s.runs_dir.resolve()), "max_steps": DEFAULT_STEPS})

    async def stylesheet(self, request: Request) -> Response:
        return Response(code_css(), media_type="text/css")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.list_page), Route("/runs/{run_id}", self.run_page),
            Route("/assets/code.css", self.stylesheet), Mount("/static", StaticFiles(directory=STATIC)),
            Route("/api/settings", self.page_settings),
            Route("/api/runs", self.list_runs, methods=["GET"]), Route("/api/runs", self.start_run, methods=["POST"]),
            Route("/api/runs/{run_id}", self.show_run), Route("/api/runs/{run_id}/events", self.stream_run),
            Route("/api/runs/{run_id}/stop", self.stop_run, methods=["POST"]),
            Route("/api/runs/{run_id}/resume", self.resume_run, methods=["POST"]),
            Route("/api/runs/{run_id}/approval", self.answer_approval, methods=["POST"]),
        ]


def create_app(settings: UiSettings, load_model: Callable[[str], ChatModel],
               on_ready: Callable[[], None] | None = None) -> Starlette:
    """The app; `load_model(spec)` gives the model a run uses, `on_ready()` is called once it serves.

    On shutdown the run in progress is stopped (it stays resumable); `app.state.stopped_runs` lists it.
    """
    runs = LiveRuns(settings, load_model)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_ready is not None:
            on_ready()
        yield
        app.state.stopped_runs = runs.shutdown()  # blocking on purpose: nothing else is served any more

    guard = Middleware(RequestGuard, token=settings.token, allowed_hosts=settings.allowed_hosts)
    app = Starlette(routes=Endpoints(settings, runs).routes(), middleware=[guard], exception_handlers=_ERROR_HANDLERS,
                    lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.state.runs, app.state.stopped_runs = runs, []
    return app


def _page(name: str) -> Response:
    return HTMLResponse((STATIC / name).read_text(encoding="utf-8"))


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        raise Refused(400, "the body is not valid JSON") from None


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    page = (STATIC / "error.html").read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{message}", text_html(message)), status_code=status)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused | RunRefused)
    return _error(request, exc.status, str(exc))


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
    return _error(request, 422, problems)


async def _missing(request: Request, exc: Exception) -> Response:
    return _error(request, 404, str(exc))


_ERROR_HANDLERS: dict[Any, Callable] = {Refused: _refused, RunRefused: _refused, ValidationError: _invalid,
                                        FileNotFoundError: _missing}
