"""Writers of one event log in several processes: a reindex in one and feedback in another (two API replicas on a
PostgreSQL log) lose no event. Each "process" here is a Recommender of its own (its own user gate and connection
pool) on one store and one log; the log's writer lock (`EventLog.writing`) is what orders them."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from conftest import private_items
from ragrec.config import Settings
from ragrec.events.log import EventLog, EventLogError
from ragrec.events.models import Event
from ragrec.recommender import Recommender
from ragrec.retrieval import reindex as reindex_module

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
MOVIES = ["1", "2", "3", "5", "6", "10", "32", "47", "50", "110", "150", "260"]


def every_item(ids):
    return set(ids)


def like(user: str, item: str, hours: int) -> Event:
    return Event(event_id=f"{user}-{item}-{hours}", user_id=user, item_id=item, type="like",
                 timestamp=T0 + timedelta(hours=hours))


def test_a_seq_is_never_given_twice_even_after_the_newest_event_is_deleted(event_log):
    """A reindex replays the events after the seq it read at its start: a new event must never take the seq of
    one deleted meanwhile (SQLite reused the largest rowid before migration 0003)."""
    event_log.append([like("a", "1", 1), like("b", "2", 2)], every_item)
    newest = event_log.last_seq()
    event_log.forget_user("b")  # the newest event goes
    event_log.append([like("c", "3", 3)], every_item)
    assert event_log.last_seq() > newest
    assert [e.user_id for e in event_log.iter_events(after=newest)] == ["c"]


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def in_thread(target) -> tuple[threading.Thread, list]:
    errors: list = []

    def run():
        try:
            target()
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    return worker, errors


def test_the_writer_lock_is_shared_by_writers_and_held_alone_by_a_reindex(postgres_url):
    first, second = EventLog(postgres_url), EventLog(postgres_url, lock_timeout=0.3)
    try:
        with first.writing(), second.writing():  # feedback in two processes at once
            pass
        with first.writing():
            with pytest.raises(EventLogError) as waited:  # a reindex waits for the writes under way, at most
                with second.writing(exclusive=True):      # lock_timeout, then says so
                    pass
        assert "writer lock was not free within 0.3 s (RAGREC_EVENTS_LOCK_TIMEOUT)" in str(waited.value)
        with first.writing(exclusive=True):
            with pytest.raises(EventLogError, match="writer lock"):
                with second.writing():  # and writes wait while it switches generations
                    pass
        with second.writing(exclusive=True):  # nothing left held
            pass
    finally:
        first.close()
        second.close()


@pytest.fixture
def replicas(demo, embedder, postgres_url):
    """Two Recommenders on one store and one PostgreSQL log, as two API processes: 30 users with 4 likes each."""
    _, store, _ = demo
    items = private_items(store)
    settings = Settings(data_dir=demo[0].data_dir, items_collection=items,
                        users_collection=f"users-{uuid.uuid4().hex[:8]}")
    logs = [EventLog(postgres_url), EventLog(postgres_url)]
    first, second = (Recommender(settings, store=store, log=log, embedder=embedder) for log in logs)
    first.record_feedback([like(f"u{u:02d}", MOVIES[(u + n) % len(MOVIES)], n) for u in range(30) for n in range(4)])
    try:
        yield first, second
    finally:
        for name in (settings.users_collection, items):
            store.drop_collection(name)
        for log in logs:
            log.close()


def waiting_for_the_writer_lock(log: EventLog) -> bool:
    with log.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar()


def test_an_append_under_way_when_a_reindex_starts_is_not_lost(replicas, monkeypatch):
    """PostgreSQL draws an append's seq before it commits: a reindex that read where the log ends while another
    process's append was still under way, and read the users past it before it committed, used to see it neither
    then nor in its replay (the replay starts after the end it read)."""
    reindexing, other = replicas
    inside, release = threading.Event(), threading.Event()
    params = other.log._event_params

    def paused(rows):  # called in the append's transaction, its seq drawn, nothing committed yet
        inside.set()
        release.wait(60)
        return params(rows)

    monkeypatch.setattr(other.log, "_event_params", paused)
    slow, errors = in_thread(lambda: other.record_feedback([like("late", "260", 10)]))
    wait_until(inside.is_set)
    reindexing.record_feedback([like("early", "260", 10)])  # a later seq, committed first
    monkeypatch.setattr(reindex_module, "USERS_PER_CHUNK", 10)
    read_past = threading.Event()  # the first 10 users ("early", "late", "u00"...) are built
    report = {}

    def run():
        report["r"] = reindexing.reindex(on_progress=lambda *_: read_past.set())

    indexer, index_errors = in_thread(run)
    # the reindex waits for the append under way to commit (without the lock it reads on, past the user)
    wait_until(lambda: read_past.is_set() or waiting_for_the_writer_lock(reindexing.log), 60)
    release.set()
    slow.join()
    indexer.join()
    assert not errors and not index_errors
    assert report["r"].events + report["r"].events_replayed == 30 * 4 + 2
    assert reindexing.user("late").profile.n_events == 1


def test_feedback_from_another_process_while_a_reindex_switches_lands_in_the_new_generation(replicas, monkeypatch):
    reindexing, other = replicas
    store = reindexing.store
    switch = store.set_alias
    sent = {}

    def switching(alias, collection):
        if alias == reindexing.settings.users_collection and "worker" not in sent:
            sent["worker"], sent["errors"] = in_thread(lambda: other.record_feedback([like("u03", "150", 50)]))
            time.sleep(0.3)
            sent["waited"] = sent["worker"].is_alive()  # the generation being replaced takes no feedback
        return switch(alias, collection)

    monkeypatch.setattr(store, "set_alias", switching)
    reindexing.reindex()
    sent["worker"].join()
    assert sent["waited"] and not sent["errors"]
    profile = reindexing.user("u03").profile
    assert profile.n_events == 5 and profile.recent[0].item_id == "150"
