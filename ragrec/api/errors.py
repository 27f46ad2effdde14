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


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail), request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem(422, "Invalid request", detail, request, errors=errors)

    @app.exception_handler(UnknownItems)
    async def unknown_items(request: Request, exc: UnknownItems):
        return problem(422, "Unknown items", str(exc.args[0]), request)

    @app.exception_handler(FilterSyntaxError)
    async def bad_filter(request: Request, exc: FilterSyntaxError):
        return problem(422, "Invalid filter", str(exc), request)

    @app.exception_handler(IngestError)
    async def bad_ingest(request: Request, exc: IngestError):
        return problem(422, "Cannot ingest", str(exc), request)

    @app.exception_handler(ConversationNotFound)
    async def no_conversation(request: Request, exc: ConversationNotFound):
        return problem(404, "Not found", f"no conversation {exc.args[0]!r} (it may have expired): start a new one "
                       "without conversation_id", request)

    @app.exception_handler(NoCatalog)
    async def no_catalog(request: Request, exc: NoCatalog):
        return problem(409, "No catalog", str(exc), request)

    @app.exception_handler(StoreLockedError)
    async def locked(request: Request, exc: StoreLockedError):
        return problem(503, "Service unavailable", str(exc), request)

    @app.exception_handler(StoreError)
    async def store_down(request: Request, exc: StoreError):
        return problem(503, "Service unavailable", f"vector store: {exc}", request)

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError):  # bad combinations the models cannot see
        return problem(422, "Invalid request", str(exc), request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", incident, request.method, request.url.path)
        return problem(500, "Internal error", f"something went wrong on our side (incident {incident})", request)
