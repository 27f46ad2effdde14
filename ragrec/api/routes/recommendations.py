"""`POST /v1/recommendations`: ranked items for a user, a query or example items."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag,
                      model_validator)

from ragrec.api.deps import ClientKey, ServicesDep
from ragrec.events.models import Id
from ragrec.retrieval.filters import FieldFilter, filter_from_fields
from ragrec.retrieval.models import RecommendRequest, Recommendations, check_examples, visible

router = APIRouter(prefix="/v1", tags=["recommendations"])

FilterText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# a list of strings or an object, told apart by the JSON type, so that an error names the one form sent
# ("filters.object.year: the range is empty") rather than both forms in pydantic's own type names
Filters = Annotated[
    Annotated[list[FilterText], Tag("list")]
    | Annotated[dict[Annotated[str, StringConstraints(max_length=100)], FieldFilter], Tag("object")],
    Discriminator(lambda value: "object" if isinstance(value, dict) else "list"),
]


class RecommendationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id | None = Field(None, description="personalize for this user (unknown: cold start)")
    query: Annotated[str, StringConstraints(min_length=1, max_length=1000), AfterValidator(visible)] | None = None
    positive: list[Id] = Field(default_factory=list, max_length=50, description="example items to move towards")
    negative: list[Id] = Field(default_factory=list, max_length=50, description="example items to move away from")
    strategy: Literal["average_vector", "best_score", "sum_scores"] = "average_vector"
    k: int = Field(10, ge=1, le=100, strict=True)
    filters: Filters = Field(
        default_factory=list, description='filter strings (["genres=Comedy", "year>=1990"]) or a structured '
        'object ({"genres": {"none": ["Horror"]}, "year": {"gte": 1990}})')
    diversity: float = Field(0.0, ge=0.0, le=1.0, strict=True, allow_inf_nan=False)
    exclude: list[Id] = Field(default_factory=list, max_length=1000, description="item ids to leave out")
    include_seen: bool = Field(False, strict=True)
    rerank: bool | None = Field(None, strict=True,
                                description="let the LLM rerank the top candidates (default: the server's)")
    explain: bool = Field(False, strict=True,
                          description="a short personalized description of each item (the LLM stage)")
    long_term_share: float | None = Field(
        None, ge=0.0, le=1.0, strict=True, allow_inf_nan=False, description="the horizon: 0 = what the user did "
        "last, 1 = their whole history alike (the long-term share of the collab vector); default: the server's")

    @model_validator(mode="after")
    def _towards_or_away(self) -> RecommendationsIn:
        check_examples(self.positive, self.negative)
        return self

    def to_request(self) -> RecommendRequest:
        structured = isinstance(self.filters, dict)
        if structured and len(self.filters) > 20:
            raise ValueError("filters: at most 20 fields")
        if not structured and len(self.filters) > 20:
            raise ValueError("filters: at most 20 expressions")
        return RecommendRequest(
            user_id=self.user_id, k=self.k, query=self.query, positive=self.positive, negative=self.negative,
            strategy=self.strategy, filters=[] if structured else self.filters,
            where=filter_from_fields(self.filters) if structured else None, diversity=self.diversity,
            exclude=self.exclude, exclude_seen=False if self.include_seen else None, rerank=self.rerank,
            explain=self.explain, long_term_share=self.long_term_share,
        )


@router.post("/recommendations", response_model=Recommendations)
async def recommendations(body: RecommendationsIn, svc: ServicesDep, _: ClientKey) -> Recommendations:
    """Ranked items with payload, text, per-source scores, evidence, and (with `explain`) descriptions. Quote the
    `recommendation_id` in feedback on them."""
    request = body.to_request()
    rerank = svc.settings.rerank if request.rerank is None else request.rerank
    retrieve = svc.run_llm if rerank and svc.settings.llm != "none" else svc.run
    history, result = await retrieve(lambda: svc.rec.retrieve(request))
    if request.explain and result.items:
        result.items = await svc.run_llm(lambda: svc.rec.describer.describe(history, result.items))
    return result
