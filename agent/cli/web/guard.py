"""Every request passes here first: the Host it names, the bearer token, where a change comes from, how big
it is; and every response leaves with headers that keep the page to its own assets.

A page bound to 127.0.0.1 is still reachable by any web page the user opens (a form post, a DNS name
rebound to 127.0.0.1), so changes must come from this origin as JSON, and the Host must be one of ours.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "autogpt_ui_token"
MAX_BODY_BYTES = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD"})
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                 b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


def host_name(host_header: str) -> str:
    """The name part of a Host header: `127.0.0.1:8765` -> `127.0.0.1`, `[::1]:80` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def token_matches(expected: str, supplied: str | None) -> bool:
    return supplied is not None and hmac.compare_digest(expected.encode(), supplied.encode())


class RequestGuard:
    """ASGI middleware: Host allow-list, bearer token (header, cookie, or `?token=` once), same-origin
    JSON for changes, a declared body size limit (Starlette's own limit cuts a longer chunked body), and
    security headers on every response."""

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: frozenset[str] | None,
                 max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.token, self.allowed_hosts, self.max_body = app, token, allowed_hosts, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        query = _query(scope)
        if self.token is not None and scope["method"] in SAFE_METHODS and token_matches(self.token,
                                                                                       query.get("token")):
            await _token_redirect(send, scope, query, self.token)  # the token moves from the URL to a cookie
            return
        await self.app(scope, receive, _with_headers(send))

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            return 400, f"this server does not answer for the host {host!r}"
        if self.token is not None and not self._authorized(scope, headers):
            return 401, "a token is needed: open the address `autogpt ui` printed (it ends in ?token=...)"
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            scheme = scope.get("scheme", "http")
            if origin is not None and origin != f"{scheme}://{host}":
                return 403, "changes are accepted only from this page"
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return 415, "send JSON (Content-Type: application/json)"
            length = headers.get("content-length") or "0"
            if not length.isdigit() or int(length) > self.max_body:
                return 413, f"the request is larger than {self.max_body} bytes"
        return None

    def _authorized(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token_matches(self.token, value.strip()):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is the same as none
            return False
        morsel = cookie.get(TOKEN_COOKIE)
        if morsel is not None and token_matches(self.token, morsel.value):
            return True
        return scope["method"] in SAFE_METHODS and token_matches(self.token, _query(scope).get("token"))


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


async def _reply(send: Send, status: int, text: str) -> None:
    body = json.dumps({"error": text}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def _token_redirect(send: Send, scope: Scope, query: dict[str, str], token: str) -> None:
    rest = urlencode({k: v for k, v in query.items() if k != "token"})
    location = scope.get("path", "/") + (f"?{rest}" if rest else "")
    cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode("latin-1")),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": b""})
