"""Nearest items to seed items and/or a free-text query: the catalog's own "more like this"."""

from __future__ import annotations

import numpy as np

from ragrec.config import Settings
from ragrec.embedding import Embedder, get_embedder
from ragrec.ingestion.job import CONTENT
from ragrec.retrieval.models import Recommendation
from ragrec.store import Filter, HasId, Nearest, VectorStore, point_id

HIDDEN = ("content_hash", "text_hash")  # bookkeeping, not for display


class UnknownItems(KeyError):
    def __init__(self, item_ids: list[str]):
        super().__init__(f"unknown item ids: {', '.join(item_ids)}")
        self.item_ids = item_ids


def public_payload(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k not in HIDDEN}


def similar(
    store: VectorStore,
    *,
    item_ids: list[str] | None = None,
    query: str | None = None,
    k: int = 10,
    filter: Filter | None = None,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
) -> list[Recommendation]:
    """Items nearest to the mean of the seed items' vectors and the query's embedding; seeds are excluded."""
    settings = settings or Settings()
    item_ids = item_ids or []
    if not item_ids and not query:
        raise ValueError("give seed item ids, a text query, or both")
    collection = settings.items_collection
    seeds: list[np.ndarray] = []
    if item_ids:
        records = store.retrieve(collection, [point_id(i) for i in item_ids], payload=["item_id"], vectors=[CONTENT])
        found = {r.payload["item_id"] for r in records}
        missing = [i for i in item_ids if i not in found]
        if missing:
            raise UnknownItems(missing)
        seeds += [np.asarray(r.vectors[CONTENT], dtype=np.float32) for r in records]
    if query:
        seeds.append((embedder or get_embedder(settings)).embed([query])[0])
    target = np.mean(seeds, axis=0)
    target /= np.linalg.norm(target) or 1.0
    exclude = Filter(must_not=[HasId(ids=[point_id(i) for i in item_ids])]) if item_ids else None
    combined = exclude.and_(filter) if exclude else filter
    hits = store.query(collection, Nearest(using=CONTENT, vector=target.tolist()), limit=k, filter=combined)
    return [Recommendation(item_id=h.payload["item_id"], score=h.score, payload=public_payload(h.payload)) for h in hits]
