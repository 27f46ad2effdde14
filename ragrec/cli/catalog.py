"""Catalog commands: `ragrec ingest | delete | similar | collections | demo | describe-catalog`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragrec.cli.app import app, collection_option, existing_settings, recommender_of, settings_of, split
from ragrec.cli.console import RateColumn, console, err, fail, progress_bar, rate
from ragrec.cli.errors import validation_message
from ragrec.cli.output import print_items
from ragrec.config import Settings
from ragrec.ingestion import (FieldSpec, IngestInterrupted, IngestOptions, IngestReport, Shard, check_items_collection,
                              delete_items, ingest)
from ragrec.io import MAX_BATCH_SIZE
from ragrec.store import StoreError, open_store, point_id


def print_report(report: IngestReport, as_json: bool = False) -> None:
    if as_json:
        print(report.model_dump_json(indent=1))
        return
    if report.dry_run:
        print_dry_run(report)
        return
    table = Table(title=f"ingested into {report.collection!r}", show_header=False)
    for name in ("read", "upserted", "updated_payload", "unchanged", "deleted", "rejected", "truncated"):
        table.add_row(name.replace("_", " "), f"{getattr(report, name):,}")
        if name == "rejected" and report.rejected_without_id:  # they make --sync delete nothing: shown beside
            table.add_row("  without id", f"{report.rejected_without_id:,}")
    if report.other_shards:
        table.add_row("other shards' rows", f"{report.other_shards:,}")
    table.add_row("seconds", f"{report.seconds:.1f} ({rate(report.items_per_second)} rows/s)")
    console.print(table)
    if report.rejects_file:
        console.print(f"rejected rows (line, id, reason): {report.rejects_file}")
    if report.truncated:
        console.print(f"[yellow]warning:[/] {report.truncated} texts were longer than max_text_chars and were truncated")
    if report.payload_truncated:
        console.print(f"[yellow]warning:[/] {report.payload_truncated} items had payload strings longer than "
                      "max_payload_chars; they were cut")


def print_dry_run(report: IngestReport) -> None:
    """What the job would do, in the words of the job (a dry run: nothing was written)."""
    table = Table(title=f"dry run on {report.collection!r}", show_header=False)
    rows = [("read", report.read), ("would add", report.added), ("would re-embed", report.upserted - report.added),
            ("would update payload", report.updated_payload), ("unchanged", report.unchanged),
            ("would delete", report.deleted), ("rejected", report.rejected)]
    for name, value in rows:
        table.add_row(name, f"{value:,}")
        if name == "rejected" and report.rejected_without_id:
            table.add_row("  without id", f"{report.rejected_without_id:,}")
    if report.other_shards:
        table.add_row("other shards' rows", f"{report.other_shards:,}")
    console.print(table)
    console.print("dry run: nothing was embedded or written")
    if report.deleted_ids:
        more = f" and {report.deleted - len(report.deleted_ids):,} more" if report.deleted > len(report.deleted_ids) \
            else ""
        console.print(f"would delete: {', '.join(report.deleted_ids)}{more}", markup=False)
    if report.rejects_file:
        console.print(f"rejected rows (line, id, reason): {report.rejects_file}")
    elif report.rejected:
        console.print("the rejected rows are listed with --rejects FILE")
    if report.refused:
        console.print(f"[yellow]warning:[/] the job would be refused: {escape(report.refused)}")


def run_ingest(settings: Settings, path: Path, options: IngestOptions) -> IngestReport:
    # errors (a refused --sync, an unusable file, the store) leave through the CLI's one handler (errors.py); one
    # refused before the job starts is printed alone (progress_bar)
    try:
        with progress_bar("dry run" if options.dry_run else "ingest", "items") as on_progress:
            return ingest(path, options, settings=settings, on_progress=on_progress)
    except KeyboardInterrupt as exc:  # Ctrl-C: what was committed stays, and a re-run resumes after it
        written = exc.written if isinstance(exc, IngestInterrupted) else 0
        err.print(f"interrupted: {written:,} rows written; run the same command again to resume")
        raise typer.Exit(130) from None


@app.command("ingest")
def ingest_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Catalog file: .csv, .jsonl or .parquet"),
    format: Optional[str] = typer.Option(None, "--format", help="csv, jsonl or parquet (default: from the extension)"),
    id_field: str = typer.Option("id", "--id-field", help="Column holding the item id."),
    text_fields: str = typer.Option(..., "--text-fields", help="Columns joined (with their names) into the text to embed."),
    payload_fields: str = typer.Option("", "--payload-fields",
                                       help="Columns kept for filters and display, optionally typed: "
                                            "year:int,price:float,genres:list,title (bare = typed by value)."),
    list_separator: Optional[str] = typer.Option(None, "--list-separator",
                                                 help="Separator of multi-value CSV fields (default: RAGREC_LIST_SEPARATOR, |)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, max=MAX_BATCH_SIZE,
                                             help="Rows embedded and upserted together "
                                                  "(default: RAGREC_INGEST_BATCH_SIZE)"),
    sync: bool = typer.Option(False, "--sync", help="Delete items that are not in the file."),
    allow_mass_delete: bool = typer.Option(
        False, "--allow-mass-delete", help="Let --sync/--rebuild remove more than sync_max_delete_share of the items "
        "(or run on a file that yielded no valid rows)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-embed everything into a new collection, then switch the alias."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Read and check the file and say what the job would do (add, re-embed, update, "
        "delete, reject), changing nothing: no embedding, no write (rejects only to an explicit --rejects FILE)."),
    rejects: Optional[Path] = typer.Option(None, "--rejects", help="Where rejected rows go (JSON Lines)."),
    collection: Optional[str] = typer.Option(None, "--collection"),
    long_text: Optional[str] = typer.Option(None, "--long-text", help="truncate or reject texts over max_text_chars"),
    shard: Optional[str] = typer.Option(
        None, "--shard", metavar="I/N", help="Ingest only shard I (0-based) of N, the rows whose item id hashes to "
        "I: N workers (e.g. a Kubernetes Indexed Job, I = $JOB_COMPLETION_INDEX) share one file and collection. "
        "Not with --sync or --rebuild, which need the whole file."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Embed a catalog file and upsert it into Qdrant: idempotent, resumable, bad rows reported."""
    if list_separator == "":
        fail("--list-separator is empty: give the separator of multi-value fields, e.g. '|'", 2)
    if not id_field.strip():
        fail("--id-field is empty: name the column holding the item id (default: id)", 2)
    try:
        fields = [FieldSpec.parse(f) for f in split(payload_fields)]
    except ValueError as exc:
        fail(f"--payload-fields: {exc}", 2)
    try:
        options = IngestOptions(
            shard=Shard.parse(shard) if shard is not None else None,
            format=format, id_field=id_field, text_fields=split(text_fields),
            payload_fields=fields, list_separator=list_separator,
            batch_size=batch_size, sync=sync, allow_mass_delete=allow_mass_delete, rebuild=rebuild, rejects=rejects,
            collection=collection_option(collection),
            long_text=long_text, dry_run=dry_run,
        )
    except ValidationError as exc:
        fail(validation_message(exc), 2)
    except ValueError as exc:
        fail(str(exc), 2)
    print_report(run_ingest(settings_of(ctx), path, options), as_json)


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    ids: str = typer.Option("", "--ids", help="Comma-separated item ids."),
    ids_file: Optional[Path] = typer.Option(None, "--ids-file", help="A file with one item id per line."),
    collection: Optional[str] = typer.Option(None, "--collection"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Remove items from the catalog."""
    item_ids = split(ids)
    if ids_file:
        from ragrec.io.readers import CatalogFileError, check_file

        check_file(ids_file)  # an unusable file is one line and exit 1, as for ingest
        try:
            text = ids_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CatalogFileError(f"{ids_file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        item_ids += [line.strip() for line in text.splitlines() if line.strip()]
    if not item_ids:
        fail("give --ids or --ids-file", 2)
    try:  # a mistyped --data-dir is an error, not a new empty data dir
        report = delete_items(item_ids, collection=collection_option(collection), settings=existing_settings(ctx))
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        print(report.model_dump_json(indent=1))
        return
    console.print(f"deleted {report.deleted} items from {report.collection!r}")
    if report.not_found:
        console.print(f"not found ({len(report.not_found)}): {', '.join(report.not_found[:20])}")


@app.command("similar")
def similar_cmd(
    ctx: typer.Context,
    ids: str = typer.Option("", "--ids", help="Seed item ids, comma-separated."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Free-text query."),
    k: int = typer.Option(10, "-k", min=1, max=1000),
    filter: list[str] = typer.Option([], "--filter", "-f", help="genres=Comedy, year>=1990, genres!=Horror (repeatable)"),
    collection: Optional[str] = typer.Option(None, "--collection", help="Items collection (alias) to search "
                                             "(default: RAGREC_ITEMS_COLLECTION, items)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Nearest items to seed items and/or a free-text query."""
    from ragrec.retrieval.candidates import UnknownItems
    from ragrec.retrieval.filters import FilterSyntaxError

    if not split(ids) and not query:
        fail("give --ids, --query, or both", 2)
    with recommender_of(ctx, collection=collection) as rec:
        try:
            check_items_collection(rec.settings.items_collection, settings_of(ctx), rec.store)
            result = rec.similar(item_ids=split(ids), query=query, k=k, filters=filter)
        except UnknownItems as exc:
            fail(str(exc.args[0]), 2)
        except FilterSyntaxError as exc:
            fail(str(exc), 2)
        except StoreError as exc:
            fail(str(exc))
    print_items(result, title=f"similar to {', '.join(filter_ for filter_ in [ids, query] if filter_)}",
                as_json=as_json)


@app.command("collections")
def collections_cmd(ctx: typer.Context,
                    as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List collections (aliases), the physical collection behind each, their point and HNSW-indexed vector counts."""
    store = open_store(existing_settings(ctx))
    try:
        infos = store.collections()
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print(json.dumps({"collections": [i.model_dump() for i in infos]}, indent=1))
        return
    table = Table()
    for col in ("collection", "behind", "points", "indexed vectors", "model"):
        table.add_column(col)
    for info in infos:
        table.add_row(info.name, info.target, f"{info.count:,}", f"{info.indexed:,}", str(info.metadata.get("model", "")))
    console.print(table if infos else "no collections yet: run `ragrec ingest` (or `ragrec demo`)")


@app.command("demo")
def demo_cmd(
    ctx: typer.Context,
    llm: Optional[str] = typer.Option(None, "--llm", help="local, openai or none (default: RAGREC_LLM)"),
) -> None:
    """Ingest the bundled MovieLens demo catalog, then show described recommendations for a demo user who liked a
    few animated films, and a free-text query."""
    from datetime import datetime, timedelta, timezone

    from ragrec.demo import DEMO_CATALOG, DEMO_LIKES, DEMO_USER, demo_options
    from ragrec.events.models import Event
    from ragrec.retrieval.models import RecommendRequest

    settings = settings_of(ctx)
    print_report(run_ingest(settings, DEMO_CATALOG, demo_options()))
    with recommender_of(ctx, llm=llm, create=True) as rec:
        start = datetime(2024, 1, 1, tzinfo=timezone.utc)
        rec.record_feedback([Event(event_id=f"{DEMO_USER}-like-{item}", user_id=DEMO_USER, item_id=item, type="like",
                                   timestamp=start + timedelta(hours=n)) for n, item in enumerate(DEMO_LIKES)])
        titles = {r.payload["item_id"]: r.payload.get("title") for r in rec.store.retrieve(
            settings.items_collection, [point_id(i) for i in DEMO_LIKES], payload=["item_id", "title"])}
        console.print(f"\n[bold]{DEMO_USER}[/] liked: " + ", ".join(titles.get(i) or i for i in DEMO_LIKES))
        with console.status("writing personalized descriptions (the first run converts the bundled LLM once)"):
            result = rec.recommend(RecommendRequest(user_id=DEMO_USER, k=5, explain=True))
        print_items(result, title=f"for {DEMO_USER}, described", descriptions=True)
        print_items(rec.similar(query="space opera with epic battles", k=5),
                    title="query: space opera with epic battles")


@app.command("describe-catalog")
def describe_catalog_cmd(
    ctx: typer.Context,
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Describe at most N items (a sample)."),
    force: bool = typer.Option(False, "--force", help="Rewrite every blurb, even those already written."),
    retry_failed: bool = typer.Option(False, "--retry-failed",
                                      help="Ask again for items whose blurb failed its checks."),
    llm: Optional[str] = typer.Option(None, "--llm", help="local or openai (default: RAGREC_LLM)"),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Write the prompts of the items to describe as JSON Lines, for the offline batch on "
        "a GPU box (infra/vllm/describe_catalog.py), instead of describing them here."),
    model: Optional[str] = typer.Option(None, "--model", help="With --export: the model the GPU box will run (its "
                                        "blurbs are skipped when already written) (default: RAGREC_LLM_MODEL)"),
    from_file: Optional[Path] = typer.Option(
        None, "--from-file", help="Import the offline batch's blurbs (JSON Lines), with the same checks."),
    collection: Optional[str] = typer.Option(None, "--collection"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Precompute every item's catalog blurb (not personalized) into its payload with the configured LLM:
    resumable and idempotent (items already described with this model and prompt are skipped), checked like
    descriptions; a failed item is reported and never stops the job."""
    from ragrec.generation import catalog as C
    from ragrec.generation import get_llm

    settings = existing_settings(ctx)  # it describes items that are there: it makes no data dir
    if export and from_file:
        fail("give --export or --from-file, not both", 2)
    if from_file and not from_file.is_file():
        fail(f"{from_file}: no such file")  # an unusable file: 1, as for ingest and events load
    if (llm or settings.llm) == "none" and not (export or from_file):
        fail("describe-catalog needs an LLM: set RAGREC_LLM (local or openai) or --llm, or import blurbs written "
             "elsewhere with --from-file", 2)
    store = open_store(settings)
    try:
        with Progress(TextColumn("[bold]describe"), BarColumn(), MofNCompleteColumn(), RateColumn("items"),
                      TimeElapsedColumn(), console=err) as progress:
            task = progress.add_task("describe", total=None)

            def on_progress(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=max(total or 0, done) or None)

            common = {"collection": collection_option(collection), "on_progress": on_progress}
            if export:
                report = C.export_prompts(store, settings, export, model=model or settings.llm_model, limit=limit,
                                          force=force, retry_failed=retry_failed, **common)
            elif from_file:
                report = C.import_blurbs(store, settings, from_file, force=force, **common)
            else:
                backend = get_llm(settings, llm)
                report = C.describe_catalog(store, backend, settings, limit=limit, force=force,
                                            retry_failed=retry_failed, **common)
    finally:
        store.close()
    print_blurb_report(report, as_json, exported=export)


def print_blurb_report(report, as_json: bool = False, exported: Path | None = None) -> None:
    if as_json:
        print(report.model_dump_json(indent=1))
        return
    title = f"prompts exported to {exported}" if exported else f"catalog blurbs in {report.collection!r}"
    table = Table(title=title, show_header=False)
    table.add_row("model", report.model or "–")
    rows = [("items", report.items), ("exported" if exported else "described", report.described),
            ("skipped", report.skipped), ("failed", report.failed)]
    for name, value in rows:
        table.add_row(name, f"{value:,}")
    table.add_row("seconds", f"{report.seconds:.1f}")
    console.print(table)
    for f in report.failures[:20]:
        console.print(f"[yellow]failed[/] {f.item_id}: {f.reason}")
    if report.failed > 20:
        console.print(f"... and {report.failed - 20} more (--json lists up to 1,000)")
