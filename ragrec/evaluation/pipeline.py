"""ragrec's own path as an evaluation method: events through the event log, vectors in Qdrant, `recommend()`.

`fit` writes the phase's interactions into a fresh event log as events (every rating an implicit `like`, with its
real timestamp) and runs `reindex` (popularity, ALS collab factors, user vectors); `recommend` asks the same
`Recommender` the CLI and API use. Items are the bundled MovieLens catalog ingested into Qdrant Edge once (its
movieIds are the dataset's).
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ragrec.config import Settings
from ragrec.demo import DEMO_CATALOG, demo_options
from ragrec.embedding import get_embedder
from ragrec.events.log import EventLog
from ragrec.events.models import Event, EventType
from ragrec.evaluation.protocol import Interactions
from ragrec.ingestion import ingest
from ragrec.recommender import Recommender
from ragrec.retrieval.models import RecommendRequest
from ragrec.store import open_store


def eval_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of an evaluation run: the defaults, a private data dir, and the grid point's overrides."""
    return Settings(data_dir=data_dir, **overrides)


class RagrecPipeline:
    name = "ragrec"

    def __init__(self, data_dir: Path, **overrides: Any):
        self.data_dir = Path(data_dir)
        self.overrides = overrides
        self.settings = eval_settings(self.data_dir, **overrides)
        self.store = open_store(self.settings)  # as a user gets it: Qdrant Edge with HNSW
        ingest(DEMO_CATALOG, demo_options(), settings=self.settings, store=self.store,
               embedder=get_embedder(self.settings))  # a no-op after the first run: unchanged items are skipped
        self.rec: Recommender | None = None
        self.params = overrides

    def fit(self, train: Interactions) -> None:
        run = self.data_dir / "runs" / uuid.uuid4().hex[:8]
        settings = self.settings.model_copy(update={"users_collection": f"users-eval-{run.name}"})
        log = EventLog(f"sqlite:///{run / 'events.db'}")
        events = []
        for u in range(train.n_users):
            items, stamps = train.history(u)
            user = str(int(train.user_ids[u]))
            for n, (i, ts) in enumerate(zip(items, stamps)):
                events.append(Event.model_construct(
                    event_id=f"{user}-{n}", user_id=user, item_id=str(int(train.item_ids[i])), type=EventType.like,
                    value=None, timestamp=datetime.fromtimestamp(int(ts), tz=timezone.utc)))
        log.append(events, known_items=lambda ids: set(ids))  # every rated movie is in the catalog
        self.close()
        self.rec = Recommender(settings, store=self.store, log=log, embedder=get_embedder(settings))
        self.rec.reindex()
        self._run = run

    def recommend(self, user_id: int, history: Sequence[int], timestamps: Sequence[int], k: int) -> list[int]:
        results = self.rec.recommend(RecommendRequest(user_id=str(user_id), k=k))
        return [int(r.item_id) for r in results.items]

    def close(self) -> None:
        """Drop the phase's users collection and event log (the items stay for the next phase)."""
        if self.rec is not None:
            users = self.rec.settings.users_collection
            if self.store.resolve(users):
                self.store.drop_collection(users)
            self.rec.log.close()
            shutil.rmtree(self._run, ignore_errors=True)
            self.rec = None
