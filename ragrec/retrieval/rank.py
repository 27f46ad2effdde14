"""Stage 3, rank: one Qdrant query over the sources, and each candidate's score per source.

- `hybrid`: the union of the content top-N and the collab top-N (prefetches), re-scored by each vector so every
  candidate carries both of its true scores, then a formula query
  `blend_content·content_target + blend_collab·collab + blend_popularity·ln(1 + popularity)`;
- `content` / `query`: the items nearest the content target;
- `examples`: Qdrant's recommend query (`best_score`, `sum_scores`), or, for `average_vector`, the items nearest
  `avg(pos) + (avg(pos) − avg(neg))` as Qdrant defines it;
- `popular`: ordered by the `popularity` payload (reindex writes it); items nobody touched fill the rest;
- `diversity > 0` turns the last step into Qdrant's MMR over the candidates.

Filters and exclusions are Qdrant filters, so the top-k is exact under them. The per-source scores are the dot
products of the returned item vectors with the source vectors (what Qdrant scored them with).
"""

from __future__ import annotations

import math

import numpy as np

from ragrec.config import Settings
from ragrec.retrieval.candidates import Sources
from ragrec.retrieval.models import Candidate, Evidence, RecommendRequest, SourceScores
from ragrec.schema import CONTENT, ITEM_ID, POPULARITY, TEXT, public_payload
from ragrec.store import Blend, Filter, Hit, MatchAny, Mmr, Nearest, OrderBy, Prefetch, Recommend, StoreError, VectorStore


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-12 else v


def rank(sources: Sources, request: RecommendRequest, *, store: VectorStore, settings: Settings,
         limit: int) -> list[Candidate]:
    """The best `limit` items for the request, best first, each scored per source."""
    items = settings.items_collection
    if sources.path == "popular":
        return _popular(store, items, sources.filter, limit)
    mmr_pool = max(settings.mmr_candidates, limit)
    prefetch = None
    vectors = [CONTENT]  # per-source scores and evidence are computed from each hit's content vector
    if sources.path == "hybrid":
        pool = max(settings.blend_candidates, limit)
        by_content = Nearest(using=CONTENT, vector=sources.content_target.tolist())
        by_collab = Nearest(using=sources.collab_slot, vector=sources.collab.tolist())
        union = [Prefetch(query=by_content, limit=pool, filter=sources.filter),
                 Prefetch(query=by_collab, limit=pool, filter=sources.filter)]
        prefetch = [Prefetch(query=by_content, limit=2 * pool, prefetch=union),
                    Prefetch(query=by_collab, limit=2 * pool, prefetch=union)]
        query = Blend(weights=[settings.blend_content, settings.blend_collab],
                      log_payload={POPULARITY: settings.blend_popularity})
        # no collab vectors fetched: each hit's collab score follows from the formula (_candidate)
        mmr_pool, target = 2 * pool, sources.content_target
    elif sources.path == "examples":
        positive = ([_unit(sources.content_target)] if sources.content_target is not None else []) + sources.positive
        negative = sources.negative
        if request.strategy == "average_vector" or (len(positive) == 1 and not negative):
            mean = np.mean(positive, axis=0)
            target = mean + (mean - np.mean(negative, axis=0)) if negative else mean
            query = Nearest(using=CONTENT, vector=_unit(target).tolist())
        else:
            query = Recommend(using=CONTENT, positive=[p.tolist() for p in positive],
                              negative=[n.tolist() for n in negative], strategy=request.strategy)
            target = np.mean(positive, axis=0) if positive else None
            if request.diversity > 0 and target is not None:  # MMR re-ranks the recommend query's candidates
                prefetch = [Prefetch(query=query, limit=mmr_pool)]
    else:  # content, query
        target = sources.content_target
        query = Nearest(using=CONTENT, vector=target.tolist())
    if request.diversity > 0 and target is not None:
        query = Mmr(using=CONTENT, vector=_unit(target).tolist(), diversity=request.diversity, candidates=mmr_pool)
    # the hybrid union is filtered inside its prefetches: filtering the final step again would only cost time
    top_filter = None if sources.path == "hybrid" and not isinstance(query, Mmr) else sources.filter
    hits = store.query(items, query, limit=limit, filter=top_filter, prefetch=prefetch, vectors=vectors)
    blend = query if isinstance(query, Blend) else None
    return [_candidate(h, sources, blend) for h in hits]


def _candidate(hit: Hit, sources: Sources, blend: Blend | None) -> Candidate:
    content = (hit.vectors or {}).get(CONTENT)
    scores = SourceScores(popularity=_prior(hit.payload))
    if content is not None:
        if sources.user is not None:
            scores.content = float(content @ sources.user)
        if sources.query is not None:
            scores.query = float(content @ sources.query)
        if blend is not None and blend.weights[1]:
            # score = w_content·content_target + w_collab·collab + w_pop·ln(1 + popularity): solved for collab,
            # which saves reading every hit's collab vector. An item with no collab vector (nobody touched it
            # yet) scored the formula's default 0 there: reported as None.
            target = float(content @ sources.content_target)
            prior = blend.log_payload.get(POPULARITY, 0.0) * (scores.popularity or 0.0)
            collab = (hit.score - blend.weights[0] * target - prior) / blend.weights[1]
            scores.collab = None if abs(collab) < 1e-5 else collab
    candidate = _from_payload(hit, sources.path, scores)
    if content is not None:
        candidate._vector = np.asarray(content, dtype=np.float32)
    return candidate


def _prior(payload: dict) -> float | None:
    value = payload.get(POPULARITY)
    return math.log1p(value) if isinstance(value, (int, float)) and value >= 0 else None


def _from_payload(hit: Hit, path: str, scores: SourceScores) -> Candidate:
    return Candidate(item_id=hit.payload[ITEM_ID], score=hit.score, payload=public_payload(hit.payload),
                     text=hit.payload.get(TEXT), scores=scores, path=path)


def _popular(store: VectorStore, items: str, flt: Filter, limit: int) -> list[Candidate]:
    """Most popular first (popularity is refreshed by reindex); items never interacted with fill the rest."""
    try:
        hits = store.query(items, OrderBy(key=POPULARITY), limit=limit, filter=flt)
    except StoreError:
        # ordering needs the payload index, which ingest creates (reindex too, before it writes a popularity);
        # an older collection without one has no popularity yet: every item ranks the same
        if POPULARITY in store.payload_indexes(items):
            raise
        hits = []
    if len(hits) < limit:
        taken = [h.payload[ITEM_ID] for h in hits]
        rest = flt.and_(Filter(must_not=[MatchAny(key=ITEM_ID, any=taken)])) if taken else flt
        records, _ = store.scroll_page(items, filter=rest, limit=limit - len(hits))
        hits += [Hit(id=r.id, payload=r.payload, score=0.0) for r in records]
    out = []
    for h in hits:
        candidate = _from_payload(h, "popular", SourceScores(popularity=_prior(h.payload)))
        users = h.payload.get(POPULARITY)
        if isinstance(users, int) and users > 0:
            candidate.evidence = [Evidence(kind="popular", users=users)]
        out.append(candidate)
    return out

