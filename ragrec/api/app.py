"""The FastAPI application: `create_app(settings)` builds it; `ragrec serve` runs it with uvicorn.

Routes hold no business logic: they validate, check the key's role, and call the process's one `Recommender` (or
the chat built on it) on a bounded thread pool, off the event loop.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from ragrec.api import errors
from ragrec.api.deps import Services
from ragrec.api.jobs import Jobs
from ragrec.api.metrics import Measure
from ragrec.api.routes import chat, feedback, health, ingest_jobs, items, recommendations, users
from ragrec.chat import Chat
from ragrec.config import Settings
from ragrec.recommender import Recommender

log = logging.getLogger("ragrec.api")
STATIC = Path(__file__).parent / "static"
SERVICE_FILE = "service.json"  # in the data dir while a service owns it: the CLI points users to its API


def create_app(settings: Settings | None = None, *, recommender: Recommender | None = None,
               warm: bool = True) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rec = recommender or Recommender(settings)
        svc = Services(settings=settings, rec=rec, chat=Chat(rec), jobs=Jobs())
        app.state.services = svc
        if warm:
            await anyio.to_thread.run_sync(lambda: rec.warm(llm=settings.llm != "none"))
        svc.ready = True
        marker = _announce(settings)
        try:
            yield
        finally:
            svc.jobs.close()
            if marker:
                marker.unlink(missing_ok=True)
            if recommender is None:
                rec.close()

    # bodies over the limit get a 413 as they stream in, Content-Length or not (FastAPI's own limit); /docs serves
    # Swagger UI from the package, so that it works where nothing may be fetched from the internet
    app = FastAPIOffline(title="ragrec", version="0.1.0", lifespan=lifespan, redoc_url=None,
                         max_body_size=settings.api_max_body_bytes,
                         summary="A retrieval-augmented recommender on Qdrant: recommendations, chat, feedback, "
                                 "catalog.")
    errors.install(app)
    limits = {"/v1/ingest-jobs/upload": settings.api_max_upload_bytes}
    app.state.too_large = lambda path: errors.too_large(path, limits, settings.api_max_body_bytes)
    for module in (recommendations, chat, feedback, items, ingest_jobs, users, health):
        app.include_router(module.router)
    app.include_router(ingest_jobs.uploads, max_body_size=settings.api_max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.add_middleware(Measure)

    return _ProblemOn413(_HeadAsGet(app))


class _ProblemOn413:
    """Starlette's body limit (which FastAPI's max_body_size uses) answers a body announced too large with a
    plain-text 413 of its own, outside the exception handlers and the user middleware: rewrite it to the
    problem-details shape every other error has. Wraps the app; attributes are the app's."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __getattr__(self, name):  # router, state, openapi(): the FastAPI app's
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rewriting = False

        async def send_problem(message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                rewriting = content_type.startswith(b"text/plain")
                if rewriting:
                    body = errors.problem_body(413, "Payload too large", self.app.state.too_large(scope["path"]),
                                               scope["path"])
                    await send({"type": "http.response.start", "status": 413,
                                "headers": [(b"content-type", errors.PROBLEM.encode()),
                                            (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
            if not rewriting:
                await send(message)

        await self.app(scope, receive, send_problem)


class _HeadAsGet:
    """HEAD on any GET route (`curl -I`, load balancers' health checks) is answered as the GET without its body,
    as HTTP asks: FastAPI's routes answer HEAD with a 405 of their own."""

    def __init__(self, app) -> None:
        self.app = app

    def __getattr__(self, name):
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _announce(settings: Settings) -> Path | None:
    """Say in the data dir who owns it (the CLI's "in use" message names the API to use instead)."""
    if settings.qdrant_url:
        return None
    path = Path(settings.data_dir) / SERVICE_FILE
    try:
        path.write_text(json.dumps({"pid": os.getpid(), "url": f"http://{settings.api_host}:{settings.api_port}"}))
    except OSError:
        return None
    return path
