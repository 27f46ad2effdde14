"""schemathesis against the API's own OpenAPI schema, over real HTTP to a real uvicorn server: every operation, with
generated valid and invalid bodies, paths and headers, never answers with a server error. Bounded: a few dozen
cases per operation."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import private_items
from ragrec.api import create_app
from ragrec.events.log import EventLog
from ragrec.events.models import Event
from ragrec.recommender import Recommender
from tests.api.conftest import ADMIN, T0, api_settings, serving


@pytest.fixture(scope="module")
def served(demo, embedder, tmp_path_factory):
    """The API on a private catalog copy, served by uvicorn on 127.0.0.1 in this process (it owns the store)."""
    base, store, _ = demo
    items = private_items(store)
    settings = api_settings(base, items, tmp_path_factory.mktemp("fuzz"))
    rec = Recommender(settings, store=store, log=EventLog(settings.events_url), embedder=embedder)
    rec.record_feedback([Event(event_id=f"f-{i}", user_id="fan", item_id=i, type="like", timestamp=T0 + timedelta(hours=n))
                         for n, i in enumerate(["1", "2355", "3114"])])
    rec.reindex()
    try:
        with serving(create_app(settings, recommender=rec)) as url:
            yield url
    finally:
        rec.log.close()
        for name in (settings.users_collection, items):
            store.drop_collection(name)


CASES_PER_OPERATION = 20


def test_no_input_makes_a_server_error(served):
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=CASES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def call(case):
            response = case.call(headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120)
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            assert response.status_code < 500, f"{where}: {response.text[:500]}"
            if response.status_code >= 400:  # every error has the problem-details shape, and no traceback
                content_type = response.headers.get("content-type") or [""]
                assert content_type[0].startswith("application/problem+json"), where
                assert "Traceback" not in response.text, where

        call()


def test_the_fuzzed_server_still_answers(served):
    r = httpx.post(f"{served}/v1/recommendations", json={"user_id": "fan", "k": 3},
                   headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    assert r.status_code == 200 and len(r.json()["items"]) == 3
