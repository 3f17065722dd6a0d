"""The HTTP trust boundary every service shares (issue 15): security headers, request size limits
and strict JSON bodies. Two pure ASGI middlewares, installed by ``create_service_app`` (and the
gateway), so no route can forget them.

- :class:`SecurityHeaders`: every response carries ``Content-Security-Policy`` (nothing may be
  loaded or framed: ``default-src 'none'; frame-ancestors 'none'``; HTML pages such as ``/docs``
  get a policy that lets them load their own assets), ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``; any ``Server`` header the
  application sets is dropped (uvicorn's own is switched off with ``--no-server-header``).
  A header the application already set is kept.
- :class:`RequestLimits`: a body larger than its limit is 413 problem+json before any route runs
  (JSON bodies ``max_json_body_bytes``, uploads ``max_upload_bytes``; Content-Length is checked
  first, a chunked body is counted as it arrives). A JSON body must be one well-formed JSON text
  without duplicate object keys, ``NaN``/``Infinity`` or nesting deeper than ``MAX_JSON_DEPTH``:
  otherwise 422 problem+json naming ``body`` — never a silently chosen last duplicate.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.infra.problems import problem_response

MAX_JSON_DEPTH = 32
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# HTML pages (the OpenAPI /docs and /redoc pages): their own scripts and styles only, every asset
# served by the platform (shared/infra/docs_assets), no inline script (Swagger UI is started from
# swagger-init.js). Inline styles stay allowed: Swagger UI and ReDoc set style attributes and
# ReDoc injects its styles; ReDoc's search runs in a worker it makes from a blob.
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)
STATIC_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                present = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                csp = HTML_CSP if content_type.startswith(b"text/html") else API_CSP
                for name, value in (*STATIC_HEADERS, (b"content-security-policy", csp.encode())):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than ``limit`` (walked without recursion, per container)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def check_json(raw: bytes) -> str | None:
    """Why ``raw`` is not an acceptable JSON body, or None."""
    if not raw.strip():
        return None  # no body: the route decides whether it needs one
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    try:
        parsed = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except DuplicateKey as exc:
        return f"{exc}: every key may appear once in an object"
    except RecursionError:
        return f"the body nests deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as exc:
        return f"malformed JSON: {exc}"
    if isinstance(parsed, dict | list) and _too_deep(parsed, MAX_JSON_DEPTH):
        return f"the body nests deeper than {MAX_JSON_DEPTH} levels"
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class RequestLimits:
    """Bounded, well-formed request bodies (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        is_json = _is_json(content_type) or not content_type
        limit = self.max_json_bytes if is_json else self.max_upload_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if is_json:
            reason = check_json(body)
            if reason is not None:
                response = problem_response(
                    422, "Invalid request", f"body: {reason}", field="body",
                    errors=[{"field": "body", "message": reason, "type": "json_invalid"}],
                )
                await response(scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            413, "Content Too Large", f"the request body exceeds {limit} bytes (请求体过大)", field="body"
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
