"""The HTTP API (FastAPI): recommendations, chat (SSE), feedback, items and ingest jobs, users, health and metrics,
and the web chat page."""

from ragrec.api.app import create_app

__all__ = ["create_app"]
