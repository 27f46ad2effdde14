"""Candidate generation: the user's vector (and/or a text query, and/or example items) against Qdrant.

Warm users get their nearest items; a free-text query is blended in; explicit positive/negative items go through
Qdrant's recommend query; `diversity` turns on Qdrant's MMR; a cold user with no query gets the most popular
items. Filters and exclusions are Qdrant filters, so the top-k is exact under them.
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, Field

from ragrec.config import Settings
from ragrec.ingestion.job import COLLAB, CONTENT
from ragrec.retrieval.feedback import item_vectors
from ragrec.retrieval.filters import parse_filter
from ragrec.retrieval.models import Recommendation
from ragrec.retrieval.profiles import Profile
from ragrec.retrieval.similar import UnknownItems, public_payload
from ragrec.store import Blend, Filter, HasId, Hit, Mmr, Nearest, OrderBy, Prefetch, Recommend, VectorStore, point_id

POPULARITY = "popularity"


class RecommendRequest(BaseModel):
    user_id: str | None = None
    k: int = Field(10, ge=1, le=1000)
    query: str | None = None
    positive: list[str] = Field(default_factory=list, description="example items to move towards")
    negative: list[str] = Field(default_factory=list, description="example items to move away from")
    strategy: Literal["average_vector", "best_score", "sum_scores"] = "average_vector"
    filters: list[str] = Field(default_factory=list, description="e.g. genres=Comedy, year>=1990, genres!=Horror")
    diversity: float = Field(0.0, ge=0.0, le=1.0, description="0 = pure relevance; > 0 uses Qdrant's MMR")
    exclude_seen: bool | None = Field(None, description="None: Settings.exclude_seen")


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-12 else v


def _examples(store: VectorStore, collection: str, ids: list[str]) -> list[np.ndarray]:
    vectors = item_vectors(store, collection, ids, [CONTENT])
    missing = [i for i in ids if i not in vectors]
    if missing:
        raise UnknownItems(missing)
    return [vectors[i][CONTENT] for i in ids]


def recommend(
    request: RecommendRequest,
    *,
    store: VectorStore,
    profile: Profile | None,
    seen: set[str],
    settings: Settings,
    embed: Callable[[str], np.ndarray],
) -> list[Recommendation]:
    """`profile` is the user's (None for an unknown user); `seen` their interacted items (to exclude)."""
    items = settings.items_collection
    user_vec = profile.vector(CONTENT) if profile else None
    query_vec = embed(request.query) if request.query else None
    if user_vec is not None and query_vec is not None:
        base = _unit((1 - settings.query_weight) * user_vec + settings.query_weight * query_vec)
    else:
        base = user_vec if user_vec is not None else query_vec
    positives = _examples(store, items, request.positive)
    negatives = _examples(store, items, request.negative)

    exclude = set(request.positive) | set(request.negative)
    if request.exclude_seen if request.exclude_seen is not None else settings.exclude_seen:
        exclude |= seen
    flt = parse_filter(request.filters) or Filter()
    if exclude:
        flt = flt.and_(Filter(must_not=[HasId(ids=[point_id(i) for i in sorted(exclude)])]))

    pos = ([base] if base is not None else []) + positives
    k, candidates = request.k, max(settings.mmr_candidates, request.k)
    prefetch = None
    if not pos and not negatives:
        return _popular(store, items, flt, k)
    collab = profile.vector(COLLAB) if profile and settings.hybrid else None
    if collab is not None and base is not None and not positives and not negatives:
        return _hybrid(store, items, base, collab, flt, request, settings, profile)
    if request.strategy == "average_vector" or (len(pos) == 1 and not negatives):  # one example: plain nearest
        if not pos:
            raise ValueError("the average_vector strategy needs a positive example, a query or a warm user")
        mean_pos = np.mean(pos, axis=0)
        target = _unit(mean_pos + (mean_pos - np.mean(negatives, axis=0)) if negatives else mean_pos)
        query = Nearest(using=CONTENT, vector=target.tolist())
    else:
        query = Recommend(using=CONTENT, positive=[p.tolist() for p in pos], negative=[n.tolist() for n in negatives],
                          strategy=request.strategy)
        target = _unit(np.mean(pos, axis=0)) if pos else None
    if request.diversity > 0 and target is not None:
        if isinstance(query, Recommend):  # MMR re-ranks the recommend query's candidates
            prefetch = [Prefetch(query=query, limit=candidates)]
        query = Mmr(using=CONTENT, vector=target.tolist(), diversity=request.diversity, candidates=candidates)
    hits = store.query(items, query, limit=k, filter=flt, prefetch=prefetch, vectors=[CONTENT])
    return _with_evidence(store, items, hits, profile, settings)


def _hybrid(store: VectorStore, items: str, content: np.ndarray, collab: np.ndarray, flt: Filter,
            request: RecommendRequest, settings: Settings, profile: Profile) -> list[Recommendation]:
    """Content and collaborative candidates blended inside Qdrant by a weighted score formula (plus a popularity
    prior).

    The candidates are the union of the content and the collab top-N. Each of the two outer stages re-scores that
    whole union with one vector, so every candidate carries both of its true scores into the formula (a candidate
    from one list only would otherwise score 0 on the other). Items nobody interacted with yet have no collab
    vector: they arrive through the content list and score 0 on collab.
    """
    limit = max(settings.blend_candidates, request.k)
    by_content = Nearest(using=CONTENT, vector=content.tolist())
    by_collab = Nearest(using=COLLAB, vector=collab.tolist())
    union = [Prefetch(query=by_content, limit=limit, filter=flt), Prefetch(query=by_collab, limit=limit, filter=flt)]
    prefetch = [Prefetch(query=by_content, limit=2 * limit, prefetch=union),
                Prefetch(query=by_collab, limit=2 * limit, prefetch=union)]
    query = Blend(weights=[settings.blend_content, settings.blend_collab],
                  log_payload={POPULARITY: settings.blend_popularity})
    if request.diversity > 0:
        query = Mmr(using=CONTENT, vector=content.tolist(), diversity=request.diversity, candidates=2 * limit)
    hits = store.query(items, query, limit=request.k, filter=flt, prefetch=prefetch, vectors=[CONTENT])
    return _with_evidence(store, items, hits, profile, settings)


def _popular(store: VectorStore, items: str, flt: Filter, k: int) -> list[Recommendation]:
    """Most popular first (popularity is refreshed by reindex); items never interacted with fill the rest."""
    hits = store.query(items, OrderBy(key=POPULARITY), limit=k, filter=flt)
    if len(hits) < k:
        taken = [h.id for h in hits]
        rest = flt.and_(Filter(must_not=[HasId(ids=taken)])) if taken else flt
        records, _ = store.scroll_page(items, filter=rest, limit=k - len(hits))
        hits += [Hit(id=r.id, payload=r.payload, score=0.0) for r in records]
    return [Recommendation(item_id=h.payload["item_id"], score=h.score, payload=public_payload(h.payload)) for h in hits]


def _with_evidence(store: VectorStore, items: str, hits: list[Hit], profile: Profile | None,
                   settings: Settings) -> list[Recommendation]:
    """Attach to each candidate the user's recent positive items closest to it ("because you liked ...")."""
    evidence: list[list[str]] = [[] for _ in hits]
    recent = [r.item_id for r in profile.recent] if profile else []
    if recent and hits and settings.evidence_items > 0:
        vectors = item_vectors(store, items, recent, [CONTENT])
        known = [i for i in recent if i in vectors]
        if known:
            history = np.stack([vectors[i][CONTENT] for i in known])
            cands = np.stack([np.asarray(h.vectors[CONTENT], dtype=np.float32) for h in hits])
            sims = cands @ history.T
            for row, scores in enumerate(sims):
                order = np.argsort(-scores)[: settings.evidence_items]
                evidence[row] = [known[j] for j in order if scores[j] >= settings.evidence_min_similarity]
    return [
        Recommendation(item_id=h.payload["item_id"], score=h.score, payload=public_payload(h.payload), evidence=ev)
        for h, ev in zip(hits, evidence)
    ]
