"""The rerank stage's contract (shared with the retrieval core on main): a reranker gets the top-N candidates in
retrieval order and returns them reordered, or unchanged with the reason it could not rerank."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from ragrec.retrieval.models import Candidate, History, RecommendRequest


class Reranked(BaseModel):
    items: list[Candidate]
    reranked: bool = False
    error: str | None = None  # why the LLM was not used / failed (then items = retrieval order)


class Reranker(Protocol):
    def __call__(self, request: RecommendRequest, history: History, candidates: list[Candidate]) -> Reranked: ...


class NoRerank:
    """The default: candidates unchanged."""

    def __call__(self, request: RecommendRequest, history: History, candidates: list[Candidate]) -> Reranked:
        return Reranked(items=list(candidates))
