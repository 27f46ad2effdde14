"""Reindex: rebuild every user vector, the items' collab factors and popularity from the event log (the source of
truth).

User vectors (each user's short- and long-term sums, rebuilt as sparse products: `profiles.build_profiles`) go
into a fresh `users` generation that replaces the old one only when complete, so a reindex
after a change of embedding model (new items collection behind the alias) rebuilds users in the new space.
The item factors go into the items' collab slot the live users do not use (`schema.COLLAB_SLOTS`), and the new
users generation records that slot: the alias switch moves users and item factors together, so a reindex killed
at any point leaves the old pair serving. The old slot is emptied after the switch, and the new one before it is
filled, so no factor outlives the events it was trained on (a forgotten user's included).

It reads the log up to the newest event at its start; at the end, under the user gate and the log's writer lock
(`EventLog.writing`: other processes on a PostgreSQL log), it replays the events that arrived meanwhile into the
new generation, drops users forgotten meanwhile, and only then switches: feedback and forgetting never get lost in
a generation that is about to be replaced.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timezone
from itertools import groupby
from typing import Callable

import numpy as np
from pydantic import BaseModel

from ragrec.config import Settings
from ragrec.devices import collab_on_gpu
from ragrec.events.log import stored_valid
from ragrec.events.models import event_problem
from ragrec.retrieval.collab import ensure_collab_slots, store_item_factors, train_item_factors
from ragrec.retrieval.feedback import apply_events, item_vectors
from ragrec.retrieval.profiles import build_profiles
from ragrec.retrieval.users import UserGate, UserProfiles
from ragrec.schema import COLLAB, ITEM_ID, POPULARITY, other_slot
from ragrec.store import VectorStore

USERS_PER_CHUNK = 500  # users folded and saved together (progress is reported after each chunk)
# Item vectors read once per reindex, not once per chunk of users (at 100k users, 200 chunks reread the whole
# catalog: 70 s); bounded, as each item keeps ~2 KB (MiniLM 384 + collab 128 floats), so 200k items ~ 400 MB.
CACHED_ITEMS = 200_000
logger = logging.getLogger("ragrec.reindex")


class ReindexReport(BaseModel):
    users: int = 0
    users_without_vector: int = 0  # every event of theirs was skipped (deleted items, invalid events)
    events: int = 0
    events_unknown_item: int = 0
    events_invalid: int = 0  # stored events that ragrec rejects today (a value out of range, a future time): skipped
    items_popularity_changed: int = 0
    collab_items: int = 0
    collab_seconds: float = 0.0
    events_replayed: int = 0  # arrived while the reindex ran
    users_dropped: int = 0  # forgotten while the reindex ran
    users_collection: str = ""
    collab_slot: str = ""  # the items' collab slot the new users generation is built on
    seconds: float = 0.0


def refresh_popularity(store: VectorStore, items: str, popularity: dict[str, int]) -> tuple[int, set[str]]:
    """Write each item's popularity into its payload (0 for items nobody touched).

    Returns how many changed (an item without a popularity yet had 0), and the catalog's item ids."""
    store.create_payload_index(items, POPULARITY, "integer")
    by_value: dict[int, list[str]] = defaultdict(list)
    catalog: set[str] = set()
    changed = 0
    for record in store.scroll(items, payload=[ITEM_ID, POPULARITY]):
        catalog.add(record.payload[ITEM_ID])
        value = popularity.get(record.payload[ITEM_ID], 0)
        if record.payload.get(POPULARITY) != value:
            by_value[value].append(record.id)
            changed += record.payload.get(POPULARITY, 0) != value
    for value, ids in by_value.items():
        for start in range(0, len(ids), 1000):
            store.update_payload(items, ids[start:start + 1000], {POPULARITY: value})
    return changed, catalog


def reindex(*, log, store: VectorStore, profiles: UserProfiles, settings: Settings, gate: UserGate,
            on_progress: Callable[[int, int], None] | None = None) -> ReindexReport:
    with gate.reindexing() as forgotten:
        return _reindex(log, store, profiles, settings, gate, forgotten, on_progress)


def _reindex(log, store: VectorStore, profiles: UserProfiles, settings: Settings, gate: UserGate,
             forgotten: set[str], on_progress: Callable[[int, int], None] | None) -> ReindexReport:
    if COLLAB in profiles.spaces:
        collab_on_gpu(settings.collab_device)  # a GPU asked for and absent: fail before anything is written
    started = time.perf_counter()
    now = datetime.now(timezone.utc)  # what "in the future" means for the stored events, read once
    report = ReindexReport()
    items = settings.items_collection
    with log.writing(exclusive=True):  # appends under way (in any process) commit first: none lands below `upto`
        upto = log.last_seq()
    live_slot = profiles.slot()
    slot = other_slot(live_slot) if COLLAB in profiles.spaces else live_slot
    valid = stored_valid(settings, now)  # what users are built from, item popularity and factors count too
    report.items_popularity_changed, catalog = refresh_popularity(store, items, log.popularity(where=valid))
    if COLLAB in profiles.spaces:
        ensure_collab_slots(store, items)
        factors, collab = train_item_factors(log, settings, where=valid)
        store_item_factors(store, items, {i: f for i, f in factors.items() if i in catalog}, slot)
        report.collab_items, report.collab_seconds = len(factors), collab.seconds
    # payload and vector updates move points out of indexed segments: rebuild the index for fast queries again
    store.optimize(items)

    target = profiles.new_generation(slot)
    names = profiles.item_vector_names(slot)
    total_users = log.user_count()
    written: set[str] = set()
    chunk: list = []
    cached: dict[str, dict[str, np.ndarray] | None] = {}  # None: not in the catalog

    def flush() -> None:
        wanted = dict.fromkeys(e.item_id for e in chunk)
        missing = [i for i in wanted if i not in cached]
        fresh = item_vectors(store, items, missing, names)  # of the items that exist
        for item_id in missing[: max(0, CACHED_ITEMS - len(cached))]:
            cached[item_id] = fresh.get(item_id)
        vectors = fresh | {i: cached[i] for i in wanted if cached.get(i) is not None}
        known = [e for e in chunk if e.item_id in vectors]  # events of items since deleted from the catalog
        report.events_unknown_item += len(chunk) - len(known)
        built = build_profiles(known, vectors, settings)  # = fold({}, known, ...), as sparse products
        for profile in built.values():
            profile.collab_slot = slot
        profiles.save(list(built.values()), collection=target)
        written.update(built)
        report.events += len(known)
        chunk.clear()

    users_in_chunk = 0
    for user_id, events in groupby(log.iter_stored(upto=upto), key=lambda e: e.user_id):
        events = list(events)
        valid = [e for e in events if event_problem(e, settings, now) is None]
        report.events_invalid += len(events) - len(valid)
        chunk.extend(valid)
        users_in_chunk += 1
        report.users += 1
        if users_in_chunk >= USERS_PER_CHUNK:
            flush()
            users_in_chunk = 0
            logger.info("users written: %d of %d", report.users, total_users)
            if on_progress:
                on_progress(report.users, total_users)
    if chunk:
        flush()
    report.users_without_vector = report.users - len(written)

    # feedback and forgetting wait, here and in any process sharing a PostgreSQL log, while the new generation
    # catches up and takes over
    with gate.lock, log.writing(exclusive=True):
        # forgotten while we ran: here (even if they came back since) or by another process
        gone = forgotten | (written - set(log.users()))
        report.users_dropped = profiles.delete(sorted(gone), collection=target)
        late = [e for e in log.iter_events(after=upto) if e.user_id not in gone]
        late += [e for u in sorted(gone) if log.has_user(u) for e in log.user_events(u)]  # forgotten, then back
        report.events_replayed = apply_events(late, store=store, profiles=profiles, settings=settings,
                                              collection=target, log=log)
        previous = store.resolve(profiles.alias)
        store.flush(target)
        store.set_alias(profiles.alias, target)
    if previous and previous != target:
        store.drop_collection(previous)
    if slot != live_slot:  # the factors the old generation was built on serve nobody now
        store.delete_vectors(items, [live_slot])
        # deleting them moved every point out of the indexed segments: index again, or queries go exact
        store.optimize(items)
    if on_progress:
        on_progress(report.users, total_users)
    report.users_collection, report.collab_slot = target, slot
    report.seconds = time.perf_counter() - started
    return report
