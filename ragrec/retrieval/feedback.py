"""Feedback: store events in the log, then move the affected users' vectors at once."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np
from pydantic import BaseModel, Field

from ragrec.config import Settings
from ragrec.events.models import Event, EventReject, event_problem
from ragrec.retrieval.profiles import Profile, apply_event, build_profiles
from ragrec.retrieval.users import UserGate, UserProfiles
from ragrec.schema import ITEM_ID
from ragrec.store import VectorStore, point_id


class FeedbackResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[EventReject] = Field(default_factory=list)
    users_updated: list[str] = Field(default_factory=list)


def known_items(store: VectorStore, collection: str) -> Callable[[list[str]], set[str]]:
    def check(item_ids: list[str]) -> set[str]:
        unique = list(dict.fromkeys(item_ids))
        found = store.retrieve(collection, [point_id(i) for i in unique], payload=[ITEM_ID])
        return {r.payload[ITEM_ID] for r in found}

    return check


def item_vectors(store: VectorStore, collection: str, item_ids: list[str],
                 names: dict[str, str]) -> dict[str, dict[str, np.ndarray]]:
    """item id -> {space: vector}, for the items that exist; `names` maps each space to the item vector it is
    read from (`UserProfiles.item_vector_names`)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    unique = list(dict.fromkeys(item_ids))
    space_of = {name: space for space, name in names.items()}
    for start in range(0, len(unique), 1000):
        chunk = unique[start:start + 1000]
        for r in store.retrieve(collection, [point_id(i) for i in chunk], payload=[ITEM_ID], vectors=list(space_of)):
            out[r.payload[ITEM_ID]] = {space_of[n]: np.asarray(v, dtype=np.float32) for n, v in (r.vectors or {}).items()}
    return out


def fold(profiles: dict[str, Profile], events: list[Event], vectors: dict[str, dict[str, np.ndarray]],
         settings: Settings, slot: str) -> dict[str, Profile]:
    """Apply events (any order) to the given profiles, creating profiles for new users; `vectors` were read from
    the items' collab `slot`, which the profiles record."""
    for event in sorted(events, key=lambda e: e.timestamp):
        profile = profiles.setdefault(event.user_id, Profile(user_id=event.user_id))
        apply_event(profile, event, vectors.get(event.item_id, {}), settings)
        profile.collab_slot = slot
    return profiles


def record_feedback(events: list[Event], *, log, store: VectorStore, profiles: UserProfiles, settings: Settings,
                    gate: UserGate) -> FeedbackResult:
    """Append events to the log (duplicates ignored; unknown items, values out of range and future timestamps
    rejected with a reason) and update their users' vectors.

    Both under the gate and the log's writer lock (shared with other feedback; other processes on a PostgreSQL
    log): a reindex finishing meanwhile either replays these events into its new generation or sees this update
    land on it, never neither."""
    check = known_items(store, settings.items_collection)
    problems = [event_problem(e, settings) for e in events]
    # each event on its own: a valid event and an invalid one may share an event_id
    invalid = [EventReject(event_id=e.event_id, reason=p) for e, p in zip(events, problems) if p]
    events = [e for e, p in zip(events, problems) if not p]
    with gate.lock, log.writing():
        result = log.append(events, check)
        result.rejected = invalid + result.rejected
        by_user: dict[str, list[Event]] = defaultdict(list)
        for event in result.accepted:
            by_user[event.user_id].append(event)
        if by_user:
            apply_events(result.accepted, store=store, profiles=profiles, settings=settings, log=log)
    return FeedbackResult(accepted=len(result.accepted), duplicates=result.duplicates, rejected=result.rejected,
                          users_updated=sorted(by_user))


def apply_events(events: list[Event], *, store: VectorStore, profiles: UserProfiles, settings: Settings,
                 collection: str | None = None, log=None) -> int:
    """Fold events into their users' stored profiles (in `collection`, default the live generation).

    An event older than its user's latest one cannot be folded in: the short-term sums position events by time,
    and a late one would count as the newest. With the `log` (which holds it already), such a user is rebuilt from
    their whole history instead, as reindex would build them."""
    if not events:
        return 0
    if collection is None:
        profiles.ensure()
    slot = profiles.slot(collection)  # the generation's: a reindex fills the other slot for its new one
    names = profiles.item_vector_names(slot)
    vectors = item_vectors(store, settings.items_collection, [e.item_id for e in events], names)
    known = [e for e in events if e.item_id in vectors]  # items since deleted from the catalog
    current = profiles.get_many(list(dict.fromkeys(e.user_id for e in known)), collection)
    late = {e.user_id for e in known if log is not None and (p := current.get(e.user_id)) is not None
            and p.last_event is not None and e.timestamp.timestamp() < p.last_event}
    updated = fold(current, [e for e in known if e.user_id not in late], vectors, settings, slot)
    for user_id in late:
        updated[user_id] = rebuild_user(user_id, log=log, store=store, settings=settings, names=names, slot=slot)
    profiles.save(list(updated.values()), collection)
    return len(known)


def rebuild_user(user_id: str, *, log, store: VectorStore, settings: Settings, names: dict[str, str],
                 slot: str) -> Profile:
    """One user's profile from their whole history in the log, as reindex builds it (valid events of items
    still in the catalog)."""
    history = [e for e in log.user_events(user_id) if event_problem(e, settings) is None]
    vectors = item_vectors(store, settings.items_collection, [e.item_id for e in history], names)
    profile = build_profiles([e for e in history if e.item_id in vectors], vectors, settings).get(user_id) \
        or Profile(user_id=user_id)
    profile.collab_slot = slot
    return profile
