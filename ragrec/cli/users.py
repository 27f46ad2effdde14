"""User commands: `ragrec feedback`, `ragrec users show | forget`, `ragrec reindex`."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragrec.cli.app import app, recommender_of
from ragrec.cli.console import console, err, fail
from ragrec.cli.errors import validation_message
from ragrec.store import StoreError

users_app = typer.Typer(help="Inspect or erase users.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@app.command("feedback")
def feedback_cmd(
    ctx: typer.Context,
    user: str = typer.Option(..., "--user"),
    item: str = typer.Option(..., "--item"),
    type: str = typer.Option(..., "--type", help="view, click, like, add_to_cart, purchase, rating, dislike, skip"),
    value: Optional[float] = typer.Option(None, "--value", help="The rating, for --type rating."),
    event_id: Optional[str] = typer.Option(None, "--event-id", help="For deduplication; generated if absent."),
) -> None:
    """Record one feedback event; the user's vector moves at once."""
    from pydantic import ValidationError

    from ragrec.events.models import Event

    try:
        event = Event(user_id=user, item_id=item, type=type, value=value,
                      **({"event_id": event_id} if event_id is not None else {}))
    except ValidationError as exc:
        fail(validation_message(exc, {"user_id": "--user", "item_id": "--item"}), 2)
    with recommender_of(ctx) as rec:
        try:
            result = rec.record_feedback([event])
        except (StoreError, LookupError) as exc:
            fail(str(exc))
    if result.rejected:
        fail(result.rejected[0].reason, 2)
    console.print("duplicate event: nothing changed" if result.duplicates else f"recorded {event.type.value} of {event.item_id} by {event.user_id}")


SHOWN_RECENT = 10  # recent items in the summary; --json has them all


@users_app.command("show")
def users_show(
    ctx: typer.Context,
    user: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Print the whole profile as one JSON object."),
) -> None:
    """A user's event counts, recent items and last update."""
    with recommender_of(ctx) as rec:
        info = rec.user(user)
        if info.profile is None and not info.events:
            fail(f"no user {user!r}", 2)
        if as_json:
            profile = info.profile.model_dump(exclude={"sums", "long_sums"}) if info.profile else None
            print(json.dumps({"user_id": info.user_id, "events": info.events, "profile": profile}, indent=1,
                             default=str))
            return
        recent = info.profile.recent[:SHOWN_RECENT] if info.profile else []
        titles = _titles(rec, [r.item_id for r in recent])
    print_user(info, recent, titles)


def _titles(rec, item_ids: list[str]) -> dict[str, str]:
    """The items' titles, where the catalog has them (a deleted item, or a catalog without titles, has none)."""
    from ragrec.schema import ITEM_ID
    from ragrec.store import point_id

    if not item_ids:
        return {}
    try:
        records = rec.store.retrieve(rec.settings.items_collection, [point_id(i) for i in item_ids],
                                     payload=[ITEM_ID, "title"])
    except StoreError:  # no items collection: the summary shows the ids alone
        return {}
    return {r.payload[ITEM_ID]: r.payload["title"] for r in records if isinstance(r.payload.get("title"), str)}


def print_user(info, recent: list, titles: dict[str, str]) -> None:
    """The summary for people: counts, vectors, last update as a time, the newest positive items."""
    from rich.markup import escape
    from rich.table import Table

    from ragrec.schema import COLLAB, CONTENT

    profile = info.profile
    table = Table.grid(padding=(0, 2))
    table.add_row("user", escape(info.user_id))
    by_type = ", ".join(f"{kind} {n:,}" for kind, n in sorted(profile.counts.items(), key=lambda kv: -kv[1])) \
        if profile else ""
    table.add_row("events", f"{info.events:,}" + (f" ({by_type})" if by_type else ""))
    if profile is None:  # events logged, no vector made from them yet
        table.add_row("vectors", "none yet (ragrec reindex makes them from the event log)")
    else:
        table.add_row("positive events", f"{profile.n_positive:,}")
        table.add_row("last update", _when(profile.last_event))
        has = {name: profile.vector(space) is not None or profile.long_vector(space) is not None
               for name, space in (("content", CONTENT), ("collab", profile.collab_slot or COLLAB))}
        table.add_row("vectors", ", ".join(f"{name} {'yes' if there else 'no'}" for name, there in has.items()))
    for n, r in enumerate(recent):
        shown = escape(r.item_id) + (f"  {escape(titles[r.item_id])}" if r.item_id in titles else "")
        table.add_row("recent items" if n == 0 else "", f"{shown}  [dim]{_when(r.ts)}[/]")
    if profile and len(profile.recent) > len(recent):
        table.add_row("", f"[dim]... {len(profile.recent) - len(recent)} more (--json)[/]")
    console.print(table)


def _when(timestamp: float | None) -> str:
    from datetime import datetime, timezone

    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@users_app.command("forget")
def users_forget(ctx: typer.Context, user: str = typer.Argument(...)) -> None:
    """Erase a user's events and vector."""
    with recommender_of(ctx) as rec:
        info = rec.user(user)
        if info.profile is None and not info.events:
            fail(f"no user {user!r}: nothing to forget", 2)
        erased = rec.forget_user(user)
    console.print(f"forgot {info.user_id}: {erased} events erased, vector removed")


@app.command("reindex")
def reindex_cmd(ctx: typer.Context) -> None:
    """Recompute every user vector and item popularity from the event log."""
    with recommender_of(ctx) as rec, Progress(TextColumn("[bold]reindex"), BarColumn(), MofNCompleteColumn(),
                                               TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task("users", total=None)
        try:
            report = rec.reindex(on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        except (StoreError, LookupError) as exc:
            progress.stop()
            fail(str(exc))
    without = f" ({report.users_without_vector:,} left without a vector: none of their events could be used)" \
        if report.users_without_vector else ""
    console.print(f"reindexed {report.users:,} users{without} from {report.events:,} events into "
                  f"{report.users_collection!r} "
                  f"({report.items_popularity_changed:,} item popularities changed, "
                  f"{report.events_unknown_item:,} events of deleted items skipped, "
                  f"{report.events_invalid:,} invalid stored events skipped) in {report.seconds:.1f}s")
