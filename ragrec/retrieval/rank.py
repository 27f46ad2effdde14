"""Stage 3, rank: one Qdrant query over the sources, and each candidate's score per source.

- `hybrid`: the union of the content top-N and the collab top-N (prefetches), re-scored by each vector so every
  candidate carries both of its true scores, then a formula query
  `blend_content·content_target + blend_collab·collab + blend_popularity·ln(1 + popularity)`;
- `content` / `query`: the items nearest the content target; with a query and a user, among the query's top
  `blend_candidates` (a personalized search, as `hybrid`'s);
- `examples`: Qdrant's recommend query (`best_score`, `sum_scores`), or, for `average_vector`, the items nearest
  `avg(pos) + (avg(pos) − avg(neg))` as Qdrant defines it;
- `popular`: ordered by the `popularity` payload (reindex writes it); items nobody touched fill the rest;
- `diversity > 0` turns the last step into Qdrant's MMR over the candidates. Qdrant's MMR scores relevance as the
  similarity to one vector, which the `hybrid` blend (two spaces and a formula) and the `popular` order are not:
  for those two, MMR runs here over their top `mmr_candidates`, with the same definition (`diversity` 0 = their own
  order).

With a free-text query or example items, `hybrid` is a personalized search: the candidates are the query's (or
the examples') top N, and the blend `blend_content·user + blend_query·asked + blend_collab·collab` orders them by
what was asked and the user's taste; negative examples leave out of the user's list what resembles them
(cosine ≥ `negative_similarity`).

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
    mmr_pool = max(settings.mmr_candidates, limit)
    if sources.path == "popular":
        if request.diversity > 0:
            pool = _popular(store, items, sources.filter, mmr_pool, vectors=True)
            return diversify(pool, [c.scores.popularity or 0.0 for c in pool], limit, request.diversity)
        return _popular(store, items, sources.filter, limit)
    if sources.path == "hybrid":
        candidates = _hybrid(sources, request, store=store, settings=settings,
                             limit=mmr_pool if request.diversity > 0 else limit)
        if request.diversity > 0:
            return diversify(candidates, [c.score for c in candidates], limit, request.diversity)
        return candidates
    prefetch = None
    vectors = [CONTENT]  # per-source scores and evidence are computed from each hit's content vector
    if sources.path == "examples":
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
        if sources.user is not None and sources.query is not None:
            # a personalized search, as on the hybrid path: the query's top N, which the user's taste orders (over
            # the whole catalog, a one-film history outweighed the query: "heist movie" for a Toy Story fan brought
            # 8 animated films of 10)
            pool = max(settings.blend_candidates, mmr_pool if request.diversity > 0 else limit)
            prefetch = [Prefetch(query=Nearest(using=CONTENT, vector=sources.query.tolist()), limit=pool,
                                 filter=sources.filter)]
    if request.diversity > 0 and target is not None:
        query = Mmr(using=CONTENT, vector=_unit(target).tolist(), diversity=request.diversity, candidates=mmr_pool)
    hits = store.query(items, query, limit=limit, filter=sources.filter, prefetch=prefetch, vectors=vectors)
    return [_candidate(h, sources) for h in hits]


def _hybrid(sources: Sources, request: RecommendRequest, *, store: VectorStore, settings: Settings,
            limit: int) -> list[Candidate]:
    """A warm user's one query: a pool of candidates, re-scored by the content and collab vectors so that every
    candidate carries both of its true scores, then the blend formula. The pool is the union of the content top-N
    and the collab top-N; when the request asks for something (a query, example items), it is what it asks for:
    the query's or the examples' top-N, which the user's taste then orders."""
    pool = max(settings.blend_candidates, limit)
    asked = ([sources.query] if sources.query is not None else []) + sources.positive
    ask = _unit(np.mean(asked, axis=0)) if asked else None
    avoid = _unit(np.mean(sources.negative, axis=0)) if sources.negative else None
    # one vector for the content side: its dot product with an item is exactly the weighted sum of the scores it
    # reports (Dot distance, nothing renormalized)
    target = settings.blend_content * sources.user
    if ask is not None:
        target = target + settings.blend_query * ask
    if sources.positive and request.strategy != "average_vector" and (len(asked) > 1 or sources.negative):
        first = Recommend(using=CONTENT, positive=[v.tolist() for v in asked],
                          negative=[v.tolist() for v in sources.negative], strategy=request.strategy)
        union = [Prefetch(query=first, limit=pool, filter=sources.filter)]
    elif ask is not None:
        toward = _unit(ask + (ask - avoid)) if avoid is not None else ask  # Qdrant's average_vector
        union = [Prefetch(query=Nearest(using=CONTENT, vector=toward.tolist()), limit=pool, filter=sources.filter)]
    else:
        union = [Prefetch(query=Nearest(using=CONTENT, vector=sources.user.tolist()), limit=pool,
                          filter=sources.filter),
                 Prefetch(query=Nearest(using=sources.collab_slot, vector=sources.collab.tolist()), limit=pool,
                          filter=sources.filter)]
    rescore = [Prefetch(query=Nearest(using=CONTENT, vector=target.tolist()), limit=2 * pool, prefetch=union),
               Prefetch(query=Nearest(using=sources.collab_slot, vector=sources.collab.tolist()), limit=2 * pool,
                        prefetch=union)]
    blend = Blend(weights=[1.0, settings.blend_collab], log_payload={POPULARITY: settings.blend_popularity})
    # the pool is filtered inside its prefetches: filtering the final step again would only cost time. Each hit's
    # collab score follows from the formula; its collab vector is fetched for the evidence stage
    # "nothing like Twilight": the user's own list without what resembles the negative examples (a penalty by
    # similarity would reorder everything else by how unlike Twilight it is); Qdrant cannot filter by similarity,
    # so a margin is fetched and thinned here
    fetch = limit + (max(limit, 20) if sources.negative else 0)
    hits = store.query(settings.items_collection, blend, limit=fetch, prefetch=rescore,
                       vectors=[CONTENT, sources.collab_slot])
    if sources.negative:
        avoided = np.stack(sources.negative)
        hits = [h for h in hits if h.vectors is None or CONTENT not in h.vectors or
                float(np.max(avoided @ np.asarray(h.vectors[CONTENT]))) < settings.negative_similarity][:limit]
    candidates = []
    for hit in hits:
        candidate = _candidate(hit, sources)
        collab_vector = (hit.vectors or {}).get(sources.collab_slot)
        if collab_vector is not None:
            candidate._collab = np.asarray(collab_vector, dtype=np.float32)
        if candidate._vector is not None:
            if ask is not None:  # what the request asked for: its query and/or examples
                candidate.scores.query = float(candidate._vector @ ask)
            if blend.weights[1]:
                # score = target·v + w_collab·collab + w_pop·ln(1 + popularity), solved for collab. An item with no
                # collab vector (nobody touched it yet) scored the formula's default 0 there: reported as None
                prior = settings.blend_popularity * (candidate.scores.popularity or 0.0)
                collab = (hit.score - float(candidate._vector @ target) - prior) / blend.weights[1]
                candidate.scores.collab = None if abs(collab) < 1e-5 else collab
        candidates.append(candidate)
    return candidates


def diversify(candidates: list[Candidate], relevance: list[float], k: int, diversity: float) -> list[Candidate]:
    """Maximal marginal relevance, for orders Qdrant's MMR cannot express: repeatedly take the candidate with the
    best `(1 − diversity)·relevance − diversity·(its highest similarity to those taken)`. Both terms are scaled to
    0..1 over the candidates (relevance: the scores; similarity: the content cosines between them), so the knob
    weighs the two alike whatever the scores' scale: a blend's scores spread over ~0.05, cosines over ~0.5.
    Candidates without a content vector keep their place at the end."""
    with_vector = [i for i, c in enumerate(candidates) if c._vector is not None]
    if len(with_vector) <= 1:
        return candidates[:k]
    vectors = np.stack([_unit(candidates[i]._vector) for i in with_vector])
    rel = np.array([relevance[i] for i in with_vector], dtype=np.float64)
    rel = (rel - rel.min()) / (np.ptp(rel) or 1.0)
    sims = vectors @ vectors.T
    off = sims[~np.eye(len(sims), dtype=bool)]
    sims = (sims - off.min()) / (np.ptp(off) or 1.0)
    closest = np.full(len(with_vector), -np.inf)  # each candidate's highest similarity to those taken
    taken: list[int] = []
    for _ in range(min(k, len(with_vector))):
        marginal = (1 - diversity) * rel - diversity * np.where(np.isfinite(closest), closest, 0.0)
        marginal[taken] = -np.inf
        best = int(np.argmax(marginal))
        taken.append(best)
        closest = np.maximum(closest, sims[best])
    chosen = [candidates[with_vector[i]] for i in taken]
    rest = [c for i, c in enumerate(candidates) if i not in set(with_vector)]
    return (chosen + rest)[:k]


def _candidate(hit: Hit, sources: Sources) -> Candidate:
    content = (hit.vectors or {}).get(CONTENT)
    scores = SourceScores(popularity=_prior(hit.payload))
    if content is not None:
        if sources.user is not None:
            scores.content = float(content @ sources.user)
        if sources.query is not None:
            scores.query = float(content @ sources.query)
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


def _popular(store: VectorStore, items: str, flt: Filter, limit: int, vectors: bool = False) -> list[Candidate]:
    """Most popular first (popularity is refreshed by reindex); items never interacted with fill the rest."""
    wanted = [CONTENT] if vectors else False
    try:
        hits = store.query(items, OrderBy(key=POPULARITY), limit=limit, filter=flt, vectors=wanted)
    except StoreError:
        # ordering needs the payload index, which ingest creates (reindex too, before it writes a popularity);
        # an older collection without one has no popularity yet: every item ranks the same
        if POPULARITY in store.payload_indexes(items):
            raise
        hits = []
    if len(hits) < limit:
        taken = [h.payload[ITEM_ID] for h in hits]
        rest = flt.and_(Filter(must_not=[MatchAny(key=ITEM_ID, any=taken)])) if taken else flt
        records, _ = store.scroll_page(items, filter=rest, limit=limit - len(hits), vectors=wanted)
        hits += [Hit(id=r.id, payload=r.payload, score=0.0, vectors=r.vectors) for r in records]
    out = []
    for h in hits:
        candidate = _from_payload(h, "popular", SourceScores(popularity=_prior(h.payload)))
        if (h.vectors or {}).get(CONTENT) is not None:
            candidate._vector = np.asarray(h.vectors[CONTENT], dtype=np.float32)
        users = h.payload.get(POPULARITY)
        if isinstance(users, int) and users > 0:
            candidate.evidence = [Evidence(kind="popular", users=users)]
        out.append(candidate)
    return out

