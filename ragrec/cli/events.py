"""`ragrec events ...`: bulk-load feedback events, count them, migrate its schema.

Mounted in ragrec/cli/__init__.py with `app.add_typer(events_app, name="events")`; the main callback's Settings arrive in
`ctx.obj` (a fresh `Settings()` when this app runs on its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.table import Table

from ragrec.cli.app import existing_settings, settings_of
from ragrec.cli.console import console, err, fail, progress_bar, rate
from ragrec.cli.errors import validation_message
from ragrec.config import Settings
from ragrec.events.load import (EventLoadError, EventLoadInterrupted, EventLoadReport, EventMapping, catalog_items,
                                load_events)
from ragrec.events import migrate as migrations
from ragrec.events.log import EventLog, EventLogError, NoEventLog, events_url, open_event_log
from ragrec.events.models import EventType
from ragrec.io import MAX_BATCH_SIZE

events_app = typer.Typer(help="The event log: feedback events (views, ratings, purchases...).", no_args_is_help=True)


def open_log(settings: Settings) -> EventLog:
    try:
        return open_event_log(settings)
    except EventLogError as exc:
        fail(str(exc))


def open_existing_log(settings: Settings) -> EventLog | None:
    """The event log, or None where its SQLite file is not there (for commands that only look: they create none)."""
    try:
        return open_event_log(settings, must_exist=True)
    except NoEventLog:
        return None
    except EventLogError as exc:
        fail(str(exc))


def print_load_report(report: EventLoadReport) -> None:
    table = Table(title=f"events loaded into {report.log}", show_header=False)
    for name in ("read", "stored", "duplicates", "rejected"):
        table.add_row(name, f"{getattr(report, name):,}")
    table.add_row("seconds", f"{report.seconds:.1f} ({rate(report.rows_per_second)} rows/s)")
    console.print(table)
    if report.rejects_file:
        console.print(f"rejected rows (line, event_id, reason): {report.rejects_file}")


@events_app.command("load")
def load_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Events file: .csv, .jsonl or .parquet"),
    preset: Optional[str] = typer.Option(None, "--preset",
                                         help="movielens: userId, movieId, rating (type rating), timestamp (epoch)."),
    format: Optional[str] = typer.Option(None, "--format", help="csv, jsonl or parquet (default: from the extension)"),
    user_field: Optional[str] = typer.Option(None, "--user-field", help="Column of the user id. (default: user_id)"),
    item_field: Optional[str] = typer.Option(None, "--item-field", help="Column of the item id. (default: item_id)"),
    type_field: Optional[str] = typer.Option(None, "--type-field", help="Column of the event type. (default: type)"),
    type_: Optional[str] = typer.Option(None, "--type", help="One event type for every row, instead of --type-field."),
    value_field: Optional[str] = typer.Option(None, "--value-field", help="Column of the rating value."),
    timestamp_field: Optional[str] = typer.Option(None, "--timestamp-field", help="Column of the time. (default: timestamp)"),
    timestamp_format: Optional[str] = typer.Option(None, "--timestamp-format",
                                                   help="epoch (seconds), iso (ISO 8601) or auto. (default: auto)"),
    no_timestamp: bool = typer.Option(False, "--no-timestamp",
                                      help="The file has no time column: events are timed at the load, in the "
                                           "file's order (a reload of the same file adds nothing)."),
    event_id_field: Optional[str] = typer.Option(None, "--event-id-field",
                                                 help="Column of client event ids (default: none: a hash of the row)"),
    batch_size: int = typer.Option(5000, "--batch-size", min=1, max=MAX_BATCH_SIZE, help="Rows per transaction."),
    rejects: Optional[Path] = typer.Option(None, "--rejects", help="Where rejected rows go (JSON Lines)."),
) -> None:
    """Load events from a file: streamed, idempotent (known event ids are skipped), bad rows reported."""
    settings = existing_settings(ctx)  # events are checked against the catalog: there must be one
    if no_timestamp and (timestamp_field or timestamp_format):
        fail("--no-timestamp says the file has no time column: it cannot go with --timestamp-field or "
             "--timestamp-format", 2)
    mapping = _mapping(preset, {
        "format": format, "user_field": user_field, "item_field": item_field, "type_field": type_field,
        "type": type_, "value_field": value_field, "timestamp_field": timestamp_field,
        "timestamp_format": timestamp_format, "event_id_field": event_id_field,
    }, no_timestamp)
    from ragrec.store import CollectionNotFound, StoreError, open_store

    event_log = open_log(settings)
    try:
        store = open_store(settings)
    except StoreError as exc:
        event_log.close()
        fail(str(exc))
    try:
        collection = settings.items_collection
        try:
            store.metadata(collection)
        except CollectionNotFound:
            fail(f"no items collection {collection!r}: events are checked against the catalog, so ingest it first "
                 "(ragrec ingest)")
        try:  # the bar shows once the load is past its checks: a refused one prints its error alone
            with progress_bar("events", "rows") as on_progress:
                report = load_events(path, mapping, event_log, catalog_items(store, collection),
                                     batch_size=batch_size, rejects_path=rejects, on_progress=on_progress,
                                     settings=settings)
        except (EventLoadError, StoreError, EventLogError) as exc:
            fail(str(exc))
        except EventLoadInterrupted as exc:
            err.print(f"interrupted: {exc.stored:,} events stored; run the same command again to load the rest "
                      "(the stored ones are skipped as duplicates)")
            raise typer.Exit(130) from None
    finally:
        store.close()
        event_log.close()
    print_load_report(report)


def _mapping(preset: str | None, options: dict, no_timestamp: bool = False) -> EventMapping:
    if preset not in (None, "movielens"):
        fail(f"unknown preset {preset!r}: use movielens", 2)
    base = EventMapping.movielens().model_dump() if preset else {}
    given = {k: v for k, v in options.items() if v is not None}
    if "type" in given and ("type_field" in given or preset):  # which one wins would be a guess: say so
        fail("--type gives every row one type: it cannot go with " +
             ("--type-field" if "type_field" in given else f"--preset {preset} (whose rows are ratings)"), 2)
    if "type" in given:
        given["type_field"] = None
    elif "type_field" in given:
        given["type"] = None
    if given.get("type") and given["type"] not in EventType.__members__:
        fail(f"unknown event type {given['type']!r}: use one of {', '.join(EventType.__members__)}", 2)
    try:
        return EventMapping(**{**base, **given, **({"timestamp_field": None} if no_timestamp else {})})
    except ValidationError as exc:
        fail(validation_message(exc), 2)


@events_app.command("count")
def count_cmd(ctx: typer.Context) -> None:
    """How many events and users the event log holds."""
    settings = settings_of(ctx)
    event_log = open_existing_log(settings)
    if event_log is None:
        console.print(f"0 events: no event log at {events_url(settings).removeprefix('sqlite:///')} yet")
        return
    try:
        console.print(f"{event_log.count():,} events from {event_log.user_count():,} users in {event_log.url}")
    finally:
        event_log.close()


@events_app.command("migrate")
def migrate_cmd(
    ctx: typer.Context,
    check: bool = typer.Option(False, "--check", help="Change nothing: exit 1 unless the schema is at head."),
) -> None:
    """Bring the event log's schema to this ragrec's (Alembic migrations): the deploy step when
    RAGREC_EVENTS_MIGRATE=false keeps API processes from migrating on open."""
    settings = settings_of(ctx)
    if check:  # opening without migrating refuses a log that is not at head, with the reason
        event_log = open_existing_log(settings.model_copy(update={"events_migrate": False}))
        if event_log is None:
            fail(f"no event log at {events_url(settings).removeprefix('sqlite:///')}: nothing to check (ragrec events "
                 "migrate creates one at head)")
        event_log.close()
        console.print(f"the event log at {event_log.url} is at head ({migrations.head()})")
        return
    if not settings.events_url and not settings.data_dir.is_dir():  # a mistyped --data-dir: no new, empty log
        fail(f"no data dir at {settings.data_dir}: the event log goes there (check --data-dir or RAGREC_DATA_DIR; "
             "`ragrec ingest` or `ragrec demo` make one)")
    event_log = open_log(settings.model_copy(update={"events_migrate": True}))
    event_log.close()
    before, head = event_log.migrated
    if before == head:
        console.print(f"the event log at {event_log.url} is already at head ({head})")
    else:
        console.print(f"migrated the event log at {event_log.url}: {before or 'empty'} -> {head}")

