"""Every error the API returns has one shape: RFC 9457 problem details (`application/problem+json`).

Bad input is a 4xx with a message that says what was wrong; anything unexpected is a 500 with an id to find it in
the log, never a traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragrec.chat import ConversationNotFound
from ragrec.ingestion import IngestError
from ragrec.recommender import NoCatalog
from ragrec.retrieval.candidates import UnknownItems
from ragrec.retrieval.filters import FilterSyntaxError
from ragrec.store import StoreError, StoreLockedError

log = logging.getLogger("ragrec.api")
PROBLEM = "application/problem+json"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_body(status: int, title: str, detail: str | None = None, instance: str | None = None) -> bytes:
    return Problem(title=title, status=status, detail=detail, instance=instance).model_dump_json(
        exclude_none=True).encode()


def problem(status: int, title: str, detail: str | None = None, request: Request | None = None,
            **extra: Any) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, instance=request.url.path if request else None, **extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM, headers=headers)


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Invalid request",
           503: "Service unavailable"}


TOO_LARGE = "the request body is larger than this route accepts"


def too_large(path: str, limits: dict[str, int], default: int) -> str:
    """The 413's detail, with the route's limit (catalog uploads have a larger one than the JSON routes)."""
    limit = limits.get(path, default)
    size = f"{limit / 1e6:g} MB" if limit >= 1_000_000 else f"{limit:,} bytes"
    return f"{TOO_LARGE} ({size})"


# ragrec's own errors, as (status, title, detail); the most specific class first (NoCatalog is a StoreError, ...)
_DOMAIN: dict[type[Exception], tuple[int, str, Any]] = {
    UnknownItems: (422, "Unknown items", lambda e: str(e.args[0])),
    FilterSyntaxError: (422, "Invalid filter", str),
    IngestError: (422, "Cannot ingest", str),
    ConversationNotFound: (404, "Not found", lambda e: f"no conversation {e.args[0]!r} (it may have expired): "
                                                       "start a new one without conversation_id"),
    NoCatalog: (409, "No catalog", str),
    StoreLockedError: (503, "Service unavailable", str),
    StoreError: (503, "Service unavailable", lambda e: f"vector store: {e}"),
    ValueError: (422, "Invalid request", str),  # bad combinations the request models cannot see
}


def as_problem(exc: Exception, instance: str | None = None) -> Problem:
    """The problem an exception raised after a response started (a stream) reports in-band; logged like a 500
    when it is one."""
    for exc_type, (status, title, detail) in _DOMAIN.items():
        if isinstance(exc, exc_type):
            return Problem(title=title, status=status, detail=detail(exc), instance=instance)
    incident = uuid.uuid4().hex[:12]
    log.error("unexpected error %s in the stream of %s", incident, instance, exc_info=exc)
    return Problem(title="Internal error", status=500, instance=instance,
                   detail=f"something went wrong on our side (incident {incident})")


def _answer(status: int, title: str, detail):
    async def handler(request: Request, exc: Exception):
        return problem(status, title, detail(exc), request)

    return handler


def _json(content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _refused(request: Request) -> JSONResponse | None:
    """FastAPI parses a JSON body before it runs the route's dependencies, so a body it cannot parse would be
    answered (400, 422) before the key is checked: check it here first, so that a request without a valid key
    learns nothing but 401 (or 403)."""
    from ragrec.api.deps import refusal, required_role

    role = required_role(request)
    refused = refusal(request, role, request.app.state.services.settings) if role else None
    if refused is None:
        return None
    return problem(refused.status_code, _TITLES[refused.status_code], refused.detail, request)


def _message(error: dict) -> str:
    if error.get("type") == "json_invalid":  # FastAPI's "JSON decode error" at loc ("body", offset)
        loc = error.get("loc", ())
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return f"the body is not valid JSON: {(error.get('ctx') or {}).get('error', 'cannot be read')}{at}"
    return error.get("msg", "").removeprefix("Value error, ")


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and (refused := _refused(request)):  # "There was an error parsing the body"
            return refused
        # the same words, Content-Length or not
        detail = request.app.state.too_large(request.url.path) if exc.status_code == 413 else str(exc.detail)
        response = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), detail, request)
        response.headers.update(exc.headers or {})  # a 405's Allow
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        if refused := _refused(request):
            return refused
        if not _json(request.headers.get("content-type")) and any(tuple(e.get("loc", ())) == ("body",)
                                                                    for e in exc.errors()):
            # FastAPI reads a body that is not declared JSON as bytes, which then "is not an object"
            got = request.headers.get("content-type") or "none"
            return problem(415, _TITLES[415], f"send the body as JSON with Content-Type: application/json (got "
                           f"{got[:100]})", request)
        errors = [{"loc": ["body"] if e.get("type") == "json_invalid" else list(e.get("loc", ())), "msg": _message(e),
                   "type": e.get("type", "")} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem(422, "Invalid request", detail, request, errors=errors)

    for exc_type, (status, title, detail) in _DOMAIN.items():
        app.add_exception_handler(exc_type, _answer(status, title, detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", incident, request.method, request.url.path)
        return problem(500, "Internal error", f"something went wrong on our side (incident {incident})", request)
