"""`POST /v1/feedback`: a batch of feedback events; idempotent by `event_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ragrec.api.deps import ClientKey, ServicesDep
from ragrec.events.models import Event, EventType, Id
from ragrec.retrieval.feedback import FeedbackResult

router = APIRouter(prefix="/v1", tags=["feedback"])


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: Id | None = Field(None, description="your id for the event: sending it again changes nothing")
    user_id: Id
    item_id: Id
    type: EventType
    value: float | None = Field(None, allow_inf_nan=False, strict=True, description="the rating, for type=rating")
    timestamp: datetime | None = Field(None, description="when it happened (default: now)")
    recommendation_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="the recommendation list this event answers")

    @model_validator(mode="after")
    def _rating_has_a_value(self) -> "EventIn":
        if self.type is EventType.rating and self.value is None:
            raise ValueError("a rating event needs a value")
        return self

    def event(self) -> Event:
        fields = self.model_dump(exclude_none=True)
        return Event(**fields)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1000)


class FeedbackReject(BaseModel):
    index: int | None = Field(description="the event's place in the request's `events`, from 0")
    event_id: str | None = None
    reason: str


class FeedbackOut(FeedbackResult):
    rejected: list[FeedbackReject] = Field(default_factory=list)


@router.post("/feedback", response_model=FeedbackOut)
async def feedback(body: FeedbackIn, svc: ServicesDep, _: ClientKey) -> FeedbackOut:
    """Store the events (unknown items are rejected with a reason) and move their users' vectors at once."""
    events = [e.event() for e in body.events]
    result = await svc.run(lambda: svc.rec.record_feedback(events))
    position = {}  # the client may not have named its events: a reject points at its place in the batch
    for i, event in enumerate(events):
        position.setdefault(event.event_id, i)
    return FeedbackOut(**result.model_dump(exclude={"rejected"}), rejected=[
        FeedbackReject(**r.model_dump(exclude={"line"}), index=position.get(r.event_id)) for r in result.rejected])
