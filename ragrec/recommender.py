"""`Recommender`: the one object the CLI and the HTTP API talk to. It wires the stages; it decides nothing.

    with Recommender(Settings()) as rec:
        rec.record_feedback([Event(user_id="u1", item_id="1", type="like")])
        rec.recommend(RecommendRequest(user_id="u1", k=10, filters=["year>=1990"]))
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable

import numpy as np
from pydantic import BaseModel

from ragrec.config import Settings
from ragrec.embedding import Embedder, get_embedder
from ragrec.events.models import Event
from ragrec.ingestion.job import COLLAB, CONTENT
from ragrec.retrieval.feedback import FeedbackResult, record_feedback
from ragrec.retrieval.models import Recommendation
from ragrec.retrieval.profiles import Profile
from ragrec.retrieval.recommend import RecommendRequest, recommend
from ragrec.retrieval.reindex import ReindexReport, reindex
from ragrec.retrieval.similar import similar
from ragrec.retrieval.users import UserProfiles
from ragrec.store import CollectionNotFound, Filter, VectorStore, open_store


class NoCatalog(CollectionNotFound):
    pass


class UserInfo(BaseModel):
    user_id: str
    profile: Profile | None
    events: int


class Recommender:
    def __init__(self, settings: Settings | None = None, *, store: VectorStore | None = None, log=None,
                 embedder: Embedder | None = None):
        self.settings = settings or Settings()
        self._store, self._log, self._embedder = store, log, embedder
        self._owns_store, self._owns_log = store is None, log is None

    # --- wiring (lazy: the CLI's `users show` needs no model, `similar --ids` no event log) ----------------

    @property
    def store(self) -> VectorStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def log(self):
        if self._log is None:
            from ragrec.events.log import EventLog, events_url

            self._log = EventLog(events_url(self.settings))
        return self._log

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings)
        return self._embedder

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    @cached_property
    def profiles(self) -> UserProfiles:
        items = self.settings.items_collection
        try:
            meta = self.store.metadata(items)
        except CollectionNotFound:
            raise NoCatalog(f"no {items!r} collection yet: ingest a catalog first (`ragrec ingest` or `ragrec demo`)")
        spaces = {CONTENT: meta["dim"]}
        if self.settings.hybrid and meta.get("collab_dim"):
            spaces[COLLAB] = meta["collab_dim"]
        return UserProfiles(self.store, self.settings.users_collection, spaces)

    # --- the product -------------------------------------------------------------------------------------

    def record_feedback(self, events: list[Event]) -> FeedbackResult:
        return record_feedback(events, log=self.log, store=self.store, profiles=self.profiles, settings=self.settings)

    def recommend(self, request: RecommendRequest) -> list[Recommendation]:
        profile, seen = None, set()
        if request.user_id:
            profile = self.profiles.get(request.user_id)
            seen = {e.item_id for e in self.log.user_events(request.user_id)}
        return recommend(request, store=self.store, profile=profile, seen=seen, settings=self.settings,
                         embed=self.embed)

    def similar(self, *, item_ids: list[str] | None = None, query: str | None = None, k: int = 10,
                filter: Filter | None = None) -> list[Recommendation]:
        return similar(self.store, item_ids=item_ids, query=query, k=k, filter=filter, settings=self.settings,
                       embedder=self._embedder if query is None else self.embedder)

    def user(self, user_id: str) -> UserInfo:
        return UserInfo(user_id=user_id, profile=self.profiles.get(user_id), events=len(self.log.user_events(user_id)))

    def forget_user(self, user_id: str) -> int:
        """Erase the user's events and vector; returns how many events were erased."""
        erased = self.log.forget_user(user_id)
        self.profiles.delete(user_id)
        return erased

    def reindex(self, on_progress: Callable[[int, int], None] | None = None) -> ReindexReport:
        return reindex(log=self.log, store=self.store, profiles=self.profiles, settings=self.settings,
                       on_progress=on_progress)

    def close(self) -> None:
        if self._owns_log and self._log is not None:
            self._log.close()
        if self._owns_store and self._store is not None:
            self._store.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
