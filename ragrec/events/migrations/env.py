"""Alembic's entry point: runs the migrations on the connection `ragrec.events.migrate` hands over, inside the
transaction (and lock) it already holds. Online only: there is no offline SQL generation."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=False)
with context.begin_transaction():  # the caller's transaction is open: this joins it
    context.run_migrations()
