"""Stage 2, candidates: which sources a request draws on, as the vectors Qdrant will be asked with.

- `hybrid`: a warm user with trained collaborative vectors: the content vector and the collab vector, each a
  prefetch; a query or example items make the pool what they ask for, which the user's vectors then order;

A warm user's vector in each space mixes their long- and short-term interest (`Profile.query_vector`) with the
Settings' share for that space (`long_term_share_content`, `long_term_share_collab`; a request may override the
collab one: `RecommendRequest.long_term_share`). One vector per space keeps one prefetch per space: the query costs
what it cost with the short-term vectors alone.

- `content`: a warm user before collab vectors exist (or with hybrid off): the content vector (and query);
- `query`: a free-text query alone;
- `examples`: positive / negative example items (with the user's vector and the query as further positives);
- `popular`: nothing to go on: the most popular items.

The filter carries the request's filters and the exclusions (seen items, the examples themselves, `exclude`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ragrec.config import Settings
from ragrec.retrieval.filters import parse_filter
from ragrec.retrieval.models import History, Path, RecommendRequest
from ragrec.schema import COLLAB, CONTENT, ITEM_ID
from ragrec.store import Filter, MatchAny, VectorStore, point_id


class UnknownItems(KeyError):
    def __init__(self, item_ids: list[str]):
        super().__init__(f"unknown item ids: {', '.join(item_ids)}")
        self.item_ids = item_ids


class Sources(BaseModel):
    """The vectors a request is answered with (plain numpy: they go straight to Qdrant), and the filter."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    user: np.ndarray | None = None  # the user's content vector (long/short mix of unit vectors)
    collab: np.ndarray | None = None  # the user's collab vector (the same mix; hybrid only)
    collab_slot: str = COLLAB  # the items' collab vector it is scored against (the one the user's sum is over)
    query: np.ndarray | None = None  # the query's embedding
    query_weight: float = 0.0  # the query's share of the content target
    positive: list[np.ndarray] = Field(default_factory=list)  # example items' content vectors
    negative: list[np.ndarray] = Field(default_factory=list)
    filter: Filter = Field(default_factory=Filter)

    @property
    def content_target(self) -> np.ndarray | None:
        """(1 − w)·user + w·query, not renormalized: its dot product with an item is exactly the weighted sum of
        the two cosine scores, which is what the candidate reports."""
        if self.user is not None and self.query is not None:
            return (1 - self.query_weight) * self.user + self.query_weight * self.query
        return self.user if self.user is not None else self.query


def example_vectors(store: VectorStore, collection: str, item_ids: list[str]) -> list[np.ndarray]:
    if not item_ids:
        return []
    records = store.retrieve(collection, [point_id(i) for i in item_ids], payload=[ITEM_ID], vectors=[CONTENT])
    found = {r.payload[ITEM_ID]: np.asarray(r.vectors[CONTENT], dtype=np.float32) for r in records if r.vectors}
    missing = [i for i in item_ids if i not in found]
    if missing:
        raise UnknownItems(missing)
    return [found[i] for i in item_ids]


def exclusion_filter(request: RecommendRequest, history: History) -> Filter:
    """The request's filters, and none of the items to leave out (by the indexed `item_id` field: no point ids
    to compute for a user with thousands of seen items)."""
    flt = (parse_filter(request.filters) or Filter()).and_(request.where)
    exclude = set(history.seen) | set(request.positive) | set(request.negative) | set(request.exclude)
    if exclude:
        flt = flt.and_(Filter(must_not=[MatchAny(key=ITEM_ID, any=sorted(exclude))]))
    return flt


def candidate_sources(request: RecommendRequest, history: History, *, store: VectorStore, settings: Settings,
                      embed: Callable[[str], np.ndarray]) -> Sources:
    profile = history.profile
    user = profile.query_vector(CONTENT, settings.long_term_share_content) if profile else None
    query = embed(request.query) if request.query else None
    sources = Sources(path="popular", user=user, query=query, filter=exclusion_filter(request, history),
                      query_weight=settings.query_weight if user is not None else 1.0,
                      positive=example_vectors(store, settings.items_collection, request.positive),
                      negative=example_vectors(store, settings.items_collection, request.negative))
    share = settings.long_term_share_collab if request.long_term_share is None else request.long_term_share
    collab = profile.query_vector(COLLAB, share) if user is not None and settings.hybrid else None
    if collab is not None:  # a warm user: their blend, whatever the request adds (a query, examples)
        sources.path, sources.collab, sources.collab_slot = "hybrid", collab, profile.collab_slot or COLLAB
    elif sources.positive or sources.negative:
        if sources.content_target is None and not sources.positive:
            raise ValueError("only negative examples: give a positive example, a query or a warm user as well")
        sources.path = "examples"
    elif user is not None:
        sources.path = "content"
    elif query is not None:
        sources.path = "query"
    return sources
