"""Event-log schema migrations (Alembic), on SQLite and PostgreSQL: from an empty database, from each schema ragrec
wrote before it used Alembic, concurrently, and with migrations left to a deploy step."""

from __future__ import annotations

import os
import subprocess
import time
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (BigInteger, Column, DateTime, Float, Index, Integer, MetaData, String, Table, create_engine,
                        inspect, text)

from ragrec.config import Settings
from ragrec.events.log import EventLog, EventLogError
from ragrec.events.models import Event
from ragrec.events.log import metadata, open_event_log
from ragrec.events.migrate import BASELINE, RECOMMENDATION_ID, SQLITE_AUTOINCREMENT, current, head

REPO = Path(__file__).resolve().parents[2]


def every_item(ids):
    return set(ids)


def legacy_tables(version: str) -> MetaData:
    """The tables as a pre-Alembic ragrec created them (SQLAlchemy `create_all`), by the commit that changed them:
    5a504ac the first log, 09fee2f + the (user, item) index, e59e8b2 + recommendation_id (the schema until Alembic)."""
    md = MetaData()
    columns = [
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(200), nullable=False, unique=True),
        Column("user_id", String(200), nullable=False),
        Column("item_id", String(200), nullable=False),
        Column("type", String(16), nullable=False),
        Column("value", Float, nullable=True),
        Column("ts_us", BigInteger, nullable=False),
    ]
    if version == "e59e8b2":
        columns.append(Column("recommendation_id", String(64), nullable=True))
    indexes = [Index("ix_events_user_ts", "user_id", "ts_us", "seq"), Index("ix_events_item", "item_id")]
    if version in ("09fee2f", "e59e8b2"):
        indexes.append(Index("ix_events_user_item", "user_id", "item_id"))
    Table("events", md, *columns, *indexes)
    Table("users", md, Column("user_id", String(200), primary_key=True),
          Column("created_at", DateTime(timezone=True), nullable=False))
    return md


def raw_engine(url: str):
    """An engine on the log's database without ragrec (the SQLite folder created, as EventLog would)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url)


def schema_differences(url: str) -> list:
    """What differs between the migrated database and the tables log.py queries (empty: they agree)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()


def test_an_empty_database_is_migrated_to_head_and_matches_the_code(log_url):
    with EventLog(log_url) as log:
        assert current(log.engine) == (head(), False) == (SQLITE_AUTOINCREMENT, False)
        log.append([Event(event_id="a", user_id="u", item_id="i", type="like", recommendation_id="r1")], every_item)
    assert schema_differences(log_url) == []
    with EventLog(log_url) as log:  # reopening at head changes nothing
        assert current(log.engine) == (head(), False)
        assert [e.recommendation_id for e in log.user_events("u")] == ["r1"]


@pytest.mark.parametrize("version, stamped", [("5a504ac", BASELINE), ("09fee2f", BASELINE),
                                              ("e59e8b2", RECOMMENDATION_ID)])
def test_a_log_from_before_alembic_is_stamped_and_upgraded_with_its_events(log_url, version, stamped):
    engine = raw_engine(log_url)
    legacy_tables(version).create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (event_id, user_id, item_id, type, value, ts_us) "
                          "VALUES ('old', 'u1', 'i9', 'rating', 4.5, 0)"))
        conn.execute(text("INSERT INTO users (user_id, created_at) VALUES ('u1', :t)"),
                     {"t": datetime(2024, 1, 1, tzinfo=timezone.utc)})
    assert current(engine) == (stamped, True)
    engine.dispose()

    with EventLog(log_url) as log:
        assert current(log.engine) == (head(), False)
        log.append([Event(event_id="new", user_id="u1", item_id="i1", type="like", recommendation_id="r7")],
                   every_item)
        assert [(e.event_id, e.value, e.recommendation_id) for e in log.user_events("u1")] == [
            ("old", 4.5, None), ("new", None, "r7")]
        assert log.seen_items("u1") == {"i1", "i9"} and log.user_count() == 1
        indexes = {i["name"] for i in inspect(log.engine).get_indexes("events")}
        newest = log.last_seq()
        log.forget_user("u1")  # the newest event's seq is not given again (0003 on SQLite)
        log.append([Event(event_id="after", user_id="u2", item_id="i1", type="like")], every_item)
        assert log.last_seq() > newest
    assert {"ix_events_user_ts", "ix_events_item", "ix_events_user_item"} <= indexes
    assert schema_differences(log_url) == []


def test_concurrent_processes_opening_one_fresh_log_all_succeed(log_url):
    """Four processes open the same empty database at once: one migrates, the others wait for its lock."""
    code = ("import sys; from ragrec.events.log import EventLog; log = EventLog(sys.argv[1]); "
            "print(log.count()); log.close()")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code, log_url], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [(rc, out.strip()) for rc, out, _ in results] == [(0, "0")] * 4, [err[-500:] for *_, err in results]
    with EventLog(log_url) as log, log.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head()]


def test_with_migrations_left_to_a_deploy_step_a_log_behind_is_refused(log_url):
    with pytest.raises(EventLogError, match=r"the event log is empty, this ragrec needs .*ragrec events migrate"):
        EventLog(log_url, migrate=False)
    engine = raw_engine(log_url)
    legacy_tables("e59e8b2").create_all(engine)
    engine.dispose()
    with pytest.raises(EventLogError, match=r"at 0002_recommendation_id \(before Alembic\)"):
        EventLog(log_url, migrate=False)
    EventLog(log_url).close()  # the deploy step
    with EventLog(log_url, migrate=False) as log:
        assert log.count() == 0


def test_a_log_migrated_by_a_newer_ragrec_is_refused_clearly(log_url):
    EventLog(log_url).close()
    engine = raw_engine(log_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    for migrate in (True, False):
        with pytest.raises(EventLogError, match="'0099_future', which this ragrec does not know.*upgrade ragrec"):
            EventLog(log_url, migrate=migrate)


def test_settings_turn_migration_on_open_off(tmp_path):
    settings = Settings(data_dir=tmp_path / "d", events_migrate=False)
    with pytest.raises(EventLogError, match="ragrec events migrate"):
        open_event_log(settings)
    with open_event_log(settings.model_copy(update={"events_migrate": True})):
        pass
    with open_event_log(settings) as log:
        assert log.count() == 0


def test_a_log_at_head_opens_while_another_process_holds_the_migration_lock(log_url):
    """Every open used to wait for the lock, without limit: now a log at head is only read, and one that needs
    migrating waits at most RAGREC_EVENTS_LOCK_TIMEOUT (PostgreSQL; SQLite's wait is its busy timeout)."""
    from ragrec.events.migrate import _LOCK_KEY

    EventLog(log_url).close()
    engine = raw_engine(log_url)
    holder = engine.connect()
    try:
        if log_url.startswith("sqlite"):
            holder.exec_driver_sql("BEGIN IMMEDIATE")  # what a migrating process holds
        else:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
        started = time.monotonic()
        with open_event_log(Settings(events_url=log_url, events_lock_timeout=30)) as log:
            assert log.count() == 0 and log.migrated == (head(), head())
        assert time.monotonic() - started < 10
        if log_url.startswith("postgresql"):  # a database that needs migrating waits for the lock, briefly
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE alembic_version, events, users"))
            with pytest.raises(EventLogError, match=r"needs migrating, and its lock was not free within 1 s "
                                                    r"\(RAGREC_EVENTS_LOCK_TIMEOUT\)"):
                open_event_log(Settings(events_url=log_url, events_lock_timeout=1))
    finally:
        holder.close()  # ends the session: its locks go with it
        engine.dispose()
