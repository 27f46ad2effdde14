"""Fixtures of the generation tests: the bundled SmolLM2 converted once (cached across runs under .cache/ in the
repo, or RAGREC_TEST_MODEL_CACHE), loaded once per session, and one real `transformers serve` on 127.0.0.1."""

from __future__ import annotations

import itertools
import json

import pytest

from conftest import MODEL_CACHE, free_port, start_serve, stop  # noqa: F401  (shared with tests/api)
from ragrec.config import Settings
from ragrec.retrieval.models import Candidate, Evidence, History, HistoryItem
from ragrec.schema import TEXT, public_payload
from ragrec.store import point_id

@pytest.fixture
def gen_settings(tmp_path, model_dir) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm_cache_dir=MODEL_CACHE)


# --- real catalog items -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def catalog(demo_movies) -> dict[str, dict]:
    return {str(m["movieId"]): m for m in demo_movies}


def make_candidate(movie: dict, score: float, evidence: list[dict] = ()) -> Candidate:
    """A candidate as the retrieval core builds it: payload fields, the embedded text, evidence."""
    text = "\n".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in
                     (("title", movie["title"]), ("genres", movie["genres"]), ("tags", movie["tags"])) if v)
    return Candidate(
        item_id=str(movie["movieId"]), score=score, text=text, path="content",
        payload={k: movie[k] for k in ("title", "year", "genres", "tags") if k in movie},
        evidence=[Evidence(item_id=str(e["movieId"]), title=e["title"], similarity=0.6) for e in evidence],
    )


def candidates_from_store(store, settings, ids: list[str], evidence: list[dict] = ()) -> list[Candidate]:
    """Real items read back from the demo catalog in Qdrant, in the order of `ids`."""
    records = {r.payload["item_id"]: r for r in store.retrieve(settings.items_collection, [point_id(i) for i in ids])}
    return [
        Candidate(item_id=i, score=1.0 - n * 0.01, payload=public_payload(records[i].payload),
                  text=records[i].payload.get(TEXT), path="content",
                  evidence=[Evidence(item_id=str(e["movieId"]), title=e["title"], similarity=0.6) for e in evidence])
        for n, i in enumerate(ids)
    ]


LIKED = ["1", "2355", "3114"]  # Toy Story, A Bug's Life, Toy Story 2
CANDIDATE_IDS = ["2", "3", "6", "10", "11", "32", "47", "50", "260", "296", "318", "356", "480", "527", "588",
                 "589", "593", "595", "780", "1196"]


@pytest.fixture(scope="session")
def history(catalog) -> History:
    return History(user_id="u1", items=[HistoryItem(item_id=i, title=catalog[i]["title"]) for i in LIKED])


@pytest.fixture(scope="session")
def candidates(catalog) -> list[Candidate]:
    """20 real movies in a retrieval order, each with 'because you liked' evidence."""
    return [make_candidate(catalog[i], 0.9 - n * 0.02, [catalog["1"], catalog["2355"]])
            for n, i in enumerate(CANDIDATE_IDS)]


@pytest.fixture(scope="session")
def small_store(tmp_path_factory, embedder):
    """The first 600 movies of the demo catalog ingested into Qdrant Edge with the real MiniLM (~10 s; the whole
    catalog takes minutes on 2 shared cores): (settings, store)."""
    from ragrec.demo import DEMO_CATALOG, demo_options
    from ragrec.ingestion import ingest
    from ragrec.store import open_store

    root = tmp_path_factory.mktemp("small")
    subset = root / "movies.jsonl"
    with open(DEMO_CATALOG, encoding="utf-8") as src:
        subset.write_text("".join(itertools.islice(src, 600)), encoding="utf-8")
    settings = Settings(data_dir=root / "data")
    store = open_store(settings)
    ingest(subset, demo_options(), settings=settings, store=store, embedder=embedder)
    try:
        yield settings, store
    finally:
        store.close()


# --- a real OpenAI-compatible server ---------------------------------------------------------------------------
def server_settings(tmp_path, base_url: str, model: str, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm="openai", llm_base_url=base_url, llm_model=model,
                    llm_server="generic", **{"llm_timeout": 120.0, **kw})


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
