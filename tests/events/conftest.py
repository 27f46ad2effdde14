"""The event log on SQLite always, and on PostgreSQL when RAGREC_TEST_POSTGRES_URL is set.

Start a throwaway PostgreSQL with `export RAGREC_TEST_POSTGRES_URL="$(infra/postgres-test.sh)"`. Each test gets
its own schema there (dropped afterwards), so runs never see each other's events.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ragrec.events.log import EventLog

POSTGRES_URL = os.environ.get("RAGREC_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]


def _postgres_schema_url(schema: str) -> str:
    url = make_url(POSTGRES_URL)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@contextmanager
def postgres_schema():
    """A fresh schema in the test PostgreSQL, dropped afterwards: the URL of a log in it."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need RAGREC_TEST_POSTGRES_URL: export RAGREC_TEST_POSTGRES_URL=\"$(infra/postgres-test.sh)\"")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _postgres_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def log_url(request, tmp_path):
    """A fresh, empty event log URL: every test using it runs on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'events.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url():
    """A fresh, empty event log URL on PostgreSQL only (what several processes share)."""
    with postgres_schema() as url:
        yield url


@pytest.fixture
def event_log(log_url):
    log = EventLog(log_url)
    try:
        yield log
    finally:
        log.close()
