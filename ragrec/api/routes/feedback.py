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


@router.post("/feedback", response_model=FeedbackResult)
async def feedback(body: FeedbackIn, svc: ServicesDep, _: ClientKey) -> FeedbackResult:
    """Store the events (unknown items are rejected with a reason) and move their users' vectors at once."""
    events = [e.event() for e in body.events]
    return await svc.run(lambda: svc.rec.record_feedback(events))
