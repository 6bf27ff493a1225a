"""A chat model behind an OpenAI-compatible server (vLLM, llama.cpp, Ollama, `agent.llm.openai_server`).

With a JSON schema the request asks for server-side constrained output (`response_format` json_schema).
A server that rejects that is remembered, and from then on the schema is stated in the prompt instead.
Either way the reply is checked against the schema and, when it does not match, the model is re-asked
with the problem (a bounded number of times): some servers accept `response_format` and ignore it.

A reply grammar (agent/llm/reply_grammar.py: JSON, then a fenced block) is not sent: servers take grammars
in different dialects, or not at all. Its JSON-only forms become a JSON schema as above; with a fenced block
the prompt (which describes the format) asks for it, and the reply is checked and re-asked the same way.
That is why `autogpt run` uses the JSON action format with a server unless told otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from agent.errors import SetupError
from agent.llm.base import ChatMessage, DecodingParams, Generation, ModelSetupError
from agent.llm.reply_grammar import ReplyGrammar, ReplySyntaxError, split_reply

log = logging.getLogger(__name__)

OPENAI_PREFIX = "openai:"
API_KEY_VARIABLES = ("AUTOGPT_API_KEY", "OPENAI_API_KEY")
DEFAULT_CONTEXT_WINDOW = 4096  # when the server does not say (vLLM does: max_model_len)
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
SCHEMA_REJECTED_STATUS = frozenset({400, 404, 415, 422, 501})  # ways servers say "no such parameter"
MAX_RETRY_AFTER_S = 30.0
DEFAULT_PARAMS = DecodingParams()

# Said to the model only on the fallback path (no server-side schema support).
SCHEMA_INSTRUCTION = ("Reply with one JSON object and nothing else (no prose, no code fence). "
                      "It must match this JSON schema:\n{schema}")
SCHEMA_REASK = "That reply was rejected: {problem}. Reply again with only the corrected JSON object."
REPLY_REASK = "That reply was rejected: {problem}. Reply again with only the corrected action."


class ModelServerError(ModelSetupError, SetupError):
    """The server cannot be reached or refused the request; the message says which and why.

    Both a ModelSetupError (raised while loading) and a SetupError (raised mid-run, where the run stops
    cleanly and can be resumed once the server is back). `status` is the HTTP status of a refusal.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Transient(Exception):
    """A failure worth retrying (connection refused or reset, timeout, 429, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.unreachable = unreachable


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def parse_openai_spec(spec: str) -> tuple[str, str | None]:
    """`openai:http://host:8000/v1#model` -> (base URL, model). Without `#model` the server's first model
    is used; a URL without a path gets `/v1`."""
    if not spec.startswith(OPENAI_PREFIX):
        raise ValueError(f"not an OpenAI server spec (expected {OPENAI_PREFIX}URL#MODEL): {spec!r}")
    url, _, model = spec[len(OPENAI_PREFIX):].partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ModelSetupError(f"bad server URL {url!r} in {spec!r}; expected e.g. "
                              f"{OPENAI_PREFIX}http://127.0.0.1:8000/v1#my-model")
    base_url = url.rstrip("/") if parts.path.strip("/") else url.rstrip("/") + "/v1"
    return base_url, model.strip() or None


@dataclass(frozen=True)
class _Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    finished: bool


class OpenAIChatModel:
    """The ChatModel protocol over HTTP. One instance holds one connection pool; `close()` releases it."""

    def __init__(self, base_url: str, model: str | None = None, *, api_key: str | None = None,
                 timeout: float = 120.0, attempts: int = 4, max_reasks: int = 2,
                 context_window: int | None = None, json_schema_support: bool | None = None) -> None:
        import httpx

        self._httpx = httpx
        self.base_url = base_url.rstrip("/")
        self.device = self.base_url
        self.attempts = attempts
        self.max_reasks = max_reasks
        # None: not known yet; the first schema request finds out. False: state the schema in the prompt.
        self.json_schema_support = json_schema_support
        key = api_key or next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=10.0))
        try:
            served = self._served_models()
        except ModelSetupError:
            self._client.close()
            raise
        if model is None:
            if not served:
                self._client.close()
                raise ModelSetupError(f"the server at {self.base_url} lists no models; name one: "
                                      f"{OPENAI_PREFIX}{self.base_url}#MODEL")
            model = str(served[0]["id"])
        self.name = model
        info = next((m for m in served if m.get("id") == model), {})
        self.context_window = int(context_window or info.get("max_model_len") or DEFAULT_CONTEXT_WINDOW)

    # -- the ChatModel protocol ---------------------------------------------------------------------

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """An estimate (about four characters a token, plus the chat template's per-message overhead)."""
        return sum(len(m.content) for m in messages) // 4 + 4 * len(messages)

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        grammar: ReplyGrammar | None = None,
        params: DecodingParams = DEFAULT_PARAMS,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        """With `json_schema`, the returned text is the JSON object alone when a valid one came back within
        `max_reasks` re-asks; otherwise the last reply as it was, for the caller's own parser to reject.
        The same with `grammar`, whose JSON-only forms are sent as a schema."""
        started = time.monotonic()
        if grammar is not None and all(f.body_language is None for f in grammar.forms):
            schemas = [f.schema for f in grammar.forms]
            json_schema, grammar = (schemas[0] if len(schemas) == 1 else {"anyOf": schemas}), None
        if grammar is not None:
            text, replies = self._valid_reply(messages, grammar, params)
        elif json_schema is None:
            replies = [self._complete(messages, params)]
            text = replies[0].text
        else:
            text, replies = self._valid_json(messages, json_schema, params)
        if on_text is not None:
            on_text(text)
        prompt = sum(r.prompt_tokens for r in replies)
        return Generation(text=text, tokens_in=prompt, tokens_out=sum(r.completion_tokens for r in replies),
                          prefilled_tokens=prompt - sum(r.cached_tokens for r in replies),
                          seconds=time.monotonic() - started, finished=replies[-1].finished)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _valid_json(self, messages: list[ChatMessage], schema: dict[str, Any],
                    params: DecodingParams) -> tuple[str, list[_Reply]]:
        """Ask, check the reply (whoever constrained it), re-ask with the fault, at most `max_reasks` times.
        Gives the JSON alone when valid, else the last reply as it came; and every reply, for the counts."""
        conversation, replies = list(messages), []
        while True:
            reply = self._structured(conversation, schema, params)
            replies.append(reply)
            candidate = extract_json_text(reply.text)
            problem = _reply_problem(candidate, schema, reply)
            if problem is None:
                return candidate, replies
            log.info("reply %d does not match the schema: %s", len(replies), problem)
            if len(replies) > self.max_reasks:
                return reply.text, replies
            conversation += [ChatMessage("assistant", reply.text),
                             ChatMessage("user", SCHEMA_REASK.format(problem=problem))]

    def _valid_reply(self, messages: list[ChatMessage], grammar: ReplyGrammar,
                     params: DecodingParams) -> tuple[str, list[_Reply]]:
        """`_valid_json` for a reply grammar the server is not given: asked for in the prompt, checked here."""
        conversation, replies = list(messages), []
        while True:
            reply = self._complete(conversation, params)
            replies.append(reply)
            problem = reply_grammar_problem(reply.text, grammar)
            if problem is None:
                return reply.text.strip(), replies
            log.info("reply %d does not match the grammar: %s", len(replies), problem)
            if len(replies) > self.max_reasks:
                return reply.text, replies
            conversation += [ChatMessage("assistant", reply.text),
                             ChatMessage("user", REPLY_REASK.format(problem=problem))]

    # -- requests -----------------------------------------------------------------------------------

    def _structured(self, messages: list[ChatMessage], schema: dict[str, Any],
                    params: DecodingParams) -> _Reply:
        """Ask with server-side constrained output unless the server is known not to support it."""
        prompted = with_schema_instruction(messages, schema)
        if self.json_schema_support is False:
            return self._complete(prompted, params)
        response_format = {"type": "json_schema", "json_schema": {"name": "action", "schema": schema,
                                                                  "strict": True}}
        try:
            reply = self._complete(messages, params, response_format=response_format)
        except ModelServerError as exc:
            if exc.status not in SCHEMA_REJECTED_STATUS:
                raise
            # Asking again without response_format tells "unsupported" apart from "bad request" (which
            # fails again and is raised from here).
            reply = self._complete(prompted, params)
            if self.json_schema_support is None:  # never worked: no support at all, stop asking for it
                self.json_schema_support = False
                log.warning("%s rejected response_format json_schema (%s); from now on the schema is "
                            "stated in the prompt", self.base_url, exc)
            else:  # it works for other schemas: some servers refuse keywords they cannot compile
                log.warning("%s rejected this schema (%s); stated it in the prompt", self.base_url, exc)
            return reply
        self.json_schema_support = True
        return reply

    def _complete(self, messages: list[ChatMessage], params: DecodingParams, *,
                  response_format: dict[str, Any] | None = None) -> _Reply:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if response_format is not None:
            body["response_format"] = response_format
        data = self._request("POST", "/chat/completions", body)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ModelServerError(f"the server at {self.base_url} sent a reply without choices[0].message: "
                                   f"{json.dumps(data)[:300]}") from None
        usage = data.get("usage") or {}
        prompt = usage.get("prompt_tokens") or self.count_tokens(messages)
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return _Reply(text=text, prompt_tokens=int(prompt),
                      completion_tokens=int(usage.get("completion_tokens") or len(text) // 4 + 1),
                      cached_tokens=int(cached), finished=choice.get("finish_reason") != "length")

    def _served_models(self) -> list[dict[str, Any]]:
        """The server's /models list, or [] where it has none (the request itself still decides)."""
        try:
            data = self._request("GET", "/models")
        except ModelServerError as exc:
            if exc.status in (404, 405, 501):
                return []
            raise
        models = data.get("data") if isinstance(data, dict) else None
        return [m for m in models if isinstance(m, dict) and "id" in m] if isinstance(models, list) else []

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call, retried with backoff on transient failures; other failures are ModelServerErrors."""
        from tenacity import (
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential,
            wait_random,
        )

        backoff = wait_exponential(multiplier=0.5, max=8.0) + wait_random(0.0, 0.5)

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Transient) and exc.retry_after is not None:
                return min(exc.retry_after, MAX_RETRY_AFTER_S)
            return backoff(state)

        def before_sleep(state: Any) -> None:
            log.warning("%s %s%s failed (%s); retrying", method, self.base_url, path,
                        state.outcome.exception())

        retrying = Retrying(stop=stop_after_attempt(self.attempts), wait=wait, before_sleep=before_sleep,
                            retry=retry_if_exception_type(_Transient), reraise=True)
        try:
            return retrying(self._send, method, path, body)
        except _Transient as exc:
            hint = "; is it running, and is the URL right?" if exc.unreachable else ""
            raise ModelServerError(f"the model server at {self.base_url} did not answer {method} {path} "
                                   f"after {self.attempts} attempts: {exc}{hint}") from exc
        except _Rejected as exc:
            raise ModelServerError(f"the model server at {self.base_url} refused {method} {path}: {exc}",
                                   exc.status) from exc

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        httpx = self._httpx
        try:
            response = self._client.request(method, path, json=body)
        except httpx.TransportError as exc:  # refused, reset, timed out
            raise _Transient(f"{type(exc).__name__}: {exc}", unreachable=True) from exc
        if response.status_code in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {response.status_code}: {_error_message(response)}",
                             _retry_after(response.headers.get("retry-after")))
        if response.status_code >= 400:
            raise _Rejected(response.status_code, _error_message(response))
        try:
            return response.json()
        except ValueError:
            raise _Transient(f"the reply was not JSON: {response.text[:200]!r}") from None


def _error_message(response: Any) -> str:
    """The server's own words: OpenAI `{"error": {"message"}}`, vLLM `{"message"}`, FastAPI `{"detail"}`."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if data.get(key):
                return str(data[key])[:300]
    return json.dumps(data)[:300]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare from model servers; fall back to backoff


def with_schema_instruction(messages: list[ChatMessage], schema: dict[str, Any]) -> list[ChatMessage]:
    """State the schema in the system message (added first where there is none)."""
    instruction = SCHEMA_INSTRUCTION.format(schema=json.dumps(schema, separators=(",", ":")))
    if messages and messages[0].role == "system":
        return [ChatMessage("system", f"{messages[0].content}\n\n{instruction}"), *messages[1:]]
    return [ChatMessage("system", instruction), *messages]


_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)


def extract_json_text(text: str) -> str:
    """The JSON in a reply: without a code fence around it, or the outermost {...} when prose surrounds it."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        json.loads(stripped)
        return stripped
    except ValueError:
        start, end = stripped.find("{"), stripped.rfind("}")
        return stripped[start:end + 1] if 0 <= start < end else stripped


def _reply_problem(text: str, schema: dict[str, Any], reply: _Reply) -> str | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if not reply.finished:
            return f"it was cut off after {reply.completion_tokens} tokens, before the JSON ended; be brief"
        if not text.lstrip().startswith(("{", "[")):
            return f"it is not JSON: it starts with {text.strip()[:30]!r}, not with {{"
        return f"it is not valid JSON ({exc.msg} at character {exc.pos})"
    return schema_problem(data, schema)


def reply_grammar_problem(text: str, grammar: ReplyGrammar) -> str | None:
    """The way a reply breaks a reply grammar (the JSON header against the forms with or without a block,
    as the reply has one or not), or None."""
    try:
        reply = split_reply(text)
    except ReplySyntaxError as exc:
        return str(exc)
    schemas = [f.schema for f in grammar.forms if (f.body_language is None) == (reply.body is None)]
    if not schemas:
        return "a code block is not allowed here" if reply.body is not None else "a code block must follow"
    return schema_problem(reply.header, schemas[0] if len(schemas) == 1 else {"anyOf": schemas})


def schema_problem(instance: Any, schema: dict[str, Any]) -> str | None:
    """The first way `instance` breaks `schema`, or None. Covers the JSON Schema subset tools produce:
    type, enum, const, properties, required, additionalProperties, items, anyOf/oneOf (both as "any of")
    /allOf, $ref into $defs, string/array lengths, numeric bounds, pattern. Other keywords are not checked."""
    fault = _check(instance, schema, schema, "")
    return fault.text if fault else None


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: ((isinstance(v, int) and not isinstance(v, bool))
                          or (isinstance(v, float) and v.is_integer())),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}

_BOUNDS: tuple[tuple[str, Callable[[Any], Any], Callable[[Any, Any], bool], str], ...] = (
    ("minLength", len, lambda n, b: n >= b, "is shorter than {} characters"),
    ("maxLength", len, lambda n, b: n <= b, "is longer than {} characters"),
    ("minItems", len, lambda n, b: n >= b, "has fewer than {} items"),
    ("maxItems", len, lambda n, b: n <= b, "has more than {} items"),
    ("minimum", float, lambda n, b: n >= b, "is less than {}"),
    ("maximum", float, lambda n, b: n <= b, "is greater than {}"),
    ("exclusiveMinimum", float, lambda n, b: n > b, "is not greater than {}"),
    ("exclusiveMaximum", float, lambda n, b: n < b, "is not less than {}"),
)


class _Fault(NamedTuple):
    depth: int  # how far into the value it was found: among anyOf branches the deepest is the closest
    text: str


def _fault(path: str, text: str) -> _Fault:
    return _Fault(path.count(".") + path.count("[") + bool(path), f"{path or 'the reply'} {text}")


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str) -> _Fault | None:
    if "$ref" in schema:
        schema = _resolve(schema["$ref"], root)
    for sub in schema.get("allOf", []):
        if fault := _check(value, sub, root, path):
            return fault
    for key in ("anyOf", "oneOf"):
        if key in schema:
            faults = [_check(value, sub, root, path) for sub in schema[key]]
            if all(faults):
                # closest: the branch whose discriminating consts ("tool": "finish") match, then the deepest
                ranked = [(_const_matches(value, sub, root), f.depth, -i, f)
                          for i, (sub, f) in enumerate(zip(schema[key], faults, strict=True)) if f]
                closest = max(ranked, key=lambda r: r[:3])[3]
                return _Fault(closest.depth, f"{path or 'the reply'} matches none of the {len(faults)} "
                                             f"allowed forms (closest: {closest.text})")
    if "const" in schema and value != schema["const"]:
        return _fault(path, f"must be {json.dumps(schema['const'])}")
    if "enum" in schema and value not in schema["enum"]:
        return _fault(path, f"must be one of {', '.join(json.dumps(e) for e in schema['enum'])}")
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES.get(t, lambda v: True)(value) for t in names):
            return _fault(path, f"must be of type {' or '.join(names)}, not {json.dumps(value)[:60]}")
    return _check_contents(value, schema, root, path)


def _check_contents(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str) -> _Fault | None:
    for key, measure, ok, message in _BOUNDS:
        sized = isinstance(value, str | list) if key.endswith(("Length", "Items")) else \
            _TYPES["number"](value)
        if key in schema and sized and not ok(measure(value), schema[key]):
            return _fault(path, message.format(schema[key]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        return _fault(path, f"does not match the pattern {schema['pattern']}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            if fault := _check(item, schema["items"], root, f"{path}[{i}]"):
                return fault
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            return _fault(path, f"is missing {', '.join(map(repr, missing))}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                sub: Any = properties[key]
            elif extra is False:
                return _fault(path, f"has an unexpected key {key!r}")
            else:
                sub = extra if isinstance(extra, dict) else {}
            if fault := _check(item, sub, root, f"{path}.{key}" if path else key):
                return fault
    return None


def _const_matches(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> int:
    if "$ref" in schema:
        schema = _resolve(schema["$ref"], root)
    if not isinstance(value, dict):
        return 0
    return sum(1 for k, sub in schema.get("properties", {}).items()
               if isinstance(sub, dict) and "const" in sub and value.get(k) == sub["const"])


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        return {}  # remote references: not checked
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}
