"""Serve any ChatModel (by default the in-process model) as an OpenAI-compatible chat server.

    autogpt serve --port 8000 [--model default] [--name smollm2]   (or python -m agent.llm.openai_server)

Endpoints: GET /v1/models, POST /v1/chat/completions (no streaming, n=1). `response_format` json_schema
(and json_object) is honoured with the model's grammar-constrained decoding; `--no-json-schema` turns
that off (such requests get a 400) to stand in for servers without it. One generation runs at a time: a
request that waits longer than `queue_timeout` for its turn gets a 503 with Retry-After.

What a client can hold is bounded: at most `max_connections` connections are served at once, by a fixed
pool of threads (one more gets a 503 at once and is closed); a connection idle for `idle_timeout` seconds
is closed; a request body must come with a valid Content-Length (missing: 411, not a whole number: 400,
more than MAX_BODY_BYTES: 413, each with a JSON error and the connection closed, the body unread). The API
key is compared in constant time.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.llm.base import ChatMessage, ChatModel, DecodingParams, Role

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 512
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_CONNECTIONS = 16  # served at once, each by a thread of the pool
IDLE_TIMEOUT_S = 30.0  # an idle keep-alive connection (or a stalled request) is closed after this
DIGITS = re.compile(r"[0-9]{1,20}")


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str = ""


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_TextPart] | None = None

    def to_chat(self) -> ChatMessage:
        role: Role = "system" if self.role == "developer" else self.role
        if isinstance(self.content, list):
            return ChatMessage(role, "".join(p.text for p in self.content if p.type == "text"))
        return ChatMessage(role, self.content or "")


class _JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = "response"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class _ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchemaFormat | None = None


class ChatCompletionRequest(BaseModel):
    """The subset of the OpenAI request this server understands; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    n: int = 1
    stream: bool = False
    response_format: _ResponseFormat | None = None


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None,
                 kind: str = "invalid_request_error", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.param, self.kind, self.headers = status, param, kind, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": None}}


class ChatCompletionsServer(HTTPServer):
    """`ChatCompletionsServer(model, port=0).start()` serves in a background thread; `.url` ends in /v1."""

    def __init__(self, model: ChatModel, host: str = "127.0.0.1", port: int = 0, *, name: str | None = None,
                 json_schema: bool = True, api_key: str | None = None, queue_timeout: float = 600.0,
                 max_connections: int = MAX_CONNECTIONS, idle_timeout: float = IDLE_TIMEOUT_S) -> None:
        self.model = model
        self.served_name = name or model.name
        self.json_schema = json_schema
        self.api_key = api_key
        self.queue_timeout = queue_timeout
        self.idle_timeout = idle_timeout
        self.generate_lock = threading.Lock()  # one generation at a time: the model keeps a KV cache
        self._slots = threading.BoundedSemaphore(max_connections)
        self._pool = ThreadPoolExecutor(max_connections, thread_name_prefix="openai-server-connection")
        self._open: set[socket.socket] = set()  # connections being served, shut at close()
        self._open_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Last: a failed bind calls server_close(), which needs the state above.
        super().__init__((host, port), _Handler)

    # -- connections: a bounded pool instead of a thread each ---------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            self._pool.submit(self._serve_connection, request, client_address)
        except RuntimeError:  # the pool is shut down: the server is closing
            self._slots.release()
            self.shutdown_request(request)

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)
            self.shutdown_request(request)
            self._slots.release()

    def server_close(self) -> None:
        """Stop listening and end every connection (the pool's threads then finish at once)."""
        super().server_close()
        with self._open_lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ChatCompletionsServer:
        self._thread = threading.Thread(target=self.serve_forever, name="openai-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> ChatCompletionsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API, independent of HTTP ---------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        entry = {"id": self.served_name, "object": "model", "created": 0, "owned_by": "autogpt",
                 "max_model_len": self.model.context_window}
        return {"object": "list", "data": [entry]}

    def complete(self, request: ChatCompletionRequest) -> dict[str, Any]:
        if request.model != self.served_name:
            raise HttpError(404, f"model {request.model!r} does not exist; this server serves "
                                 f"{self.served_name!r}", param="model", kind="model_not_found")
        if request.stream or request.n != 1:
            raise HttpError(400, "this server supports neither streaming nor n > 1",
                            param="stream" if request.stream else "n")
        schema = self._schema(request.response_format)
        max_tokens = request.max_completion_tokens or request.max_tokens or DEFAULT_MAX_TOKENS
        params = DecodingParams(max_new_tokens=min(max_tokens, self.model.context_window),
                                temperature=request.temperature, top_p=request.top_p, seed=request.seed)
        messages = [m.to_chat() for m in request.messages]
        with self._turn():
            if schema is not None:
                self._check_compiles(schema)
            try:
                generation = self.model.generate(messages, json_schema=schema, params=params)
            except Exception as exc:
                log.exception("generation failed")
                raise HttpError(500, f"generation failed: {type(exc).__name__}: {exc}",
                                kind="server_error") from exc
        cached = generation.tokens_in - generation.prefilled_tokens
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": self.served_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": generation.text},
                         "finish_reason": "stop" if generation.finished else "length"}],
            "usage": {"prompt_tokens": generation.tokens_in, "completion_tokens": generation.tokens_out,
                      "total_tokens": generation.tokens_in + generation.tokens_out,
                      "prompt_tokens_details": {"cached_tokens": cached}},
        }

    def _schema(self, response_format: _ResponseFormat | None) -> dict[str, Any] | None:
        if response_format is None or response_format.type == "text":
            return None
        if not self.json_schema:
            raise HttpError(400, f"response_format {response_format.type!r} is not supported by this server",
                            param="response_format")
        if response_format.type == "json_object":
            return {"type": "object"}
        if response_format.json_schema is None:
            raise HttpError(400, "response_format json_schema needs a json_schema object",
                            param="response_format")
        return response_format.json_schema.schema_

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if not self.generate_lock.acquire(timeout=self.queue_timeout):
            raise HttpError(503, "the model is busy; try again shortly", kind="server_busy",
                            headers={"Retry-After": "1"})
        try:
            yield
        finally:
            self.generate_lock.release()

    def _check_compiles(self, schema: dict[str, Any]) -> None:
        """A schema the model's grammar cannot take is the client's error (400), not a server failure."""
        grammar = getattr(self.model, "grammar", None)  # the transformers backend's schema compiler
        if grammar is None:
            return
        try:  # compiled once and cached, so generation does not pay for it again
            grammar.matcher(schema)
        except Exception as exc:
            raise HttpError(400, f"response_format schema not supported: {exc}",
                            param="response_format") from None


def _refuse_busy(request: socket.socket) -> None:
    """Answer a connection past the limit with a 503 (from the accepting thread: briefly, never blocking)."""
    body = json.dumps(HttpError(503, "the server is serving as many connections as it takes; try again "
                                "shortly", kind="server_busy").body()).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n").encode()
    with contextlib.suppress(OSError):
        request.settimeout(0.1)
        request.sendall(head + body)
        request.shutdown(socket.SHUT_WR)
        request.recv(1 << 16)  # what the client sent, so that closing does not reset the connection


class _Handler(BaseHTTPRequestHandler):
    server: ChatCompletionsServer
    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse one connection

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # per read: idle keep-alive connections and stalled requests
        super().setup()

    def do_GET(self) -> None:
        self._answer(lambda: self._route({"/v1/models": self.server.models, "/health": lambda: {"ok": True}}))

    def do_POST(self) -> None:
        self._body_read = False
        self._answer(lambda: self._route({"/v1/chat/completions": self._chat}))

    def _route(self, routes: dict[str, Any]) -> dict[str, Any]:
        self._check_key()
        handler = routes.get(self.path.split("?")[0].rstrip("/"))
        if handler is None:
            raise HttpError(404, f"no route {self.command} {self.path}", kind="not_found")
        return handler()

    def _body_length(self) -> int:
        """The request's Content-Length, validated before a byte of the body is read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise HttpError(411, "chunked request bodies are not supported: send Content-Length")
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not values:
            raise HttpError(411, "Content-Length is required")
        value = values.pop()
        if values or not DIGITS.fullmatch(value):
            raise HttpError(400, "Content-Length must be one whole number of bytes")
        if int(value) > MAX_BODY_BYTES:
            raise HttpError(413, f"request body too large: more than {MAX_BODY_BYTES} bytes")
        return int(value)

    def _chat(self) -> dict[str, Any]:
        length = self._body_length()
        body = self.rfile.read(length)
        self._body_read = True
        if len(body) < length:
            self.close_connection = True
            raise HttpError(400, "the request body ended before Content-Length bytes")
        try:
            request = ChatCompletionRequest.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise HttpError(400, f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        return self.server.complete(request)

    def _check_key(self) -> None:
        key = self.server.api_key
        given = (self.headers.get("Authorization") or "").encode("utf-8", "surrogateescape")
        if key and not hmac.compare_digest(given, f"Bearer {key}".encode()):
            raise HttpError(401, "missing or wrong API key", kind="authentication_error")

    def _answer(self, produce: Any) -> None:
        headers: dict[str, str] = {}
        try:
            status, body = 200, produce()
        except HttpError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
            if self.command == "POST" and not getattr(self, "_body_read", True):
                self.close_connection = True  # its body is still unread: it must not be taken for a request
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # the base class names it `format`
        log.info("%s %s", self.address_string(), format % args)


def main(argv: list[str] | None = None) -> None:
    """`python -m agent.llm.openai_server ...`: the same program as `autogpt serve ...` (agent/cli/serve.py)."""
    from agent.cli.serve import serve_main

    serve_main(argv, prog="python -m agent.llm.openai_server")


if __name__ == "__main__":
    main()
