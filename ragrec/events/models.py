"""Feedback events: the source of truth that user vectors and popularity are rebuilt from."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, Field, model_validator


class EventType(str, Enum):
    view = "view"
    click = "click"
    like = "like"
    add_to_cart = "add_to_cart"
    purchase = "purchase"
    rating = "rating"
    dislike = "dislike"
    skip = "skip"


class Event(BaseModel):
    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="client-supplied for dedup")
    user_id: str = Field(min_length=1)
    item_id: str = Field(min_length=1)
    type: EventType
    value: float | None = Field(None, description="the rating, for type=rating")
    timestamp: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    recommendation_id: str | None = Field(None, max_length=64,
                                          description="the recommendation list this event answers, if any")

    @model_validator(mode="after")
    def _check(self) -> "Event":
        if self.type is EventType.rating and self.value is None:
            raise ValueError("a rating event needs a value")
        if self.timestamp.tzinfo is None:  # naive times are taken as UTC, so ordering is well defined
            self.timestamp = self.timestamp.replace(tzinfo=timezone.utc)
        return self


class EventReject(BaseModel):
    line: int | None = None
    event_id: str | None = None
    reason: str


class AppendResult(BaseModel):
    accepted: list[Event] = Field(default_factory=list)
    duplicates: int = 0
    rejected: list[EventReject] = Field(default_factory=list)
