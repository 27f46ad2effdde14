"""Stage 4, rerank: a hook that may reorder the top candidates (the LLM reranker of `ragrec.generation` plugs in
here). It gets the candidates in retrieval order and must return them all, reordered or not; a reranker that fails
returns them unchanged with `reranked=False` and the reason, never an exception."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from ragrec.retrieval.models import Candidate, History, RecommendRequest


class Reranked(BaseModel):
    items: list[Candidate]
    reranked: bool = False
    error: str | None = None  # why the LLM was not used or failed (items are then in retrieval order)


class Reranker(Protocol):
    def __call__(self, request: RecommendRequest, history: History, candidates: list[Candidate]) -> Reranked: ...


class NoRerank:
    """The default: retrieval order stands."""

    def __call__(self, request: RecommendRequest, history: History, candidates: list[Candidate]) -> Reranked:
        return Reranked(items=candidates)
