"""The recommendation path, stage by stage:

    history (profile, seen items, recent items)              retrieval/history.py
      -> candidates (sources: content, collab, query, examples, popular)   retrieval/candidates.py
      -> rank (one Qdrant query: blend / recommend strategy / MMR, filters; scores per source)   retrieval/rank.py
      -> evidence ("because you liked", "popular with N users")   retrieval/evidence.py
      -> rerank (a hook: the LLM reranker plugs in; default: none)   retrieval/rerank.py
      -> Recommendations

`Recommender.recommend` loads the history and calls `recommend`; each stage is a plain function over the typed
models of `retrieval/models.py`, so a test or a research script can run any one of them alone.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ragrec.config import Settings
from ragrec.retrieval.candidates import candidate_sources
from ragrec.retrieval.evidence import attach_evidence
from ragrec.retrieval.filters import filter_warnings
from ragrec.retrieval.models import History, RecommendRequest, Recommendations
from ragrec.retrieval.rank import rank
from ragrec.retrieval.rerank import NoRerank, Reranker
from ragrec.store import VectorStore


def recommend(request: RecommendRequest, history: History, *, store: VectorStore, settings: Settings,
              embed: Callable[[str], np.ndarray], reranker: Reranker | None = None) -> Recommendations:
    reranker = reranker or NoRerank()
    sources = candidate_sources(request, history, store=store, settings=settings, embed=embed)
    # a reranker sees the top rerank_candidates (at least k), then the list is cut to k
    limit = request.k if isinstance(reranker, NoRerank) else max(request.k, settings.rerank_candidates)
    candidates = attach_evidence(rank(sources, request, store=store, settings=settings, limit=limit), history,
                                 settings)
    reranked = reranker(request, history, candidates)
    items = reranked.items[: request.k]
    # a short list under filters: say so if a filtered field or text value does not exist at all (checked only
    # then: it costs a count per field and value)
    warnings = filter_warnings(store, settings.items_collection, request.filters, request.where) \
        if (request.filters or request.where) and len(items) < request.k else []
    if (request.filters or request.where) and not items and not warnings:  # "year=1995" and "year=1996"
        warnings.append("no item matches all the filters together (each one alone may)")
    if request.long_term_share is not None and sources.path != "hybrid":
        warnings.append(f"long_term_share applies to a warm user's collab vector, which this request does not use "
                        f"(path {sources.path!r})")
    if sources.path in ("hybrid", "content") and not history.profile.has_long_term:
        warnings.append("this user's vectors were stored by an older ragrec, without long-term interest: they "
                        "follow the latest items only until `ragrec reindex` rebuilds them")
    return Recommendations(items=items, reranked=reranked.reranked, rerank_error=reranked.error, warnings=warnings)
