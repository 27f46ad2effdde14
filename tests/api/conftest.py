"""The API under test: the real FastAPI app on the real embedded stack (a private copy of the demo catalog in Qdrant
Edge, a fresh event log), driven by httpx through ASGI."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn

from conftest import free_port, private_copy, private_items
from ragrec.api import create_app
from ragrec.config import Settings
from ragrec.events.log import EventLog
from ragrec.events.models import Event
from ragrec.recommender import Recommender

CLIENT, ADMIN = "client-key-0123456789", "admin-key-9876543210"
C = {"Authorization": f"Bearer {CLIENT}"}
A = {"X-API-Key": ADMIN}
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
ANIMATED = ["1", "2355", "4886", "6377", "3114"]


def api_settings(base: Settings, items: str, tmp_path, **overrides) -> Settings:
    return base.model_copy(update={
        "items_collection": items, "users_collection": f"{items}-users", "llm": "none",
        "events_url": f"sqlite:///{tmp_path / 'events.db'}", "api_keys": {CLIENT: "client", ADMIN: "admin"},
        "api_import_dir": tmp_path / "imports", **overrides})


@asynccontextmanager
async def running(app):
    """The app's lifespan (start-up warms the recommender) around an httpx client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://ragrec.test", timeout=120) as client:
            yield client


@contextmanager
def serving(app):
    """The app behind a real uvicorn on 127.0.0.1, in a thread of this process (which owns the test store): its
    base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Api:
    """A synchronous face on the async client, so tests read top to bottom."""

    def __init__(self, app, rec: Recommender, settings: Settings):
        self.app, self.rec, self.settings = app, rec, settings
        self.loop = asyncio.new_event_loop()
        self._ctx = running(app)
        self.client = self.loop.run_until_complete(self._ctx.__aenter__())

    def __getattr__(self, method):  # api.get / post / put / delete (...) -> httpx.Response
        call = getattr(self.client, method)
        return lambda *a, **kw: self.loop.run_until_complete(call(*a, **kw))

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.run_until_complete(self._ctx.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="session")
def api_state(demo, embedder, tmp_path_factory) -> Settings:
    """The state every `api` starts from, made once per session on a private copy of the demo catalog: the demo
    user `ann` liked five animated films, `bob` three classics, and a reindex has run (popularity, collab vectors,
    the users collection). A reindex writes the collab vectors of every item and indexes them: seconds, too slow
    to repeat for each of the ~60 API tests."""
    base, store, _ = demo
    settings = api_settings(base, private_items(store), tmp_path_factory.mktemp("api-state"))
    rec = Recommender(settings, store=store, log=EventLog(settings.events_url), embedder=embedder)
    rec.record_feedback([Event(event_id=f"ann-{i}", user_id="ann", item_id=i, type="like",
                               timestamp=T0 + timedelta(hours=n)) for n, i in enumerate(ANIMATED)]
                        + [Event(event_id=f"bob-{i}", user_id="bob", item_id=i, type="like",
                                 timestamp=T0 + timedelta(hours=n)) for n, i in enumerate(["296", "318", "356"])])
    rec.reindex()
    rec.log.close()
    yield settings
    for name in (settings.users_collection, settings.items_collection):
        store.drop_collection(name)


@pytest.fixture
def api(demo, embedder, api_state, tmp_path):
    """The API, LLM `none`, on its own copy of `api_state`: the items, the users collection and the event log
    are copied (files), so a test may change any of them."""
    base, store, _ = demo
    items = private_items(store, api_state.items_collection)
    settings = api_settings(base, items, tmp_path)
    private_copy(store, api_state.users_collection, settings.users_collection)
    shutil.copyfile(api_state.events_url.removeprefix("sqlite:///"), settings.events_url.removeprefix("sqlite:///"))
    rec = Recommender(settings, store=store, log=EventLog(settings.events_url), embedder=embedder)
    client = Api(create_app(settings, recommender=rec), rec, settings)
    try:
        yield client
    finally:
        client.close()
        rec.log.close()
        for name in (settings.users_collection, items):
            store.drop_collection(name)
