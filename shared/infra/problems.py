"""One place that turns refusals into ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.rules import DomainError

PROBLEM = "application/problem+json"
log = logging.getLogger("swp.problems")


class Problem(BaseModel):
    """RFC 9457 problem details, plus the business rule id that refused the command."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    rule: str | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
    facts: dict[str, Any] | None = None  # the numbers behind a refusal (e.g. R-FIN-2: source, cap, excess in fen)


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = Problem(
        type=f"https://swp.example.gov.cn/problems/{extra.get('rule') or status}",
        title=title,
        status=status,
        detail=detail,
        **extra,
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM, headers=headers
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        response = problem_response(exc.status, exc.title, exc.detail, rule=exc.rule, field=exc.field, facts=exc.facts)
        for name, value in getattr(exc, "headers", {}).items():  # e.g. Retry-After of a 503
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0]["field"] if errors else None
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(422, "Invalid request", detail, field=first, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # A body the framework could not parse (malformed multipart form, undecodable form):
            # the documented 422 naming `body`, as for malformed JSON — not an undocumented 400.
            return problem_response(422, "Invalid request", f"malformed request body: {exc.detail}", field="body")
        response = problem_response(exc.status_code, str(exc.detail), str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(IntegrityError)
    async def conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("concurrency conflict: %s", exc)
        return problem_response(
            409, "Conflict", "another command changed this record first; reload and retry"
        )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM: {}}, "description": desc}
    for code, desc in {
        401: "Missing or invalid bearer token",
        403: "Role or county not granted",
        404: "Unknown id",
        409: "Concurrency conflict or duplicate command",
        413: "Request body larger than the service accepts",
        422: "Validation or business-rule refusal (see `rule`); malformed JSON, duplicate keys (field `body`)",
    }.items()
}
