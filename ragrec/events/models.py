"""Feedback events: the source of truth that user vectors and popularity are rebuilt from."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Annotated, NamedTuple

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

if TYPE_CHECKING:
    from ragrec.config import Settings


from ragrec.schema import MAX_ID_CHARS, id_problem

# No feedback predates the Unix epoch; a time near year 1 would not even survive the log's round trip
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _stripped(value: str) -> str:
    value = value.strip()  # on every event a file load reads: once
    if not value:
        raise ValueError("is blank")
    return value


# Spaces at the ends of an id are not part of it, wherever it comes in (API, CLI, event files, Python): " ann" is
# "ann". The model's type has no length limit, so that events stored by an older ragrec read back; `Id`, the type
# of ids in requests, has the log's.
StrippedId = Annotated[str, AfterValidator(_stripped)]
Id = Annotated[str, StringConstraints(max_length=MAX_ID_CHARS), AfterValidator(_stripped)]


class EventType(str, Enum):
    view = "view"
    click = "click"
    like = "like"
    add_to_cart = "add_to_cart"
    purchase = "purchase"
    rating = "rating"
    dislike = "dislike"
    skip = "skip"

    @classmethod
    def _missing_(cls, value: object) -> EventType | None:
        """"LIKE", "Add-To-Cart", "add to cart": a type's name in another case or spelling (as files write them)."""
        if isinstance(value, str):
            return cls.__members__.get(value.strip().lower().replace("-", "_").replace(" ", "_"))
        return None


class Event(BaseModel):
    event_id: StrippedId = Field(default_factory=lambda: uuid.uuid4().hex, description="client-supplied for dedup")
    user_id: StrippedId
    item_id: StrippedId
    type: EventType
    value: float | None = Field(None, description="the rating, for type=rating")
    timestamp: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    recommendation_id: str | None = Field(None, max_length=64,
                                          description="the recommendation list this event answers, if any")

    @model_validator(mode="after")
    def _check(self) -> "Event":
        if self.timestamp.tzinfo is None:  # naive times are taken as UTC, so ordering is well defined
            self.timestamp = self.timestamp.replace(tzinfo=timezone.utc)
        return self


class StoredEvent(NamedTuple):
    """A stored event as reindex reads it: the fields a profile is built from, not validated again (one of these
    costs ~1 µs, an Event ~9 µs: a reindex at 100k users reads 16.6M). `event_problem` and the profile builders
    take it wherever they take an Event."""

    user_id: str
    item_id: str
    type: EventType | str  # the stored string when it names no EventType (event_problem says so)
    value: float | None
    timestamp: datetime


def event_problem(event: Event | StoredEvent, settings: Settings, now: datetime | None = None) -> str | None:
    """Why ragrec does not accept `event` (None: it does). Checked where events come in (feedback, event files)
    and again by reindex, which skips stored events that fail it: one extreme value must not poison a user, nor
    fail everyone's reindex.

    The model itself stays lenient, so that events stored by an older ragrec can always be read back."""
    if not isinstance(event.type, EventType):  # a stored row, of a type this ragrec does not know
        return f"unknown event type {event.type!r}"
    for name, value in (("user", event.user_id), ("item", event.item_id), ("event", getattr(event, "event_id", ""))):
        if name != "event" and not value.strip():
            return f"the {name} id is blank"
        problem = id_problem(value)
        if problem:
            return f"the {name} id {problem}"
    value = event.value
    if event.type is EventType.rating and value is None:
        return "a rating event needs a value"
    if value is not None:
        if not math.isfinite(value):
            return f"value {value} is not a finite number"
        if event.type is not EventType.rating:
            return f"a {event.type.value} event has no value (only ratings do), got {_shown(value)}"
        if not settings.rating_min <= value <= settings.rating_max:
            return (f"rating {_shown(value)} is outside the rating range {_shown(settings.rating_min)}-"
                    f"{_shown(settings.rating_max)} (settings rating_min, rating_max)")
    now = now or datetime.now(timezone.utc)
    if event.timestamp < EARLIEST:  # also what a stored time too far out for a datetime reads back as (`from_us`)
        return f"timestamp {event.timestamp.isoformat()} is before 1970"
    if event.timestamp.timestamp() > now.timestamp() + settings.max_clock_skew_seconds:
        return (f"timestamp {event.timestamp.isoformat()} is in the future (more than max_clock_skew_seconds="
                f"{settings.max_clock_skew_seconds:g} ahead of now)")
    return None


def _shown(number: float) -> str:
    """`number` as short as %g writes it when that is exact, else every digit: 5.0000001 is not "5"."""
    short = f"{number:g}"
    return short if float(short) == number else repr(number)


class EventReject(BaseModel):
    line: int | None = None
    event_id: str | None = None
    reason: str


class AppendResult(BaseModel):
    accepted: list[Event] = Field(default_factory=list)
    duplicates: int = 0
    rejected: list[EventReject] = Field(default_factory=list)
