"""The service's Prometheus metrics (`GET /metrics`): requests and latencies per route, ingest job progress; the
LLM fallback counter of the generation stage lives in `ragrec.metrics` and is exported beside them."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

# registered here too: /metrics lists them before any LLM call
from ragrec.metrics import DESCRIPTION_CACHE_HITS, LLM_FALLBACKS  # noqa: F401

REQUESTS = Counter("ragrec_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"])
LATENCY = Histogram("ragrec_http_request_seconds", "HTTP request latency by route", ["route", "method"],
                    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30))
JOB_ROWS = Gauge("ragrec_ingest_job_rows_read", "Rows read by the running ingest job")
JOBS = Counter("ragrec_jobs", "Background jobs by kind and outcome", ["kind", "status"])


class Measure:
    """Counts each request and observes its latency to the start of the response, by route template, method and
    status. Plain ASGI: Starlette's `@app.middleware("http")` runs every request through a task and memory streams,
    which cost more CPU than the route itself spent outside recommend() (bench/RESULTS.md)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        responded = False

        def count(status: int) -> None:
            route = getattr(scope.get("route"), "path", None) or _plain_route(scope)
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route, scope["method"]).observe(time.perf_counter() - started)

        async def measured(message) -> None:
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
                count(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, measured)
        except Exception:
            if not responded:  # the 500 is answered further out (Starlette's ServerErrorMiddleware): count it here
                count(500)
            raise


def _plain_route(scope) -> str:
    """The label of a request FastAPI's router did not note a route for: Starlette's own routes (the OpenAPI schema:
    fixed paths) are labelled by path, a mount (static files) by its own path; anything else is unmatched."""
    if "endpoint" not in scope:
        return "unmatched"
    return scope["root_path"] if "app_root_path" in scope else scope["path"]  # a mount (set by Starlette's Mount)
