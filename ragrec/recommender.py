"""`Recommender`: the one object the CLI, the HTTP API and the chat talk to. It wires the stages; it decides nothing.

    with Recommender(Settings()) as rec:
        rec.record_feedback([Event(user_id="u1", item_id="1", type="like")])
        rec.recommend(RecommendRequest(user_id="u1", k=10, filters=["year>=1990"]))

One instance per process, shared by every request and job: it holds the one store (and with it the embedded data
dir), the event log's connection pool, the embedding model and the user gate that orders feedback, forgetting and
reindex. It is safe to use from many threads; `warm()` builds everything up front (a service calls it at start-up).
"""

from __future__ import annotations

import gc
import threading
from typing import Callable

import numpy as np
from pydantic import BaseModel

from ragrec.config import Settings
from ragrec.embedding import Embedder, get_embedder
from ragrec.events.models import Event
from ragrec.retrieval.feedback import FeedbackResult, record_feedback
from ragrec.retrieval.history import load_history
from ragrec.retrieval.models import History, RecommendRequest, Recommendations
from ragrec.retrieval.profiles import Profile
from ragrec.retrieval.recommend import recommend
from ragrec.retrieval.reindex import ReindexReport, reindex
from ragrec.retrieval.rerank import Reranker
from ragrec.retrieval.users import UserGate, UserProfiles
from ragrec.schema import COLLAB, CONTENT
from ragrec.store import CollectionNotFound, VectorStore, open_store


class NoCatalog(CollectionNotFound):
    pass


class UserInfo(BaseModel):
    user_id: str
    profile: Profile | None
    events: int


class Recommender:
    def __init__(self, settings: Settings | None = None, *, store: VectorStore | None = None, log=None,
                 embedder: Embedder | None = None, reranker: Reranker | None = None, llm=None):
        """Anything not given is built from Settings on first use. `reranker` replaces the configured rerank stage
        for every request (tests, research); `llm` the configured LLM backend."""
        self.settings = settings or Settings()
        self._store, self._log, self._embedder = store, log, embedder
        self._owns_store, self._owns_log = store is None, log is None
        self._reranker, self._llm = reranker, llm
        self._llm_reranker = None
        self._describer = None
        self.gate = UserGate()
        self._build_lock = threading.RLock()  # first touch of the lazy parts (which may build each other)
        self._embed_lock = threading.Lock()  # a fast tokenizer must not be entered by two threads at once
        self._profiles: UserProfiles | None = None

    # --- wiring (lazy: `users show` needs no model, `similar --ids` no event log) -----------------------------

    def _once(self, attr: str, build: Callable[[], object]):
        value = getattr(self, attr)
        if value is None:
            with self._build_lock:
                value = getattr(self, attr)
                if value is None:
                    value = build()
                    setattr(self, attr, value)
        return value

    @property
    def store(self) -> VectorStore:
        return self._once("_store", lambda: open_store(self.settings))

    @property
    def log(self):
        def build():
            from ragrec.events.log import open_event_log

            return open_event_log(self.settings)

        return self._once("_log", build)

    @property
    def embedder(self) -> Embedder:
        return self._once("_embedder", lambda: get_embedder(self.settings))

    def embed(self, text: str) -> np.ndarray:
        embedder = self.embedder
        with self._embed_lock:
            return embedder.embed([text])[0]

    @property
    def profiles(self) -> UserProfiles:
        """The users collection, in the vector spaces of the items collection (read once; `catalog_changed()`
        after a rebuild of the items collection in this process)."""
        return self._once("_profiles", self._user_profiles)

    def _user_profiles(self) -> UserProfiles:
        items = self.settings.items_collection
        try:
            meta = self.store.metadata(items)
        except CollectionNotFound:
            raise NoCatalog(f"no {items!r} collection yet: ingest a catalog first (`ragrec ingest` or "
                            "`ragrec demo`)") from None
        spaces = {CONTENT: meta["dim"]}
        if self.settings.hybrid and meta.get("collab_dim"):
            spaces[COLLAB] = meta["collab_dim"]
        return UserProfiles(self.store, self.settings.users_collection, spaces)

    def catalog_changed(self) -> None:
        """The items collection was rebuilt (maybe with another model): read its vector spaces again."""
        self._profiles = None

    @property
    def llm(self):
        """The LLM backend (Settings.llm), loaded on first use."""
        def build():
            from ragrec.generation import get_llm

            return get_llm(self.settings)

        return self._once("_llm", build)

    @property
    def describer(self):
        """Writes, checks and caches descriptions; holds the catalog's titles for its checks."""
        def build():
            from ragrec.generation import get_describer

            return get_describer(self.settings, self.store, self.llm)

        return self._once("_describer", build)

    def reranker_for(self, request: RecommendRequest) -> Reranker | None:
        """The rerank stage for this request: the one given to the constructor, the LLM reranker when rerank is
        on (request, else Settings) and there is an LLM, or None (retrieval order)."""
        if self._reranker is not None:
            return self._reranker
        on = self.settings.rerank if request.rerank is None else request.rerank
        if not on or self.settings.llm == "none":
            return None

        def build():
            from ragrec.generation import LLMReranker

            return LLMReranker(self.llm, self.settings)

        return self._once("_llm_reranker", build)

    def warm(self, *, llm: bool = True) -> Recommender:
        """Open the store and the event log and load the models now, not on the first request; from now on this
        process serves requests (Settings.serving_blas_threads; what is loaded is frozen out of garbage collection)."""
        if self.settings.serving_blas_threads:
            # scipy's own BLAS (a reindex job's ALS) is loaded now, so that the limit reaches it: set later, from
            # the job's worker thread, the limit did not take, and implicit warned of BLAS threads in the server log
            import scipy.linalg  # noqa: F401
            from threadpoolctl import threadpool_limits

            threadpool_limits(self.settings.serving_blas_threads, user_api="blas")
        self.store.collections()
        self.log.count()
        self.embed("warm-up")
        if llm and self.settings.llm != "none":
            self.llm.warm()
            self.describer  # noqa: B018  (reads the catalog's titles for the description checks)
        # What is loaded by now (modules, models, the catalog's titles) lives as long as the process: move it out of
        # the garbage collector's sight, or every full collection walks it all again, a 250-350 ms stall of every
        # request every ~30 s under load (bench/RESULTS.md). Collected first, so no garbage is frozen with it.
        gc.collect()
        gc.freeze()
        return self

    # --- the product -------------------------------------------------------------------------------------

    def record_feedback(self, events: list[Event]) -> FeedbackResult:
        return record_feedback(events, log=self.log, store=self.store, profiles=self.profiles,
                               settings=self.settings, gate=self.gate)

    def history(self, request: RecommendRequest) -> History:
        if not request.user_id:
            return History()
        return load_history(request, store=self.store, profiles=self.profiles, log=self.log, settings=self.settings)

    def retrieve(self, request: RecommendRequest) -> tuple[History, Recommendations]:
        """Every stage but the descriptions: the history and the ranked (maybe reranked) list. The API streams the
        descriptions itself (`describer.astream(history, items)`)."""
        self.profiles  # noqa: B018  (no catalog: NoCatalog now, before the embedding model loads for nothing)
        history = self.history(request)
        reranker = self.reranker_for(request)
        result = recommend(request, history, store=self.store, settings=self.settings, embed=self.embed,
                           reranker=reranker)
        if request.rerank and reranker is None:  # asked for by name, and nothing can do it
            result.warnings.append("rerank was asked for, but no LLM is configured (RAGREC_LLM=none): the list is "
                                   "in retrieval order")
        return history, result

    def recommend(self, request: RecommendRequest) -> Recommendations:
        history, result = self.retrieve(request)
        if request.explain:
            result.items = self.describer.describe(history, result.items)
        return result

    def similar(self, *, item_ids: list[str] | None = None, query: str | None = None, k: int = 10,
                filters: list[str] | None = None) -> Recommendations:
        """Items nearest the seed items and/or the query (the seeds themselves left out): "more like this"."""
        if not item_ids and not query:
            raise ValueError("give seed item ids, a text query, or both")
        self.profiles  # noqa: B018  (no catalog: NoCatalog now, before the embedding model loads for nothing)
        request = RecommendRequest(positive=item_ids or [], query=query, k=k, filters=filters or [])
        return recommend(request, History(), store=self.store, settings=self.settings, embed=self.embed)

    def user(self, user_id: str) -> UserInfo:
        user_id = user_id.strip()  # as every id that comes in (events.models.StrippedId)
        return UserInfo(user_id=user_id, profile=self.profiles.get(user_id), events=self.log.count(user_id))

    def forget_user(self, user_id: str) -> int:
        """Erase the user's events and vector; returns how many events were erased. The next reindex retrains
        the item factors and popularity without them."""
        user_id = user_id.strip()
        with self.gate.lock, self.log.writing():
            erased = self.log.forget_user(user_id)
            self.profiles.delete([user_id])
            self.gate.forgot(user_id)
        return erased

    def reindex(self, on_progress: Callable[[int, int], None] | None = None) -> ReindexReport:
        return reindex(log=self.log, store=self.store, profiles=self.profiles, settings=self.settings,
                       gate=self.gate, on_progress=on_progress)

    def close(self) -> None:
        if self._owns_log and self._log is not None:
            self._log.close()
        if self._owns_store and self._store is not None:
            self._store.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
