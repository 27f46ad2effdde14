"""The event log's contract, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from ragrec.config import Settings
from ragrec.events.log import POSITIVE_TYPES, EventLog, EventLogError, events_url
from ragrec.events.models import Event, EventType, StoredEvent
from ragrec.events.log import open_event_log, parse_url

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def ev(event_id, user="u1", item="i1", type="view", value=None, at=0.0) -> Event:
    return Event(event_id=event_id, user_id=user, item_id=item, type=type, value=value,
                 timestamp=T0 + timedelta(seconds=at))


def every_item(ids):
    return set(ids)


def test_append_stores_events_and_creates_users(event_log):
    result = event_log.append([ev("a", "u1"), ev("b", "u2", type="rating", value=4.5), ev("c", "u1")], every_item)
    assert [e.event_id for e in result.accepted] == ["a", "b", "c"]
    assert (result.duplicates, result.rejected) == (0, [])
    assert event_log.count() == 3 and event_log.count("u1") == 2
    assert event_log.has_user("u1") and event_log.has_user("u2") and not event_log.has_user("u3")
    assert list(event_log.users()) == ["u1", "u2"] and event_log.user_count() == 2
    assert event_log.user_events("u2") == [ev("b", "u2", type="rating", value=4.5)]


def test_duplicate_event_ids_in_a_batch_and_across_calls_change_nothing(event_log):
    first = event_log.append([ev("a", item="i1"), ev("b"), ev("a", item="i1", at=5)], every_item)
    assert [e.event_id for e in first.accepted] == ["a", "b"] and first.duplicates == 1  # resent: a duplicate
    assert first.accepted[0].timestamp == T0  # the first of a repeated id wins

    again = event_log.append([ev("b"), ev("c"), ev("a", item="i1"), ev("c")], every_item)
    assert [e.event_id for e in again.accepted] == ["c"] and again.duplicates == 3
    assert event_log.count() == 3

    nothing_new = event_log.append([ev("a", item="i1"), ev("b"), ev("c")], every_item)
    assert (nothing_new.accepted, nothing_new.duplicates) == ([], 3)
    assert event_log.append([], every_item).accepted == []


def test_an_event_id_reused_for_another_event_is_rejected_with_the_reason(event_log):
    """An id sent again for a different event (another item, type or value) is a client's mistake: it is not
    silently counted as a duplicate (the second event would be lost without a word)."""
    first = event_log.append([ev("a", item="i1", type="like"), ev("a", item="i2", type="dislike")], every_item)
    assert [e.event_id for e in first.accepted] == ["a"] and first.duplicates == 0
    assert [r.reason for r in first.rejected] == [
        "event_id 'a' is already used earlier in this batch by another event ('u1' like 'i1'): give each event its "
        "own id"]
    later = event_log.append([ev("a", item="i1", type="rating", value=4.0), ev("a", item="i1", type="like")],
                             every_item)
    assert later.accepted == [] and later.duplicates == 0  # the second is a duplicate of the first of this batch,
    assert [r.reason for r in later.rejected] == [  # which itself names another event than the stored one
        "event_id 'a' is already used earlier in this batch by another event ('u1' rating 'i1' 4): give each event "
        "its own id",
        "event_id 'a' is already used in the log by another event ('u1' like 'i1'): give each event its own id"]
    stored = event_log.user_events("u1")
    assert [(e.item_id, e.type) for e in stored] == [("i1", EventType.like)]


def test_unknown_items_are_rejected_with_a_reason(event_log):
    asked = []

    def catalog(ids):
        asked.append(ids)
        return {"i1"} & set(ids)

    result = event_log.append([ev("a", "u1", "i1"), ev("b", "u2", "gone"), ev("c", "u1", "gone")], catalog)
    assert asked == [["i1", "gone"]]  # one call, distinct ids
    assert [e.event_id for e in result.accepted] == ["a"]
    assert [(r.event_id, r.reason) for r in result.rejected] == [("b", "unknown item gone"), ("c", "unknown item gone")]
    assert event_log.count() == 1
    assert not event_log.has_user("u2")  # users are created with their first stored event only


def test_user_events_come_in_time_order_with_ties_in_arrival_order(event_log):
    exact = datetime(2024, 5, 1, 14, 0, 0, 123457, tzinfo=timezone(timedelta(hours=2)))  # 12:00:00.123457 UTC
    event_log.append([ev("late", at=60), ev("tie1", at=1), ev("early", at=-3600)], every_item)
    event_log.append([ev("tie2", at=1), Event(event_id="tz", user_id="u1", item_id="i1", type="click", timestamp=exact)],
                     every_item)
    got = event_log.user_events("u1")
    assert [e.event_id for e in got] == ["early", "tz", "tie1", "tie2", "late"]
    assert got[1].timestamp == exact and got[1].timestamp.tzinfo is not None  # microseconds and offset kept exactly
    naive = ev("naive").model_copy(update={"timestamp": datetime(2030, 1, 1)})
    event_log.append([naive], every_item)
    assert event_log.user_events("u1")[-1].timestamp == datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_iter_events_streams_by_user_then_time(event_log):
    event_log.append([ev("b2", "ub", at=5), ev("a1", "ua", at=9), ev("b1", "ub", at=1), ev("a0", "ua", at=0)],
                     every_item)
    assert [e.event_id for e in event_log.iter_events(batch=2)] == ["a0", "a1", "b1", "b2"]


def test_positive_pairs_are_the_positive_events_in_iter_events_order(event_log):
    """What collaborative training reads instead of whole events: its item and user order (and so ALS's start)
    must not change."""
    event_log.append([
        ev("1", "ub", "i3", "view", at=5), ev("2", "ua", "i1", "like", at=9), ev("3", "ub", "i1", "dislike", at=1),
        ev("4", "ua", "i2", "rating", value=1.0, at=0), ev("5", "ub", "i2", "skip", at=2),
        ev("6", "ub", "i4", "purchase", at=5), ev("7", "ua", "i1", "view", at=3),
    ], every_item)
    expected = [(e.user_id, e.item_id) for e in event_log.iter_events() if e.type in POSITIVE_TYPES]
    assert [tuple(p) for p in event_log.positive_pairs(batch=2)] == expected
    assert expected == [("ua", "i2"), ("ua", "i1"), ("ua", "i1"), ("ub", "i3"), ("ub", "i4")]  # ties: arrival order


def test_iter_stored_reads_the_events_iter_events_reads_as_rows(event_log):
    """reindex reads StoredEvent rows: the same events, fields and order as whole Events, up to a seq."""
    event_log.append([ev("1", "ub", "i3", "view", at=5), ev("2", "ua", "i1", "rating", value=4.5, at=9),
                      ev("3", "ub", "i1", "dislike", at=1)], every_item)
    upto = event_log.last_seq()
    event_log.append([ev("4", "ua", "i2", "like", at=0)], every_item)

    def rows(events):
        return [StoredEvent(e.user_id, e.item_id, e.type, e.value, e.timestamp) for e in events]

    assert list(event_log.iter_stored(batch=2)) == rows(event_log.iter_events())
    assert list(event_log.iter_stored(upto=upto)) == rows(event_log.iter_events(upto=upto))
    assert [e.item_id for e in event_log.iter_stored(upto=upto)] == ["i1", "i1", "i3"]
    assert all(isinstance(e.type, EventType) and e.timestamp.tzinfo for e in event_log.iter_stored())


def test_forget_user_erases_their_events_and_nothing_else(event_log):
    event_log.append([ev("a", "u1"), ev("b", "u1", "i2"), ev("c", "u2")], every_item)
    assert event_log.forget_user("u1") == 2
    assert not event_log.has_user("u1") and event_log.user_events("u1") == []
    assert event_log.count() == 1 and list(event_log.users()) == ["u2"]
    assert event_log.popularity() == {"i1": 1}
    assert event_log.forget_user("nobody") == 0


def test_popularity_counts_distinct_users_over_positive_types(event_log):
    event_log.append([
        ev("1", "u1", "i1", "view"), ev("2", "u1", "i1", "view", at=1), ev("3", "u1", "i1", "purchase", at=2),
        ev("4", "u2", "i1", "rating", value=1.0), ev("5", "u3", "i1", "dislike"),
        ev("6", "u1", "i2", "skip"), ev("7", "u2", "i2", "dislike"),
        ev("8", "u3", "i3", "add_to_cart"), ev("9", "u3", "i3", "like"),
    ], every_item)
    assert event_log.popularity() == {"i1": 2, "i3": 1}  # dislikes and skips count for nothing
    assert event_log.popularity(types=["dislike", EventType.skip]) == {"i1": 1, "i2": 2}
    assert EventType.dislike not in POSITIVE_TYPES and EventType.rating in POSITIVE_TYPES


def test_a_big_batch_is_stored_whole(event_log):
    events = [ev(f"e{i}", f"u{i % 97}", f"i{i % 1000}", at=i) for i in range(25_000)]
    result = event_log.append(events + events[:10], every_item)
    assert len(result.accepted) == 25_000 and result.duplicates == 10
    assert event_log.count() == 25_000 and event_log.user_count() == 97
    assert [e.event_id for e in event_log.user_events("u5")][:3] == ["e5", "e102", "e199"]


def test_the_log_survives_reopening(log_url):
    with EventLog(log_url) as log:
        log.append([ev("a")], every_item)
    with EventLog(log_url) as log:
        assert log.count() == 1 and log.append([ev("a")], every_item).duplicates == 1


def test_concurrent_writers_of_the_same_new_users_in_opposite_orders_both_finish(log_url):
    """Two loads of one file (sorted two ways) at once: on PostgreSQL each waited for a row the other had inserted,
    and one failed with "deadlock detected". Rows now go in in one order; seq still follows each call's input."""
    events = [ev(f"e{n:05d}", f"u{n:05d}") for n in range(4000)]
    logs = [EventLog(log_url), EventLog(log_url)]
    start, results, errors = threading.Barrier(2), [], []

    def load(log, rows):
        start.wait()
        try:
            results.append(log.append(rows, every_item))
        except Exception as exc:  # noqa: BLE001: the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(log, rows)) for log, rows in zip(logs, (events, events[::-1]))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sum(len(r.accepted) for r in results) == 4000 and sum(r.duplicates for r in results) == 4000
        assert logs[0].count() == 4000 and logs[0].user_count() == 4000
        logs[0].append([ev("c", "tie", at=1), ev("a", "tie", at=1), ev("b", "tie", at=1)], every_item)
        assert [e.event_id for e in logs[0].user_events("tie")] == ["c", "a", "b"]  # ties in input order
    finally:
        for log in logs:
            log.close()


def test_a_deadlocked_append_is_retried(log_url):
    """A writer that locks rows in another order (an older ragrec) can still deadlock with an append: the
    database aborts one of the two, and an aborted append runs again rather than failing its batch."""
    if not log_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: no deadlocks")
    log = EventLog(log_url)
    other = log.engine.connect()
    insert = text("INSERT INTO users (user_id, created_at) VALUES (:u, now())")
    try:
        other.execute(insert, {"u": "b"})  # holds b...
        appending = threading.Thread(target=lambda: log.append([ev("1", "a"), ev("2", "b")], every_item))
        appending.start()  # ...the append inserts a, then waits for b
        time.sleep(0.5)
        other.execute(insert, {"u": "a"})  # waits for the append's a: a deadlock, found first by the append
        other.commit()
        appending.join(timeout=30)
        assert log.count() == 2 and log.user_count() == 2
    finally:
        other.close()
        log.close()


def test_events_url_defaults_to_sqlite_in_the_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path / "d")
    assert events_url(settings) == f"sqlite:///{(tmp_path / 'd').resolve() / 'events.db'}"
    with EventLog(events_url(settings)) as log:
        assert log.count() == 0
    assert (tmp_path / "d" / "events.db").is_file()
    with EventLog(events_url(settings)) as log, log.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert events_url(settings.model_copy(update={"events_url": "postgresql://x/y"})) == "postgresql://x/y"


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://", "sqlite:///:memory:"])
def test_unsupported_urls_are_refused_clearly(url):
    with pytest.raises(EventLogError):
        EventLog(url)


def test_an_unreachable_postgres_is_a_clear_error():
    with pytest.raises(EventLogError, match="cannot open the event log"):
        EventLog("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_events_keep_the_recommendation_they_answer_and_seen_items_come_from_an_index(event_log):
    event_log.append([ev("a", item="i1"), ev("b", item="i2", type="click").model_copy(update={"recommendation_id": "r1"}),
                      ev("c", item="i1", at=5)], every_item)
    assert [e.recommendation_id for e in event_log.user_events("u1")] == [None, "r1", None]
    assert event_log.seen_items("u1") == {"i1", "i2"} and event_log.seen_items("nobody") == set()
    assert event_log.last_seq() >= 3
    later = event_log.last_seq()
    event_log.append([ev("d", user="u2", item="i3")], every_item)
    assert [e.event_id for e in event_log.iter_events(after=later)] == ["d"]
    assert "d" not in [e.event_id for e in event_log.iter_events(upto=later)]


def test_a_log_from_an_earlier_version_is_upgraded_in_place(tmp_path):
    """Logs written before events carried a recommendation id: the column and the new index are added on open."""
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id VARCHAR(200) NOT NULL UNIQUE, "
            "user_id VARCHAR(200) NOT NULL, item_id VARCHAR(200) NOT NULL, type VARCHAR(16) NOT NULL, value FLOAT, "
            "ts_us BIGINT NOT NULL);"
            "CREATE TABLE users (user_id VARCHAR(200) PRIMARY KEY, created_at DATETIME NOT NULL);"
            "INSERT INTO events (event_id, user_id, item_id, type, value, ts_us) VALUES ('old', 'u1', 'i9', 'like', NULL, 0);"
            "INSERT INTO users VALUES ('u1', '2024-01-01');")
    log = EventLog(f"sqlite:///{path}")
    try:
        log.append([ev("new", item="i1").model_copy(update={"recommendation_id": "r7"})], every_item)
        assert [(e.event_id, e.recommendation_id) for e in log.user_events("u1")] == [("old", None), ("new", "r7")]
        assert log.seen_items("u1") == {"i1", "i9"}
    finally:
        log.close()
    with sqlite3.connect(path) as db:
        assert "ix_events_user_item" in {row[1] for row in db.execute("PRAGMA index_list(events)")}


@pytest.mark.parametrize("url, message", [
    ("garbage", "cannot read the event log URL 'garbage'"),
    ("mysql://u@h/db", "unsupported event log database 'mysql'"),
    (" postgresql://postgres:S3cret@127.0.0.1:55432/db", "cannot read the event log URL ' postgresql://postgres:***@"),
    ("postgresql://postgres:S3cret@127.0.0.1:5x432/db", "postgres:***@127.0.0.1:5x432/db': its port is not a number "
                                                        "(RAGREC_EVENTS_URL)"),
    ("postgresql+psycopg2://u:S3cret@h/db", "unsupported driver 'psycopg2' in 'postgresql+psycopg2://u:***@h/db': "
                                            "ragrec talks to PostgreSQL through psycopg 3 (postgresql://"),
    ("postgresql+asyncpg://u@h/db", "unsupported driver 'asyncpg'"),
    ("sqlite+aiosqlite:///events.db", "unsupported driver 'aiosqlite'"),
    ("postgresql://u:S3cret@127.0.0.1:55432/", "the event log URL 'postgresql://u:***@127.0.0.1:55432/' names no "
                                               "database: postgresql://user@host/DATABASE"),
    ("postgres://u@127.0.0.1:55432", "names no database"),
])
def test_unreadable_urls_say_which_and_never_show_the_password(url, message):
    with pytest.raises(EventLogError) as raised:
        EventLog(url)
    assert message in str(raised.value) and "S3cret" not in str(raised.value)


def test_a_postgres_url_is_read_as_postgresql_through_psycopg():
    url = parse_url("postgres://u:pw@h:5/db")
    assert url.render_as_string(hide_password=False) == "postgresql+psycopg://u:pw@h:5/db"
    assert parse_url("postgresql://u@h/db").drivername == parse_url("postgres+psycopg://u@h/db").drivername


def test_a_configured_sqlite_url_in_a_missing_folder_is_an_error_not_a_new_log(tmp_path):
    typo = Settings(data_dir=tmp_path / "d", events_url=f"sqlite:///{tmp_path / 'typo' / 'dir' / 'events.db'}")
    with pytest.raises(EventLogError, match=r"no folder .*typo/dir"):
        open_event_log(typo)
    assert not (tmp_path / "typo").exists()
    existing = Settings(data_dir=tmp_path / "d", events_url=f"sqlite:///{tmp_path / 'events.db'}")
    with open_event_log(existing) as log:
        assert log.count() == 0
    with open_event_log(Settings(data_dir=tmp_path / "fresh")) as log:  # the default: ragrec's own data dir
        assert log.count() == 0
    assert (tmp_path / "fresh" / "events.db").is_file()


def test_a_postgresql_server_that_never_answers_is_an_error_within_the_connect_timeout():
    """A listener that accepts and never answers (a firewall, a wrong port on a busy host) hung every command:
    psycopg's own default is 130 s per address."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/db"
        for settings, waited in [(Settings(events_url=url, events_connect_timeout=2), 2),
                                 (Settings(events_url=url + "?connect_timeout=2", events_connect_timeout=600), 2)]:
            started = time.monotonic()
            with pytest.raises(EventLogError, match=rf"connection timeout expired \(no answer within {waited} s: "
                                                    r"RAGREC_EVENTS_CONNECT_TIMEOUT"):
                open_event_log(settings)
            assert time.monotonic() - started < 10
