"""Feedback events: an append-only log (SQLite or PostgreSQL), the source user vectors and popularity come from."""

from ragrec.events.load import EventLoadError, EventLoadReport, EventMapping, catalog_items, load_events
from ragrec.events.log import POSITIVE_TYPES, EventLog, EventLogError, events_url
from ragrec.events.models import AppendResult, Event, EventReject, EventType

__all__ = [
    "POSITIVE_TYPES",
    "AppendResult",
    "Event",
    "EventLoadError",
    "EventLoadReport",
    "EventLog",
    "EventLogError",
    "EventMapping",
    "EventReject",
    "EventType",
    "catalog_items",
    "events_url",
    "load_events",
]
