"""What retrieval returns: the same pydantic models for Python callers, the CLI's --json and the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Recommendation(BaseModel):
    item_id: str
    score: float
    payload: dict[str, Any] = Field(default_factory=dict)
    evidence: list[str] = Field(default_factory=list, description="history items this one is closest to")


class RecommendationList(BaseModel):
    items: list[Recommendation]
