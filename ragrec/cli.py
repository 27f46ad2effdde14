"""`ragrec ...`: the command line. Commands parse options, call the library, and print; nothing more."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragrec.config import Settings
from ragrec.ingestion import FieldSpec, IngestError, IngestOptions, IngestReport, delete_items, ingest
from ragrec.store import StoreError, open_store

app = typer.Typer(help="ragrec: a retrieval-augmented recommender on Qdrant.", no_args_is_help=True)
from ragrec.console import RateColumn, console, err, fail



def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj



@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="RAGREC_DATA_DIR",
                                            help="Embedded Qdrant data, event log, caches (default: ./.ragrec)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each batch and rejected row."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("ragrec.ingestion").setLevel(logging.ERROR)  # rejects go to the file and the summary
    ctx.obj = Settings(data_dir=data_dir) if data_dir else Settings()


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def print_report(report: IngestReport) -> None:
    table = Table(title=f"ingested into {report.collection!r}", show_header=False)
    for name in ("read", "upserted", "updated_payload", "unchanged", "deleted", "rejected", "truncated"):
        table.add_row(name.replace("_", " "), f"{getattr(report, name):,}")
    table.add_row("seconds", f"{report.seconds:.1f} ({report.items_per_second:,.0f} rows/s)")
    console.print(table)
    if report.rejects_file:
        console.print(f"rejected rows (line, id, reason): {report.rejects_file}")
    if report.truncated:
        console.print(f"[yellow]warning:[/] {report.truncated} texts were longer than max_text_chars and were truncated")


def run_ingest(settings: Settings, path: Path, options: IngestOptions) -> IngestReport:
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), RateColumn("items"), TimeElapsedColumn(),
                  console=err) as progress:
        task = progress.add_task("ingest", total=None)

        def on_progress(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=max(total or 0, done) or None)

        try:
            return ingest(path, options, settings=settings, on_progress=on_progress)
        except (IngestError, StoreError) as exc:
            progress.stop()
            fail(str(exc))


@app.command("ingest")
def ingest_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Catalog file: .csv, .jsonl or .parquet"),
    format: Optional[str] = typer.Option(None, "--format", help="csv, jsonl or parquet [default: from the extension]"),
    id_field: str = typer.Option("id", "--id-field", help="Column holding the item id."),
    text_fields: str = typer.Option(..., "--text-fields", help="Columns joined (with their names) into the text to embed."),
    payload_fields: str = typer.Option("", "--payload-fields",
                                       help="Columns kept for filters and display, optionally typed: "
                                            "year:int,price:float,genres:list,title (bare = typed by value)."),
    list_separator: Optional[str] = typer.Option(None, "--list-separator", help="Separator of multi-value CSV fields [default: |]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    sync: bool = typer.Option(False, "--sync", help="Delete items that are not in the file."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-embed everything into a new collection, then switch the alias."),
    rejects: Optional[Path] = typer.Option(None, "--rejects", help="Where rejected rows go (JSON Lines)."),
    collection: Optional[str] = typer.Option(None, "--collection"),
    long_text: Optional[str] = typer.Option(None, "--long-text", help="truncate or reject texts over max_text_chars"),
) -> None:
    """Embed a catalog file and upsert it into Qdrant: idempotent, resumable, bad rows reported."""
    try:
        options = IngestOptions(
            format=format, id_field=id_field, text_fields=_split(text_fields),
            payload_fields=[FieldSpec.parse(f) for f in _split(payload_fields)], list_separator=list_separator,
            batch_size=batch_size, sync=sync, rebuild=rebuild, rejects=rejects, collection=collection,
            long_text=long_text,
        )
    except ValueError as exc:
        fail(str(exc), 2)
    print_report(run_ingest(settings_of(ctx), path, options))


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    ids: str = typer.Option("", "--ids", help="Comma-separated item ids."),
    ids_file: Optional[Path] = typer.Option(None, "--ids-file", help="A file with one item id per line."),
    collection: Optional[str] = typer.Option(None, "--collection"),
) -> None:
    """Remove items from the catalog."""
    item_ids = _split(ids)
    if ids_file:
        if not ids_file.is_file():
            fail(f"{ids_file}: no such file", 2)
        item_ids += [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not item_ids:
        fail("give --ids or --ids-file", 2)
    try:
        report = delete_items(item_ids, collection=collection, settings=settings_of(ctx))
    except StoreError as exc:
        fail(str(exc))
    console.print(f"deleted {report.deleted} items from {report.collection!r}")
    if report.not_found:
        console.print(f"not found ({len(report.not_found)}): {', '.join(report.not_found[:20])}")


@app.command("similar")
def similar_cmd(
    ctx: typer.Context,
    ids: str = typer.Option("", "--ids", help="Seed item ids, comma-separated."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Free-text query."),
    k: int = typer.Option(10, "-k", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Nearest items to seed items and/or a free-text query."""
    from ragrec.retrieval.models import RecommendationList
    from ragrec.retrieval.similar import UnknownItems, similar

    settings = settings_of(ctx)
    if not _split(ids) and not query:
        fail("give --ids, --query, or both", 2)
    store = open_store(settings)
    try:
        results = similar(store, item_ids=_split(ids), query=query, k=k, settings=settings)
    except UnknownItems as exc:
        fail(str(exc.args[0]), 2)
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print(RecommendationList(items=results).model_dump_json(indent=1))
        return
    print_items(results, title=f"similar to {', '.join(filter(None, [ids, query]))}")


def print_items(results, title: str) -> None:
    table = Table(title=title)
    for col in ("#", "item", "score", "title / fields"):
        table.add_column(col)
    for rank, r in enumerate(results, 1):
        shown = r.payload.get("title") or json.dumps({k: v for k, v in r.payload.items() if k != "item_id"})[:80]
        extra = ", ".join(r.payload.get("genres", [])) if isinstance(r.payload.get("genres"), list) else ""
        table.add_row(str(rank), r.item_id, f"{r.score:.3f}", f"{shown}  [dim]{extra}[/]")
    console.print(table)


@app.command("collections")
def collections_cmd(ctx: typer.Context) -> None:
    """List collections (aliases), the physical collection behind each, their point and HNSW-indexed vector counts."""
    store = open_store(settings_of(ctx))
    try:
        infos = store.collections()
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    table = Table()
    for col in ("collection", "behind", "points", "indexed vectors", "model"):
        table.add_column(col)
    for info in infos:
        table.add_row(info.name, info.target, f"{info.count:,}", f"{info.indexed:,}", str(info.metadata.get("model", "")))
    console.print(table if infos else "no collections yet: run `ragrec ingest` (or `ragrec demo`)")


def recommender_of(ctx: typer.Context):
    from ragrec.recommender import Recommender

    return Recommender(settings_of(ctx))


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
        event = Event(user_id=user, item_id=item, type=type, value=value, **({"event_id": event_id} if event_id else {}))
    except ValidationError as exc:
        fail("; ".join(e["msg"] for e in exc.errors()), 2)
    with recommender_of(ctx) as rec:
        try:
            result = rec.record_feedback([event])
        except (StoreError, LookupError) as exc:
            fail(str(exc))
    if result.rejected:
        fail(result.rejected[0].reason, 2)
    console.print("duplicate event: nothing changed" if result.duplicates else f"recorded {type} of {item} by {user}")


@app.command("recommend")
def recommend_cmd(
    ctx: typer.Context,
    user: Optional[str] = typer.Option(None, "--user", help="User id; unknown or absent = cold start."),
    k: int = typer.Option(10, "-k", min=1, max=1000),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Free text, blended with the user's vector."),
    filter: list[str] = typer.Option([], "--filter", "-f", help="genres=Comedy, year>=1990, genres!=Horror (repeatable)"),
    diversity: float = typer.Option(0.0, "--diversity", min=0.0, max=1.0, help="MMR diversity, 0..1"),
    positive: str = typer.Option("", "--positive", help="Example items to move towards (comma-separated)."),
    negative: str = typer.Option("", "--negative", help="Example items to move away from."),
    strategy: str = typer.Option("average_vector", "--strategy", help="average_vector, best_score or sum_scores"),
    include_seen: bool = typer.Option(False, "--include-seen", help="Do not exclude items the user interacted with."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Recommendations for a user, with filters, diversity and cold start."""
    from pydantic import ValidationError

    from ragrec.retrieval.filters import FilterSyntaxError
    from ragrec.retrieval.models import RecommendationList
    from ragrec.retrieval.recommend import RecommendRequest
    from ragrec.retrieval.similar import UnknownItems

    try:
        request = RecommendRequest(user_id=user, k=k, query=query, filters=filter, diversity=diversity,
                                   positive=_split(positive), negative=_split(negative), strategy=strategy,
                                   exclude_seen=False if include_seen else None)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2)
    with recommender_of(ctx) as rec:
        try:
            results = rec.recommend(request)
        except (FilterSyntaxError, UnknownItems, ValueError) as exc:
            fail(str(exc.args[0]), 2)
        except (StoreError, LookupError) as exc:
            fail(str(exc))
    if as_json:
        print(RecommendationList(items=results).model_dump_json(indent=1))
    else:
        print_items(results, title=f"for {user or 'a new user'}" + (f", query {query!r}" if query else ""))


from ragrec.events.cli import events_app  # noqa: E402

app.add_typer(events_app, name="events")

users_app = typer.Typer(help="Inspect or erase users.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("show")
def users_show(ctx: typer.Context, user: str = typer.Argument(...)) -> None:
    """A user's event counts, recent items and last update."""
    with recommender_of(ctx) as rec:
        info = rec.user(user)
    if info.profile is None and not info.events:
        fail(f"no user {user!r}", 2)
    profile = info.profile.model_dump(exclude={"sums"}) if info.profile else None
    print(json.dumps({"user_id": user, "events": info.events, "profile": profile}, indent=1, default=str))


@users_app.command("forget")
def users_forget(ctx: typer.Context, user: str = typer.Argument(...)) -> None:
    """Erase a user's events and vector."""
    with recommender_of(ctx) as rec:
        erased = rec.forget_user(user)
    console.print(f"forgot {user}: {erased} events erased, vector removed")


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
    console.print(f"reindexed {report.users:,} users from {report.events:,} events into {report.users_collection!r} "
                  f"({report.items_popularity_changed:,} item popularities changed, "
                  f"{report.events_unknown_item:,} events of deleted items skipped) in {report.seconds:.1f}s")


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def eval_cmd(ctx: typer.Context) -> None:
    """Offline evaluation on MovieLens (temporal protocol): baselines vs ragrec's pipeline; report in reports/.

    Options: --quick N (N users, for CI), --dataset DIR, --out DIR, --no-ragrec, --no-content, --data-dir DIR.
    """
    from ragrec.evaluation.__main__ import main as evaluation_main

    evaluation_main(list(ctx.args))


@app.command("demo")
def demo_cmd(ctx: typer.Context) -> None:
    """Ingest the bundled MovieLens demo catalog and show what ragrec retrieves from it."""
    from ragrec.demo import DEMO_CATALOG, demo_options
    from ragrec.retrieval.similar import similar

    settings = settings_of(ctx)
    print_report(run_ingest(settings, DEMO_CATALOG, demo_options()))
    store = open_store(settings)
    try:
        print_items(similar(store, item_ids=["1", "2355"], k=8, settings=settings),
                    title="nearest to Toy Story (1) + A Bug's Life (2355)")
        print_items(similar(store, query="space opera with epic battles", k=8, settings=settings),
                    title="query: space opera with epic battles")
    finally:
        store.close()


if __name__ == "__main__":
    app()
