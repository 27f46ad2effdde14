"""ragrec's own path as an evaluation method: events through the event log, vectors in Qdrant, `recommend()`.

The bundled MovieLens catalog is ingested into Qdrant Edge once per data dir (`<data_dir>/catalog`, its movieIds
are the dataset's). Each `fit` starts from a fresh copy of that catalog (`<data_dir>/runs/<id>`), writes the phase's
interactions into a new event log as events (every rating an implicit `like`, with its real timestamp) and runs
`reindex` (popularity, ALS collab factors, user vectors); `recommend` asks the same `Recommender` the CLI and API
use. The fresh copy matters: reindex only rewrites the collab vectors of items that have events, so a reused
collection would keep collab vectors trained on another phase's data (for example on this phase's targets).

`keep_fits=True` keeps each fitted copy under `<data_dir>/fits/<key>`, the key a hash of the fit data and the
Settings overrides, and a later fit of the same data reopens it: `ragrec eval --rerank` asks the main run's fits for
its candidate lists instead of fitting ragrec twice more per protocol.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from ragrec.config import Settings
from ragrec.demo import DEMO_CATALOG, demo_options
from ragrec.embedding import get_embedder
from ragrec.events.log import EventLog
from ragrec.events.models import Event, EventType
from ragrec.evaluation.protocol import Interactions
from ragrec.ingestion import IngestReport, ingest
from ragrec.recommender import Recommender
from ragrec.retrieval.models import RecommendRequest
from ragrec.store import open_store


def eval_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of an evaluation run: the defaults (with environment and .env), a private data dir, and the grid
    point's overrides."""
    return Settings(data_dir=data_dir, **overrides)


def result_ids(results: Any) -> list[int]:
    """movieIds of `recommend()`'s answer: a list of results, or an object whose `.items` is that list."""
    items: Iterable[Any] = getattr(results, "items", results)
    return [int(r.item_id) for r in items]


def fit_key(train: Interactions, overrides: dict[str, Any]) -> str:
    """What a fit depends on besides the catalog: the interactions, their ids and the Settings overrides."""
    h = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode())
    for a in (train.indptr, train.items, train.timestamps, train.user_ids, train.item_ids):
        h.update(str(a.dtype).encode())
        h.update(memoryview(a).cast("B"))  # arrays from numpy's own constructors are contiguous
    return h.hexdigest()[:16]


def ensure_catalog(catalog_dir: Path, **overrides: Any) -> IngestReport | None:
    """Ingest the demo catalog into `catalog_dir` unless it is there already (then None); the store is closed
    afterwards so the directory can be copied."""
    if (catalog_dir / "collections.json").exists():
        return None
    settings = eval_settings(catalog_dir, **overrides)
    store = open_store(settings)  # as a user gets it: Qdrant Edge with HNSW
    try:
        return ingest(DEMO_CATALOG, demo_options(), settings=settings, store=store, embedder=get_embedder(settings))
    finally:
        store.close()


class RagrecPipeline:
    name = "ragrec"

    def __init__(self, data_dir: Path, *, llm: Any = None, keep_fits: bool = False, **overrides: Any):
        """`overrides`: Settings fields of the grid point; `llm`: one loaded LLM backend shared by every phase
        (`--rerank`), so each fit's Recommender does not load or convert the model again; `keep_fits`: keep each
        fitted copy for a later pipeline on the same data dir (module docstring)."""
        self.data_dir = Path(data_dir)
        self.keep_fits = keep_fits
        self.overrides = overrides
        self.llm = llm
        self.catalog_dir = self.data_dir / "catalog"
        ensure_catalog(self.catalog_dir, **overrides)
        self.rec: Recommender | None = None
        self.params = overrides

    def fit(self, train: Interactions) -> None:
        self.close()
        if self.keep_fits:
            run = self.data_dir / "fits" / fit_key(train, self.overrides)
            if (run / "fitted").exists():
                self._open(run)
                return
            shutil.rmtree(run, ignore_errors=True)  # a fit that did not finish
        else:
            run = self.data_dir / "runs" / uuid.uuid4().hex[:8]
        shutil.copytree(self.catalog_dir, run)
        events = []
        for u in range(train.n_users):
            items, stamps = train.history(u)
            user = str(int(train.user_ids[u]))
            for n, (i, ts) in enumerate(zip(items, stamps)):
                events.append(Event.model_construct(
                    event_id=f"{user}-{n}", user_id=user, item_id=str(int(train.item_ids[i])), type=EventType.like,
                    value=None, timestamp=datetime.fromtimestamp(int(ts), tz=timezone.utc)))
        log = EventLog(f"sqlite:///{run / 'events.db'}")
        try:
            log.append(events, known_items=lambda ids: set(ids))  # every rated movie is in the catalog
        finally:
            log.close()
        self._open(run)
        self.rec.reindex()
        self._done = run / "fitted"  # marked on close, once the store has written everything

    def _open(self, run: Path) -> None:
        settings = eval_settings(run, **self.overrides)
        log = EventLog(f"sqlite:///{run / 'events.db'}")
        # the embedding model loads only for queries
        self.rec = Recommender(settings, store=open_store(settings), log=log, llm=self.llm)
        self._run, self._done = run, None

    def recommend(self, user_id: int, history: Sequence[int], timestamps: Sequence[int], k: int) -> list[int]:
        return result_ids(self.rec.recommend(RecommendRequest(user_id=str(user_id), k=k)))

    def close(self) -> None:
        """Close the phase's copy of the data dir (store, event log) and drop it unless fits are kept; the catalog
        stays for the next phase."""
        if self.rec is not None:
            self.rec.store.close()
            self.rec.log.close()
            if not self.keep_fits:
                shutil.rmtree(self._run, ignore_errors=True)
            elif self._done is not None:
                self._done.touch()
            self.rec = None
