"""Alembic migrations of the event log, shipped inside the package and run by `ragrec.events.migrate` (no
alembic.ini: the configuration is built in code). A new schema change is a new file in `versions/`, written by
hand like the two there, with `down_revision` naming the current head."""
