"""SQLite: event seq values are never given twice.

Without AUTOINCREMENT, SQLite gives a new row the largest seq + 1, so the seq of a forgotten user's newest event
came back for the next event: a reindex that read the log up to that seq, then replayed what came "after" it,
missed the new event. AUTOINCREMENT keeps the largest seq ever given (`sqlite_sequence`). SQLite cannot alter a
key, so the table is rebuilt, once: its rows copied in seq order, then its indexes built (~30 s per million events
on 2 busy cores). PostgreSQL's sequence never goes back: nothing to do there.

Revision ID: 0003_sqlite_autoincrement
Revises: 0002_recommendation_id
"""

from alembic import op

revision = "0003_sqlite_autoincrement"
down_revision = "0002_recommendation_id"
branch_labels = None
depends_on = None

COLUMNS = "seq, event_id, user_id, item_id, type, value, ts_us, recommendation_id"
INDEXES = {"ix_events_user_ts": "user_id, ts_us, seq", "ix_events_item": "item_id",
           "ix_events_user_item": "user_id, item_id"}


def _rebuild(autoincrement: bool) -> None:
    """The events table again, with or without AUTOINCREMENT (DDL as SQLAlchemy writes it for `log.events_table`).
    The indexes are built after the copy, from sorted keys, rather than grown row by row."""
    if op.get_bind().dialect.name != "sqlite":
        return
    key = "PRIMARY KEY AUTOINCREMENT" if autoincrement else "PRIMARY KEY"
    op.execute(f"CREATE TABLE _events_new (seq INTEGER NOT NULL {key}, event_id VARCHAR(200) NOT NULL, "
               "user_id VARCHAR(200) NOT NULL, item_id VARCHAR(200) NOT NULL, type VARCHAR(16) NOT NULL, value FLOAT, "
               "ts_us BIGINT NOT NULL, recommendation_id VARCHAR(64), UNIQUE (event_id))")
    op.execute(f"INSERT INTO _events_new ({COLUMNS}) SELECT {COLUMNS} FROM events ORDER BY seq")
    op.execute("DROP TABLE events")
    op.execute("ALTER TABLE _events_new RENAME TO events")
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON events ({columns})")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
