"""The typed models that flow through the recommendation stages, and out to Python callers, the CLI's --json and
the HTTP API:

    RecommendRequest -> History -> candidates (Candidate, scored per source) -> rank -> rerank -> Recommendations
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PrivateAttr, model_validator

from ragrec.events.models import StrippedId
from ragrec.retrieval.profiles import Profile
from ragrec.store import Filter

Path = Literal["hybrid", "content", "query", "examples", "popular"]
"""Which retrieval path produced a candidate:

- `hybrid`: a warm user's content and collaborative vectors (plus a query, if any), blended in one Qdrant query;
- `content`: a warm user's content vector alone (collab vectors not trained yet, or hybrid off);
- `query`: a free-text query alone (a cold user who asked for something);
- `examples`: positive/negative example items (Qdrant's recommend query);
- `popular`: nothing to go on: the most popular items.
"""


def visible(text: str) -> str:
    if not any(c.isprintable() and not c.isspace() for c in text):
        raise ValueError("is blank (spaces or control characters only): there is nothing to search for")
    return text


Text = Annotated[str, AfterValidator(visible)]  # free text a user typed: it must show something


class RecommendRequest(BaseModel):
    user_id: StrippedId | None = None
    k: int = Field(10, ge=1, le=1000)
    query: Text | None = None
    positive: list[str] = Field(default_factory=list, description="example items to move towards")
    negative: list[str] = Field(default_factory=list, description="example items to move away from")
    strategy: Literal["average_vector", "best_score", "sum_scores"] = "average_vector"
    filters: list[str] = Field(default_factory=list, description="e.g. genres=Comedy, year>=1990, genres!=Horror")
    diversity: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False,
                             description="0 = pure relevance; > 0 re-ranks by maximal marginal relevance (MMR)")
    exclude_seen: bool | None = Field(None, description="None: Settings.exclude_seen")
    exclude: list[str] = Field(default_factory=list, description="more item ids to leave out (e.g. already shown)")
    where: Filter | None = Field(None, description="a structured filter, ANDed with `filters`")
    explain: bool = Field(False, description="write a short personalized description of each item (the LLM stage)")
    rerank: bool | None = Field(None, description="let the LLM rerank the top candidates; None: Settings.rerank")
    long_term_share: float | None = Field(
        None, ge=0.0, le=1.0, allow_inf_nan=False, description="the horizon: share of the user's long-term interest "
        "in their collab vector, 0 = what they did last, 1 = their whole history alike; None: "
        "Settings.long_term_share_collab")

    @model_validator(mode="after")
    def _towards_or_away(self) -> RecommendRequest:
        check_examples(self.positive, self.negative)
        return self


def check_examples(positive: list[str], negative: list[str]) -> None:
    """An item is an example to move towards or away from, not both (the two would cancel out silently)."""
    away = set(negative)
    both = [i for i in positive if i in away]
    if both:
        raise ValueError(f"item {both[0]!r} is both positive and negative: move towards it or away from it")


class HistoryItem(BaseModel):
    """One of the user's recent positive items, as the later stages show it (evidence, LLM prompts)."""

    item_id: str
    title: str | None = None
    text: str | None = None


class History(BaseModel):
    """What the stages know of the user: their profile (None: unknown or forgotten), the items to leave out, and
    their recent positive items (newest first) with titles and texts."""

    user_id: str | None = None
    profile: Profile | None = None
    seen: frozenset[str] = frozenset()
    items: list[HistoryItem] = Field(default_factory=list)
    _vectors: dict[str, Any] = PrivateAttr(default_factory=dict)  # item id -> content vector, for evidence
    _collab: dict[str, Any] = PrivateAttr(default_factory=dict)  # item id -> collab vector (items that have one)


class SourceScores(BaseModel):
    """The score each source gave a candidate (None: that source did not score it).

    `content`, `collab` and `query` are dot products of the item's unit vectors with the user's content vector,
    collaborative vector and the query's embedding (for a warm user, the mean of the query and the positive
    examples: what the request asked for): cosines for the query, and for the user the same long/short
    mix of cosines as their vector (`share·cos(long) + (1 − share)·cos(short)`); `popularity` is the prior
    ln(1 + users who engaged).
    `llm` is the reranker's probability for the item, when an LLM reranked the list.
    """

    content: float | None = None
    collab: float | None = None
    query: float | None = None
    popularity: float | None = None
    llm: float | None = None


class Evidence(BaseModel):
    """Why a candidate is there: a history item it is close to ("because you liked"), or its popularity."""

    kind: Literal["liked", "popular"] = "liked"
    item_id: str | None = None
    title: str | None = None
    similarity: float | None = None
    users: int | None = None  # for `popular`: how many users engaged with the item

    def __str__(self) -> str:
        if self.kind == "popular":
            return f"popular with {self.users:,} user{'s' if self.users != 1 else ''}"
        return f"because you liked {self.title or self.item_id} ({self.similarity:.2f})"


class Candidate(BaseModel):
    item_id: str
    score: float = Field(description="the final score the list is ordered by")
    payload: dict[str, Any] = Field(default_factory=dict, description="the item's public payload")
    text: str | None = Field(None, description="the item's text as embedded (None if the catalog keeps no text)")
    scores: SourceScores = Field(default_factory=SourceScores)
    path: Path
    evidence: list[Evidence] = Field(default_factory=list)
    description: str | None = Field(None, description="a short personalized description (generation stage)")
    description_source: Literal["llm", "catalog", "template"] | None = Field(
        None, description="llm: written for this user; catalog: the fallback with the item's precomputed blurb; "
        "template: the fallback built from the item's facts")
    _vector: Any = PrivateAttr(None)  # the item's content vector, for evidence (not part of the output)
    _collab: Any = PrivateAttr(None)  # its collab vector on the hybrid path, for evidence

    @property
    def title(self) -> str:
        """What to call the item when showing it: its title, else its text's first line, else its id."""
        title = self.payload.get("title")
        if isinstance(title, str) and title:
            return title
        if self.text:
            first = self.text.split("\n", 1)[0]
            return first.split(": ", 1)[1] if ": " in first else first
        return self.item_id


class Recommendations(BaseModel):
    """The result of `Recommender.recommend` (and `similar`): ranked items plus what a client should know."""

    items: list[Candidate]
    recommendation_id: str = Field(default_factory=lambda: uuid.uuid4().hex,
                                   description="quote it in feedback on these items (attribution)")
    reranked: bool = Field(False, description="whether an LLM reranked the list")
    rerank_error: str | None = Field(None, description="why the rerank stage fell back to retrieval order")
    warnings: list[str] = Field(default_factory=list)
