"""Shared fixtures: one real MiniLM per test session, and one demo catalog ingested into Qdrant Edge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragrec.config import Settings  # noqa: E402
from ragrec.demo import DEMO_CATALOG, demo_options  # noqa: E402
from ragrec.embedding import get_embedder  # noqa: E402
from ragrec.ingestion import ingest  # noqa: E402
from ragrec.store import open_store  # noqa: E402
from ragrec.store.edge import EdgeStore  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
MOVIELENS = SHARED / "movielens-latest-small"
GOODBOOKS = SHARED / "goodbooks-10k"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real dataset not found at {path} (the shared datasets folder is absent on this machine)")
    return path


@pytest.fixture(scope="session")
def embedder():
    return get_embedder(Settings())


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings):
    s = EdgeStore(settings.data_dir)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def demo_movies() -> list[dict]:
    with open(DEMO_CATALOG, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def demo(tmp_path_factory, embedder):
    """The whole demo catalog in Qdrant Edge as ragrec opens it by default (HNSW), ingested once per session:
    (settings, store, first report)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("demo") / "data")
    store = open_store(settings)
    report = ingest(DEMO_CATALOG, demo_options(), settings=settings, store=store, embedder=embedder)
    try:
        yield settings, store, report
    finally:
        store.close()


def private_items(store) -> str:
    """A private copy of the shared demo items (alias `items-<id>` -> `items-<id>-g1`) for a test that changes
    them; drop it with `store.drop_collection(alias)`."""
    import uuid

    alias = f"items-{uuid.uuid4().hex[:8]}"
    store.clone_collection("items", f"{alias}-g1")
    store.set_alias(alias, f"{alias}-g1")
    return alias
