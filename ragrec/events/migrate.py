"""Schema migrations of the event log with Alembic: applied when a log is opened (or by `ragrec events migrate`).

The migrations ship in `ragrec/events/migrations/` and Alembic is configured here, in code (no alembic.ini).

- Concurrency: the whole migration runs in one transaction holding a lock: a transaction-level advisory lock on
  PostgreSQL (DDL is transactional there), the database's write lock on SQLite (BEGIN IMMEDIATE). Two processes
  opening the same fresh log: the second waits, then finds it at head and does nothing. A log at head is opened
  without the lock.
- Logs made before ragrec used Alembic have no `alembic_version` table: they are stamped at the revision their
  columns match (with the baseline's indexes created where the earliest logs lack them), then upgraded.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
RECOMMENDATION_ID = "0002_recommendation_id"
SQLITE_AUTOINCREMENT = "0003_sqlite_autoincrement"
_LOCK_KEY = 0x7261677265637631  # PostgreSQL advisory lock id: "ragrecv1" (one per database)

# what a pre-Alembic log must have to be stamped at each revision; CREATE INDEX IF NOT EXISTS fills the gaps
_INDEXES = {
    BASELINE: {"ix_events_user_ts": "user_id, ts_us, seq", "ix_events_item": "item_id"},
    RECOMMENDATION_ID: {"ix_events_user_item": "user_id, item_id"},
}


class SchemaError(RuntimeError):
    """The log's schema is not one this ragrec can use (newer, or behind with migrations turned off)."""


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The revision this ragrec's code expects."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def _stamped(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _legacy(conn: Connection) -> str | None:
    """The revision a log without `alembic_version` matches: None for an empty database."""
    inspector = inspect(conn)
    if not inspector.has_table("events"):
        return None
    columns = {c["name"] for c in inspector.get_columns("events")}
    return RECOMMENDATION_ID if "recommendation_id" in columns else BASELINE


def current(engine: Engine) -> tuple[str | None, bool]:
    """(the log's revision, whether it is a pre-Alembic log not stamped yet); (None, False) for an empty database."""
    with engine.connect() as conn:
        stamped = _stamped(conn)
        if stamped:
            return stamped, False
        legacy = _legacy(conn)
        return legacy, legacy is not None


def _lock(conn: Connection, timeout: float | None) -> None:
    if conn.dialect.name == "postgresql":
        if timeout is not None:  # for this transaction: the lock, and the tables the migration alters
            conn.execute(text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{round(timeout * 1000)}ms"})
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    else:  # pysqlite begins lazily: take SQLite's write lock now, so DDL and the stamp run in this transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
    if revision not in known:
        raise SchemaError(f"the event log is at schema revision {revision!r}, which this ragrec does not know: it was "
                          "migrated by a newer ragrec; upgrade ragrec")


def upgrade(engine: Engine, lock_timeout: float | None = None) -> tuple[str | None, str]:
    """Bring the log to head, under the lock (waiting at most `lock_timeout` seconds on PostgreSQL). Returns (the
    revision it was at, head); None = an empty database. A log already at head, what almost every open finds, is
    only read: no lock, so no wait behind another process's migration or a stuck transaction."""
    revision, legacy = current(engine)
    _check_known(revision)
    if revision == head() and not legacy:
        return revision, revision
    try:
        with engine.begin() as conn:
            _lock(conn, lock_timeout)
            before = _stamped(conn)  # again, under the lock: another process may have migrated meanwhile
            _check_known(before)
            cfg = _config(conn)
            if before is None:
                before = _legacy(conn)
                if before is not None:
                    _adopt(conn, cfg, before)
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available: lock_timeout ran out
            raise
        waited = "the server's lock_timeout" if lock_timeout is None else f"{lock_timeout:g} s"
        raise SchemaError(f"it needs migrating, and its lock was not free within {waited} "
                          "(RAGREC_EVENTS_LOCK_TIMEOUT): another process is migrating it or holds its tables; try "
                          "again when it is done") from None
    return before, head()


def _adopt(conn: Connection, cfg: Config, revision: str) -> None:
    """Stamp a pre-Alembic log at `revision`, after creating the indexes that revision has and old logs may lack."""
    for rev, indexes in _INDEXES.items():
        for name, columns in indexes.items():
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON events ({columns})"))
        if rev == revision:
            break
    command.stamp(cfg, revision)


def require_head(engine: Engine) -> None:
    """Refuse a log that is not at head (for processes that do not migrate: RAGREC_EVENTS_MIGRATE=false)."""
    revision, legacy = current(engine)
    _check_known(revision)
    if revision != head() or legacy:
        at = "empty" if revision is None else f"at {revision}" + (" (before Alembic)" if legacy else "")
        raise SchemaError(f"the event log is {at}, this ragrec needs {head()}: run `ragrec events migrate` (or set "
                          "RAGREC_EVENTS_MIGRATE=true to migrate on open)")


__all__ = ["BASELINE", "RECOMMENDATION_ID", "SQLITE_AUTOINCREMENT", "SchemaError", "current", "head",
           "require_head", "upgrade"]

