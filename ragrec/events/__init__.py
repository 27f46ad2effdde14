"""Feedback events: an append-only log (SQLite or PostgreSQL), the source user vectors and popularity come from.

`models` (the Event), `log` (EventLog), `load` (bulk files of events). The package imports none of them, so the
Event model does not bring in SQLAlchemy and Alembic."""
