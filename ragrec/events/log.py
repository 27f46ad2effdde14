"""The append-only event log: every feedback event ragrec has accepted, in SQLite (default) or PostgreSQL.

User vectors and item popularity are derived data: `reindex` rebuilds them from this log, so the log is the one
thing that must be durable. Two tables, SQLAlchemy Core:

- `events`: `seq` (insertion order), `event_id` (unique: a duplicate is ignored), `user_id`, `item_id`, `type`,
  `value` (the rating), `ts_us` (the event time as integer microseconds since the epoch, UTC: exact, and ordered
  the same way by every database).
- `users`: every user with at least one stored event, created with their first one.

The tables below mirror the schema the Alembic migrations build (`ragrec/events/migrations/`, applied on open by
`migrate.py`); a schema change is a new migration plus the matching change here.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    delete,
    event,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.engine import URL, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ragrec.events import migrate as migrations
from ragrec.events.models import MAX_ID_CHARS, AppendResult, Event, EventReject, EventType, StoredEvent
from ragrec.retry import retrying

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

# Popularity counts users who engaged with an item: everything but `dislike` and `skip`. A rating counts whatever
# its value: the user chose to watch/read/buy the item, which is what popularity measures; how much they liked it
# is the user vector's business.
POSITIVE_TYPES: tuple[EventType, ...] = (
    EventType.view, EventType.click, EventType.like, EventType.add_to_cart, EventType.purchase, EventType.rating,
)

metadata = MetaData()
events_table = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(MAX_ID_CHARS), nullable=False, unique=True),
    Column("user_id", String(MAX_ID_CHARS), nullable=False),
    Column("item_id", String(MAX_ID_CHARS), nullable=False),
    Column("type", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("ts_us", BigInteger, nullable=False),
    Column("recommendation_id", String(64), nullable=True),  # the list the event answers (attribution)
    Index("ix_events_user_ts", "user_id", "ts_us", "seq"),  # user_events, iter_events, forget_user
    Index("ix_events_item", "item_id"),
    Index("ix_events_user_item", "user_id", "item_id"),  # seen_items: answered from the index alone
    sqlite_autoincrement=True,  # a seq is never given twice, even after the newest event is deleted (0003)
)
users_table = Table(
    "users",
    metadata,
    Column("user_id", String(MAX_ID_CHARS), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_CHUNK = 10_000  # events per INSERT statement
# `EventLog.writing`'s PostgreSQL advisory lock: ("ragr", the schema's hash), so logs in two schemas of one database
# (search_path) do not wait for each other
_WRITERS_KEY = 0x72616772
_NEXT_SEQ = text("SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, :n)")

# Bulk inserts are one statement per chunk whatever its size: the rows travel as one JSON array (SQLite) or one
# array per column (PostgreSQL), and RETURNING names exactly the rows this statement stored: a conflicting
# event_id, whether already in the log or inserted by a concurrent writer, is skipped by ON CONFLICT DO NOTHING and
# not returned. `seq` follows the input order: SQLite inserts in that order (one writer at a time); PostgreSQL
# inserts sorted by event_id, with the rows' seq values drawn in input order first (`_NEXT_SEQ`), because two
# writers inserting the same new events or users in different orders each wait for a row the other holds: a
# deadlock (two loads of one file, sorted two ways). A multi-row VALUES insert through the driver is 5-10x slower
# (psycopg parses a 60,000-placeholder statement; SQLAlchemy binds every parameter one by one).
_STATEMENTS = {
    "sqlite": (  # needs SQLite >= 3.35 (RETURNING) with JSON1: Python 3.11 ships 3.40+
        text(
            "INSERT INTO events (event_id, user_id, item_id, type, value, ts_us, recommendation_id) "
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
            "json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), "
            "json_extract(value, '$[6]') "
            "FROM json_each(:rows) WHERE true ORDER BY key "  # WHERE true: SQLite's upsert-after-SELECT parse rule
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        ),
        text(
            "INSERT INTO users (user_id, created_at) SELECT value, :now FROM json_each(:users) WHERE true "
            "ON CONFLICT (user_id) DO NOTHING"
        ).bindparams(bindparam("now", type_=DateTime(timezone=True))),
    ),
    "postgresql": (
        text(
            "INSERT INTO events (seq, event_id, user_id, item_id, type, value, ts_us, recommendation_id) "
            "SELECT s, e, u, i, t, v, ts, rid FROM unnest(CAST(:s AS bigint[]), CAST(:e AS text[]), "
            "CAST(:u AS text[]), CAST(:i AS text[]), CAST(:t AS text[]), CAST(:v AS double precision[]), "
            "CAST(:ts AS bigint[]), CAST(:rid AS text[])) "
            "WITH ORDINALITY AS r(s, e, u, i, t, v, ts, rid, n) ORDER BY n "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        ),
        text(
            "INSERT INTO users (user_id, created_at) SELECT u, :now FROM unnest(CAST(:users AS text[])) "
            "WITH ORDINALITY AS r(u, n) ORDER BY n ON CONFLICT (user_id) DO NOTHING"
        ).bindparams(bindparam("now", type_=DateTime(timezone=True))),
    ),
}


class EventLogError(RuntimeError):
    """The event log cannot be opened or written; the message says what to do."""


class NoEventLog(EventLogError):
    """A SQLite event log opened with `must_exist` is not there (nothing was created)."""


def events_url(settings: Any) -> str:
    """`settings.events_url` (RAGREC_EVENTS_URL) when set, else a SQLite file `events.db` in the data dir."""
    url = getattr(settings, "events_url", None)
    if url:
        return url
    return f"sqlite:///{Path(settings.data_dir).resolve() / 'events.db'}"


def open_event_log(settings: Any, must_exist: bool = False) -> EventLog:
    """The event log Settings name. A SQLite file is created only in the data dir (the default) or in a folder
    that exists: a mistyped RAGREC_EVENTS_URL must not start a new, empty log beside the real one. `must_exist`:
    a SQLite file that is not there is an error (`NoEventLog`), not a new log (commands that only look)."""
    return EventLog(events_url(settings), create_folder=not getattr(settings, "events_url", None),
                    migrate=getattr(settings, "events_migrate", True), must_exist=must_exist,
                    connect_timeout=getattr(settings, "events_connect_timeout", None),
                    lock_timeout=getattr(settings, "events_lock_timeout", None))


def parse_url(url: str) -> URL:
    """The event log's URL, checked: SQLite through Python's sqlite3, or PostgreSQL through psycopg 3 (the driver
    ragrec ships) in a named database. Every message shows the URL with its password masked."""
    shown = _masked(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise EventLogError(f"cannot read the event log URL {shown!r}: use sqlite:///path/events.db or "
                            "postgresql://user@host/db (RAGREC_EVENTS_URL)") from None
    except ValueError:  # make_url's int() of the port
        raise EventLogError(f"cannot read the event log URL {shown!r}: its port is not a number "
                            "(RAGREC_EVENTS_URL)") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":  # libpq's and Heroku's spelling, which SQLAlchemy refuses
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise EventLogError(f"unsupported event log database {parsed.drivername!r} in {shown!r}: use sqlite:/// or "
                            "postgresql:// (RAGREC_EVENTS_URL)")
    if driver not in ("", "pysqlite" if backend == "sqlite" else "psycopg"):
        raise EventLogError(f"unsupported driver {driver!r} in {shown!r}: ragrec talks to PostgreSQL through psycopg 3 "
                            "(postgresql:// or postgresql+psycopg://) and to SQLite through Python's sqlite3 "
                            "(sqlite:///path) (RAGREC_EVENTS_URL)")
    if backend == "postgresql":  # SQLAlchemy's default driver is psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database:  # else the server's default, `postgres`, would get the log's tables
            raise EventLogError(f"the event log URL {shown!r} names no database: postgresql://user@host/DATABASE "
                                "(RAGREC_EVENTS_URL)")
    return parsed


def _masked(url: str) -> str:
    """`url` with any password replaced by ***, as SQLAlchemy renders it, even when the URL cannot be parsed."""
    return re.sub(r"(//[^:/@\s]*:).*@", r"\1***@", url)


def db_error(exc: BaseException) -> str:
    """A database error in one line: the driver's own message, without SQLAlchemy's statement and help link."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def to_us(ts: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch (naive = UTC), exactly."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return (ts - EPOCH) // _US


def stored_valid(settings, now: datetime):
    """`event_problem`'s checks that SQL can make, for the scans reindex runs without reading each event (item
    popularity, collaborative training): a time from 1970 to `now` plus the allowed clock skew, a rating's value in
    range and no value on other types, ids not empty. (Control characters in ids are refused where events come in.)"""
    c = events_table.c
    latest = to_us(now) + int(settings.max_clock_skew_seconds * 1_000_000)
    rated = and_(c.type == EventType.rating.value, c.value >= settings.rating_min, c.value <= settings.rating_max)
    return and_(c.ts_us >= 0, c.ts_us <= latest, c.user_id != "", c.item_id != "",
                or_(rated, and_(c.type != EventType.rating.value, c.value.is_(None))))


def from_us(us: int) -> datetime:
    """The stored time back; one beyond what a datetime holds (a row no check stopped) becomes the nearest
    representable time, which `event_problem` rejects, rather than failing the whole read."""
    try:
        return EPOCH + timedelta(microseconds=us)
    except OverflowError:
        return (datetime.min if us < 0 else datetime.max).replace(tzinfo=timezone.utc)


class EventLog:
    """The durable, append-only event log at a SQLAlchemy URL (`sqlite:///path` or `postgresql+psycopg://...`)."""

    def __init__(self, url: str, *, busy_timeout: float = 30.0, create_folder: bool = True, migrate: bool = True,
                 must_exist: bool = False, connect_timeout: int | None = None, lock_timeout: float | None = None):
        """`create_folder=False`: a SQLite file may only be created in a folder that already exists. `migrate`:
        bring the schema to head (Alembic); False: refuse a log that is not at head (migrations are a deploy
        step, `ragrec events migrate`). `must_exist`: refuse to create a SQLite file (NoEventLog).
        PostgreSQL: `connect_timeout` seconds per connection (unless the URL sets it), `lock_timeout` seconds of
        waiting for the migration lock or the writer lock (None: the driver's and the server's defaults)."""
        parsed = parse_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise EventLogError("the event log needs a SQLite file (sqlite:///path/events.db), not an in-memory db")
            folder = Path(parsed.database).parent
            if must_exist and not Path(parsed.database).is_file():
                raise NoEventLog(f"no event log at {parsed.database}")
            if create_folder:
                folder.mkdir(parents=True, exist_ok=True)
            elif not folder.is_dir():
                raise EventLogError(f"no folder {folder} for the SQLite event log {url!r}: check RAGREC_EVENTS_URL, "
                                    "or create the folder")
            self.engine: Engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            connect_timeout = parsed.query.get("connect_timeout", connect_timeout)  # the URL's own wins
            self.engine = create_engine(parsed, pool_pre_ping=True, connect_args=(
                {} if connect_timeout is None else {"connect_timeout": connect_timeout}))
        self.url = parsed.render_as_string(hide_password=True)
        self.lock_timeout = lock_timeout
        try:
            self.migrated: tuple[str | None, str] | None = None  # (revision before, head) when migrate ran
            if migrate:
                # several processes opening one fresh SQLite file at once: switching it to WAL can fail with
                # "database is locked" without SQLite's busy handler waiting; the migration is one transaction,
                # so trying it again is safe
                for attempt in retrying(5 if self.dialect == "sqlite" else 0, _sqlite_locked):
                    with attempt:
                        self.migrated = migrations.upgrade(self.engine, lock_timeout)
            else:
                migrations.require_head(self.engine)
        except migrations.SchemaError as exc:
            self.engine.dispose()
            raise EventLogError(f"cannot open the event log at {self.url}: {exc}") from None
        except Exception as exc:  # OperationalError and driver variants: unreachable server, bad path
            self.engine.dispose()
            hint = ""
            if "timeout expired" in db_error(exc):  # psycopg's ConnectionTimeout
                hint = (f" (no answer within {connect_timeout} s: RAGREC_EVENTS_CONNECT_TIMEOUT, or connect_timeout "
                        "in the URL)")
            raise EventLogError(f"cannot open the event log at {self.url}: {db_error(exc)}{hint}") from exc
        self._insert_events, self._insert_users = _STATEMENTS[self.dialect]

    # --- writing -----------------------------------------------------------------------------------------------

    @contextmanager
    def writing(self, exclusive: bool = False) -> Iterator[None]:
        """The log's writer lock, across processes: whatever writes user state (feedback with its vector update,
        forgetting, a bulk load's append) holds it shared; a reindex holds it alone twice. First to read where the
        log ends: PostgreSQL draws seq values before the append commits, so without the lock an append under way
        could commit a seq below the end the reindex read, and be neither read nor replayed. Then to replay what
        came since and switch generations: feedback of another API replica would otherwise land in the generation
        being replaced. On PostgreSQL an advisory lock, held by a transaction (a dead process's lock goes with
        its connection), waiting at most `lock_timeout` seconds. On SQLite nothing: the user gate orders the
        process's writes, the one writer at a time commits seqs in order, and the embedded store has one process."""
        if self.dialect != "postgresql":
            yield
            return
        with self.engine.begin() as conn:
            try:
                if self.lock_timeout is not None:
                    conn.execute(text("SELECT set_config('lock_timeout', :ms, true)"),
                                 {"ms": f"{round(self.lock_timeout * 1000)}ms"})
                conn.execute(_LOCK_ALONE if exclusive else _LOCK_SHARED, {"key": _WRITERS_KEY})
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available: lock_timeout ran out
                    raise
                waited = "the server's lock_timeout" if self.lock_timeout is None else f"{self.lock_timeout:g} s"
                raise EventLogError(f"the event log's writer lock was not free within {waited} "
                                    "(RAGREC_EVENTS_LOCK_TIMEOUT): a reindex is catching up and switching generations, "
                                    "or a process holds it; try again") from None
            yield

    def append(self, events: list[Event], known_items: Callable[[list[str]], set[str]],
               lines: list[int] | None = None) -> AppendResult:
        """Store new events in one transaction.

        Events whose item is not in `known_items(distinct item ids)` are rejected ("unknown item <id>"); an
        event_id already stored, or repeated in `events`, is a duplicate: counted and ignored, unless it names
        another event (user, item, type or value differ: an id reused by mistake), which is rejected with the
        reason. `accepted` holds exactly the events this call stored, in input order. Users are created with their
        first stored event. `lines`: each event's line in the file it came from, for its reject.
        """
        result = AppendResult()
        if not events:
            return result
        line_of = dict(zip(map(id, events), lines or []))
        known = known_items(list(dict.fromkeys(e.item_id for e in events)))
        fresh: dict[str, Event] = {}
        for e in events:
            if e.item_id not in known:
                result.rejected.append(EventReject(line=line_of.get(id(e)), event_id=e.event_id,
                                                   reason=f"unknown item {e.item_id}"))
            elif e.event_id in fresh:
                if _what(e) == _what(fresh[e.event_id]):
                    result.duplicates += 1
                else:
                    result.rejected.append(EventReject(line=line_of.get(id(e)), event_id=e.event_id, reason=_reused(
                        e, fresh[e.event_id], "earlier in this batch")))
            else:
                fresh[e.event_id] = e
        if not fresh:
            return result
        # a deadlock (with a writer that locks rows in another order: an older ragrec) rolls the whole transaction
        # back, so it runs again
        for attempt in retrying(3, _deadlocked):
            with attempt:
                stored = self._insert(list(fresh.values()))
        result.accepted = [e for e in fresh.values() if e.event_id in stored]
        repeated = [e for e in fresh.values() if e.event_id not in stored]
        before = self._stored_events([e.event_id for e in repeated]) if repeated else {}
        for e in repeated:
            if e.event_id in before and _what(before[e.event_id]) != _what(e):
                result.rejected.append(EventReject(line=line_of.get(id(e)), event_id=e.event_id,
                                                   reason=_reused(e, before[e.event_id], "in the log")))
            else:
                result.duplicates += 1
        return result

    def _stored_events(self, event_ids: list[str]) -> dict[str, Event]:
        """The stored events of these ids (read only for ids an append found taken: a resent batch)."""
        found: dict[str, Event] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(event_ids, _CHUNK):
                rows = conn.execute(select(events_table).where(events_table.c.event_id.in_(chunk)))
                found.update((row.event_id, _event(row)) for row in rows)
        return found

    def _insert(self, events: list[Event]) -> set[str]:
        """Insert `events` (distinct ids) and their new users in one transaction; the ids of the events stored."""
        stored: set[str] = set()
        rows = [(e.event_id, e.user_id, e.item_id, e.type.value, e.value, to_us(e.timestamp), e.recommendation_id)
                for e in events]
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # seq in input order, locks in event_id order (see _STATEMENTS)
                seqs = sorted(conn.execute(_NEXT_SEQ, {"n": len(rows)}).scalars())
                rows = sorted([(s, *row) for s, row in zip(seqs, rows)], key=lambda row: row[1])
            for chunk in _chunks(rows, _CHUNK):
                stored.update(conn.execute(self._insert_events, self._event_params(chunk)).scalars())
            users = sorted({e.user_id for e in events if e.event_id in stored})  # one order for every writer
            now = datetime.now(timezone.utc)
            for chunk in _chunks(users, _CHUNK):
                conn.execute(self._insert_users, {**self._user_params(chunk), "now": now})
        return stored

    def _event_params(self, rows: list[tuple]) -> dict[str, Any]:
        if self.dialect == "sqlite":
            return {"rows": json.dumps(rows, ensure_ascii=False)}
        return dict(zip(("s", "e", "u", "i", "t", "v", "ts", "rid"), map(list, zip(*rows))))

    def _user_params(self, users: list[str]) -> dict[str, Any]:
        return {"users": json.dumps(users, ensure_ascii=False) if self.dialect == "sqlite" else users}

    def forget_user(self, user_id: str) -> int:
        """Erase a user: all their events and their user row. Returns the number of events deleted."""
        with self.engine.begin() as conn:
            deleted = conn.execute(delete(events_table).where(events_table.c.user_id == user_id)).rowcount
            conn.execute(delete(users_table).where(users_table.c.user_id == user_id))
        return deleted

    # --- reading -----------------------------------------------------------------------------------------------

    def user_events(self, user_id: str) -> list[Event]:
        """A user's events in time order (ties in insertion order)."""
        query = (
            select(*_EVENT_COLUMNS).where(events_table.c.user_id == user_id)
            .order_by(events_table.c.ts_us, events_table.c.seq)
        )
        with self.engine.connect() as conn:
            return [_event(row) for row in conn.execute(query)]

    def seen_items(self, user_id: str) -> set[str]:
        """The distinct items a user has any event on (what recommendations leave out), from an index. On every
        request: the rows are fetched with the driver's own fetchall (SQLAlchemy's per-row processing cost more than
        the query for a user with thousands of events), and the statement is built once, not per call."""
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(_SEEN, {"user_id": user_id}).cursor.fetchall()}

    def last_seq(self) -> int:
        """The sequence number of the newest stored event (0 for an empty log): a reindex reads the log up to it,
        then replays what arrived after."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(events_table.c.seq))).scalar_one() or 0

    def iter_events(self, batch: int = 2000, *, upto: int | None = None, after: int | None = None) -> Iterator[Event]:
        """Every event ordered by (user_id, time, seq), streamed: one user's events arrive together (reindex
        replays those after its start with this; it reads the rest as `iter_stored` rows).
        `upto` / `after`: only events with seq <= upto / seq > after."""
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=batch).execute(_ordered(_EVENT_COLUMNS, upto, after)):
                yield _event(row)

    def iter_stored(self, batch: int = 10_000, *, upto: int | None = None) -> Iterator[StoredEvent]:
        """`iter_events`' events, in its order, as StoredEvent rows: what reindex folds into profiles. A type this
        ragrec does not know stays the stored string (`event_problem` rejects it) rather than failing the read."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(_ordered(_STORED_COLUMNS, upto))
            for rows in result.partitions():
                for user_id, item_id, type_, value, ts_us in rows:
                    yield StoredEvent(user_id, item_id, _TYPES.get(type_, type_), value, from_us(ts_us))

    def positive_pairs(self, batch: int = 10_000, *, where=None) -> Iterator[tuple[str, str]]:
        """(user_id, item_id) of every positive event (`POSITIVE_TYPES`; those `where` holds for, if given), in
        `iter_events`' order, as plain rows: what collaborative training reads. An Event per row cost ~10 µs, 2.8
        min of a reindex at 16.5M events."""
        query = _ordered([events_table.c.user_id, events_table.c.item_id]).where(
            events_table.c.type.in_([t.value for t in POSITIVE_TYPES]))
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            for rows in conn.execution_options(yield_per=batch).execute(query).partitions():
                yield from rows

    def users(self, batch: int = 5000) -> Iterator[str]:
        """Every user id, in sorted order, streamed."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(
                select(users_table.c.user_id).order_by(users_table.c.user_id)
            )
            yield from result.scalars()

    def has_user(self, user_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(users_table.c.user_id).where(users_table.c.user_id == user_id)).first() is not None

    def count(self, user_id: str | None = None) -> int:
        """How many events are stored (of one user, if given)."""
        query = select(func.count()).select_from(events_table)
        if user_id is not None:
            query = query.where(events_table.c.user_id == user_id)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def user_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(users_table)).scalar_one()

    def popularity(self, types: Iterable[EventType | str] | None = None, *, where=None) -> dict[str, int]:
        """Distinct users per item over `types` (default `POSITIVE_TYPES`: every type but dislike and skip), of
        the events `where` holds for, if given.

        Distinct users, not events: one user viewing an item fifty times is one user who cared about it.
        """
        wanted = [EventType(t).value for t in (POSITIVE_TYPES if types is None else types)]
        query = (
            select(events_table.c.item_id, func.count(events_table.c.user_id.distinct()))
            .where(events_table.c.type.in_(wanted), *([] if where is None else [where]))
            .group_by(events_table.c.item_id)
        )
        with self.engine.connect() as conn:
            return {item: n for item, n in conn.execute(query)}

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventLog({self.url!r})"


_EVENT_COLUMNS = [events_table.c[name] for name in ("event_id", "user_id", "item_id", "type", "value", "ts_us",
                                                     "recommendation_id")]
_STORED_COLUMNS = [events_table.c[name] for name in ("user_id", "item_id", "type", "value", "ts_us")]
_TYPES = {t.value: t for t in EventType}
_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key, hashtext(current_schema()))")
_LOCK_ALONE = text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))")
_SEEN = select(events_table.c.item_id).where(events_table.c.user_id == bindparam("user_id")).distinct()


def _ordered(columns: list, upto: int | None = None, after: int | None = None):
    """`columns` of the events with seq <= upto and > after, ordered by (user_id, time, seq)."""
    query = select(*columns).order_by(events_table.c.user_id, events_table.c.ts_us, events_table.c.seq)
    if upto is not None:
        query = query.where(events_table.c.seq <= upto)
    if after is not None:
        query = query.where(events_table.c.seq > after)
    return query


def _event(row: Any) -> Event:
    return Event(  # validating is faster than pydantic's model_construct here (measured: 8 vs 15 µs)
        event_id=row.event_id, user_id=row.user_id, item_id=row.item_id, type=EventType(row.type),
        value=row.value, timestamp=from_us(row.ts_us), recommendation_id=row.recommendation_id,
    )


def _chunks(rows: list[T], n: int) -> Iterator[list[T]]:
    for start in range(0, len(rows), n):
        yield rows[start:start + n]


def _what(e: Event) -> tuple:
    """What an event says, for telling a resent event (a duplicate) from another one under a reused id: not its
    time, which a client that lets the server stamp it cannot resend the same."""
    return e.user_id, e.item_id, e.type, e.value


def _reused(e: Event, other: Event, where: str) -> str:
    return (f"event_id {e.event_id!r} is already used {where} by another event ({other.user_id!r} "
            f"{other.type.value} {other.item_id!r}{'' if other.value is None else f' {other.value:g}'}): give each "
            "event its own id")


def _deadlocked(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "40P01"  # PostgreSQL's deadlock_detected


def _sqlite_locked(exc: BaseException) -> bool:
    return "database is locked" in str(exc)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (the API serving recommendations) never block the writer, nor the writer them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed event survives a power cut: the log is the truth
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk loads insert into three indexes at random places
    cursor.close()


__all__ = ["POSITIVE_TYPES", "EventLog", "EventLogError", "events_url", "from_us", "open_event_log", "parse_url",
           "stored_valid", "to_us"]
