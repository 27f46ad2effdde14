"""The bulk catalog job: stream a file in batches, embed what changed, upsert it into Qdrant.

Idempotent and resumable by construction: a point's id is UUIDv5 of the item id, and each point carries the
hash of its text (and of its whole content), so a re-run skips unchanged items and a killed run, started again,
redoes only what it had not committed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, NamedTuple

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ragrec.config import Settings
from ragrec.embedding import Embedder, LazyEmbedder
from ragrec.ingestion.rows import FieldSpec, ItemDoc, Reject, RowRules, content_hash, item_id_of, to_doc
from ragrec.ingestion.shard import Shard
from ragrec.io import MAX_BATCH_SIZE, CatalogFileError, Format, RawRow, RejectsWriter, batched, detect_format, open_rows
from ragrec.schema import (COLLAB_SLOTS, CONTENT, CONTENT_HASH, ITEM_ID, POPULARITY, RESERVED, SYSTEM_FIELDS,
                           TEXT_HASH, collection_problem, id_problem)
from ragrec.store import PointIn, StoreError, VectorStore, open_store, point_id
from ragrec.store.base import CollectionNotFound

log = logging.getLogger("ragrec.ingestion")
FIRST_BATCH_ROWS = 256  # ~2 s of embedding on 2 cores, where a full batch (2,048) takes ~20 s
DRY_RUN_IDS = 20  # a dry run names this many of the items it would delete


class IngestError(ValueError):
    """The job cannot start (bad options, unusable file, wrong collection); nothing was written."""


class IngestFileError(IngestError):
    """The catalog file is unusable as a whole (missing, a folder, unreadable, no id or text column)."""


class MassDeleteRefused(IngestError):
    """`--sync` (or `--rebuild`) would remove too much of the catalog: nothing was deleted, the alias was not
    switched. Rows of the file that were valid may have been written (as by any run)."""


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the job; `written` rows of this run were committed, and a re-run resumes after them."""

    def __init__(self, written: int):
        super().__init__(written)
        self.written = written


class IngestOptions(BaseModel):
    format: Format | None = None
    id_field: str = Field("id", min_length=1)
    text_fields: list[str]
    payload_fields: list[FieldSpec] = Field(default_factory=list)
    list_separator: str | None = Field(None, min_length=1)  # None: Settings.list_separator
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE)  # None: Settings.ingest_batch_size
    sync: bool = False
    allow_mass_delete: bool = False  # let --sync / --rebuild remove more than Settings.sync_max_delete_share
    rebuild: bool = False
    rejects: Path | None = None
    collection: str | None = None  # None: Settings.items_collection
    long_text: Literal["truncate", "reject"] | None = None
    optimize: bool = Field(True, description="build the index at the end (off for small upserts: new points are "
                                            "searched exactly until the next bulk job builds it)")
    shard: Shard | None = Field(None, description="only this shard's rows (by item id): N workers, one shard each, "
                                                  "ingest one file in parallel into one collection")
    dry_run: bool = Field(False, description="read and check the file, compare it with the catalog and report what "
                                             "the job would do; nothing is embedded or written (rejects only to an "
                                             "explicit `rejects` file)")

    @field_validator("collection")
    @classmethod
    def _a_collection_name(cls, name: str | None) -> str | None:
        if name is not None and (problem := collection_problem(name)):  # "" is no name, not the default one
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _whole_file_options_are_not_sharded(self) -> IngestOptions:
        if self.shard and (self.sync or self.rebuild):
            flag = "--sync deletes the items that are not in the file" if self.sync else \
                "--rebuild builds a new collection from the whole file and switches the alias to it"
            raise PydanticCustomError("sharded", f"{flag}, and one shard sees only its share of the file: run it "
                                      "without --shard, in one process (after sharded runs, a --sync run skips "
                                      "the unchanged rows)")
        return self


class IngestReport(BaseModel):
    collection: str
    read: int = 0  # rows read from the file, other shards' included
    other_shards: int = 0  # rows left to the other workers of a sharded ingestion (not rejects)
    upserted: int = 0
    updated_payload: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    rejected_without_id: int = 0  # rows too broken to name their item: --sync then deletes nothing unless allowed
    truncated: int = 0
    payload_truncated: int = 0  # items with a payload string cut to max_payload_chars
    seconds: float = 0.0
    rejects_file: Path | None = None
    dry_run: bool = False  # then the counts are what the job would do, and it did nothing
    added: int = 0  # of `upserted`, the items new to the catalog (counted by a dry run)
    deleted_ids: list[str] = Field(default_factory=list)  # a dry run: the first DRY_RUN_IDS of the `deleted` items
    refused: str | None = None  # a dry run: why the job would be refused (a mass deletion), as it would say it

    @property
    def items_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


class DeleteReport(BaseModel):
    collection: str
    deleted: int
    not_found: list[str]


def _exists(store: VectorStore, name: str) -> bool:
    try:
        store.metadata(name)
        return True
    except CollectionNotFound:
        return False


def _refuse_non_items(name: str, settings: Settings, store: VectorStore | None = None) -> None:
    """Catalog jobs touch items collections only: never the users collection, nor one ingest did not make."""
    users = settings.users_collection
    if name == users or name.startswith(f"{users}-g"):
        raise IngestError(f"{name!r} is the users collection (user vectors), not an items collection: catalog jobs "
                          f"work on an items collection such as {settings.items_collection!r} (a user's data goes "
                          "with `ragrec users forget`)")
    if store is not None and "model" not in store.metadata(name):
        raise IngestError(f"collection {name!r} is not an items collection (ingest did not make it): catalog jobs "
                          f"work on an items collection such as {settings.items_collection!r}")


def check_items_collection(name: str, settings: Settings, store: VectorStore) -> None:
    """Refuses a collection that is not an items collection (the users collection, one ingest did not make); a
    collection that does not exist is left to the caller to name."""
    _refuse_non_items(name, settings)
    if _exists(store, name):
        _refuse_non_items(name, settings, store)


def _current_collection(store: VectorStore, alias: str, embedder: Embedder, rebuild: bool,
                        settings: Settings) -> str | None:
    """The physical collection behind `alias` (None: no catalog yet), after the checks every job makes first: an
    items collection, of this embedding model unless rebuilt, and an alias to rebuild behind."""
    _refuse_non_items(alias, settings)
    current = store.resolve(alias)
    if current is None and _exists(store, alias):  # a physical collection named directly: write into it
        if rebuild:
            raise IngestError(f"{alias!r} is a collection, not an alias: --rebuild builds a new generation behind "
                              "an alias (e.g. the default 'items')")
        current = alias
    if current:
        _refuse_non_items(current, settings, store)
    if current and not rebuild:
        meta = store.metadata(current)
        if meta.get("model") != embedder.name:  # the name settles it: no need to load the model for its dim
            raise IngestError(
                f"collection {alias!r} holds vectors of {meta.get('model')} ({meta.get('dim')}-d) but the embedding "
                f"model is {embedder.name}; run the job with --rebuild to re-embed everything into a new collection "
                "behind the alias"
            )
    return current


def _target_collection(store: VectorStore, alias: str, embedder: Embedder, rebuild: bool,
                       settings: Settings, rules: dict[str, Any]) -> tuple[str, bool]:
    """The physical collection to write into, and whether it is a new build to switch the alias to at the end.
    A new collection records `rules` (the job's field options) in its metadata.

    Generations are named `<alias>-g<N>`; a rebuild killed half way is found again by name and resumed.
    """
    current = _current_collection(store, alias, embedder, rebuild, settings)
    if current and not rebuild:
        return current, False
    wanted = {"model": embedder.name, "dim": embedder.dim, "collab_dim": settings.collab_dim}
    generation = int(current.rsplit("-g", 1)[1]) + 1 if current and "-g" in current else 1
    target = f"{alias}-g{generation}"
    if _exists(store, target) and {k: store.metadata(target).get(k) for k in wanted} != wanted:
        store.drop_collection(target)  # a half-built generation for another model: start it again
    if not _exists(store, target):
        try:
            store.create_collection(
                target, {CONTENT: embedder.dim, **{slot: settings.collab_dim for slot in COLLAB_SLOTS}},
                metadata={**wanted, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "ingest": rules},
            )
        except StoreError:
            # another worker of a sharded ingestion created it a moment ago (same model: same metadata): use it
            if not _exists(store, target) or {k: store.metadata(target).get(k) for k in wanted} != wanted:
                raise
    if current is None:  # the very first build is visible at once; later ones switch when complete
        try:
            store.set_alias(alias, target)
        except StoreError:
            if store.resolve(alias) != target:  # not a concurrent worker's identical alias: a real failure
                raise
        return target, False
    return target, True


def _own_rows(rows: Iterator[RawRow], shard: Shard | None, id_field: str,
              report: IngestReport) -> Iterator[RawRow]:
    """The rows this worker ingests, counting every row read and those left to other shards."""
    for raw in rows:
        report.read += 1
        if shard and not shard.owns(item_id_of(raw.data, id_field)):
            report.other_shards += 1
            continue
        yield raw


def _index_payload(store: VectorStore, collection: str, docs: list[ItemDoc], specs: list[FieldSpec]) -> None:
    """Payload indexes keep filtered queries fast; each field's index type follows its first value. The
    `popularity` index exists from the start, so the popular path can order by it before any reindex."""
    store.create_payload_index(collection, ITEM_ID, "keyword")
    store.create_payload_index(collection, POPULARITY, "integer")
    for spec in specs:
        value = next((d.payload[spec.name] for d in docs if spec.name in d.payload), None)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bool) or value is None:
            continue
        kind = "integer" if isinstance(value, int) else "float" if isinstance(value, float) else "keyword"
        store.create_payload_index(collection, spec.name, kind)


def check_options(options: IngestOptions) -> None:
    """What a job refuses before it reads a row (the API checks it before accepting the job)."""
    bad = [f.name for f in options.payload_fields if f.name in RESERVED]
    if bad:
        raise IngestError(
            f"payload field name {', '.join(map(repr, bad))} is reserved by ragrec (it keeps {', '.join(RESERVED)} "
            "in every item's payload itself): rename the column in the file, or leave it out of the payload fields "
            "(--payload-fields)"
        )
    if not options.text_fields:
        raise IngestError("name at least one text field to embed (--text-fields)")


def ingest(
    path: str | Path,
    options: IngestOptions,
    *,
    settings: Settings | None = None,
    store: VectorStore | None = None,
    embedder: Embedder | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> IngestReport:
    """Load a catalog file into the items collection. `on_progress(rows_read, rows_estimate)` after each batch,
    and `(0, rows_estimate)` once the job is past its checks."""
    settings = settings or Settings()
    path = Path(path)
    alias = settings.items_collection if options.collection is None else options.collection
    check_options(options)
    _refuse_non_items(alias, settings)  # before the store is opened (a dry run may open none)

    started = time.perf_counter()
    part = f".shard-{options.shard.index}-of-{options.shard.count}" if options.shard else ""  # workers may share a dir
    # the file's whole name: catalog.csv and catalog.jsonl keep their rejects apart
    rejects_path = options.rejects or settings.data_dir / "rejects" / f"{path.name}{part}.rejects.jsonl"
    if options.dry_run and options.rejects is None:
        rejects_path = None  # a dry run changes nothing in the data dir: its rejects are counted, not written
    rejects = RejectsWriter(rejects_path, path)  # checks the path: a bad one fails here, not at the first bad row
    # every named column: one missing from a CSV or Parquet file is a mistake (a JSON Lines row may lack any)
    required = list(dict.fromkeys([options.id_field, *options.text_fields, *(f.name for f in options.payload_fields)]))
    try:
        rows, estimate = open_rows(path, detect_format(path, options.format), required)
    except CatalogFileError as exc:
        raise IngestFileError(str(exc)) from exc

    embedder = embedder or LazyEmbedder(settings)
    own_store = store is None
    if own_store and options.dry_run and not settings.qdrant_url and not settings.data_dir.exists():
        store = None  # no catalog yet, and a dry run makes no data dir: every valid row would be added
    else:
        store = store or open_store(settings)
    rules = RowRules(
        id_field=options.id_field,
        text_fields=options.text_fields,
        payload_fields=options.payload_fields,
        list_separator=options.list_separator or settings.list_separator,
        max_text_chars=settings.max_text_chars,
        long_text=options.long_text or settings.long_text,
        store_text=settings.store_text,
        max_payload_chars=settings.max_payload_chars,
        model=embedder.name,
    )
    report = IngestReport(collection=alias, dry_run=options.dry_run)
    if options.dry_run:
        try:
            _dry_run(store, alias, rows, estimate, options, settings, rules, embedder, rejects, report, on_progress)
        finally:
            rejects.close()
            if own_store and store is not None:
                store.close()
        return _finished(report, rejects, started)
    collection, switch_alias = alias, False
    try:
        # the catalog's field options, kept with the collection: a later upsert of single items (the API) reuses them
        fields = options.model_dump(mode="json", include={"id_field", "text_fields", "payload_fields", "list_separator"})
        collection, switch_alias = _target_collection(store, alias, embedder, options.rebuild, settings, fields)
        rejects.start()  # the job runs: the rejects file is this run's
        if on_progress:  # past its checks: a refused job has shown no progress
            on_progress(0, estimate)
        seen: dict[str, int] = {}  # item id -> line, for duplicates and --sync
        indexed = False
        own = _own_rows(rows, options.shard, options.id_field, report)
        # the first batch is small, so that progress (and the job's rate) shows within seconds, not after the
        # first full batch is embedded
        for batch in batched(own, options.batch_size or settings.ingest_batch_size, first=FIRST_BATCH_ROWS):
            docs = _read_batch(store, collection, batch, rules, seen, rejects, report)
            if docs and not indexed:
                _index_payload(store, collection, [d.doc for d in docs], options.payload_fields)
                indexed = True
            _write_batch(store, collection, docs, embedder, report)
            log.info("batch committed: %d rows read, %d upserted so far", report.read, report.upserted)
            if on_progress:
                on_progress(report.read, estimate)

        valid = report.read - report.other_shards - rejects.count
        guard = _MassDeleteGuard(options, settings, alias, valid, rejects)
        if options.sync:
            keep = {point_id(i) for i in seen}
            stale = [r.id for r in store.scroll(collection, payload=False) if r.id not in keep]
            guard.check("--sync would delete", len(stale), store.count(collection),
                        f"nothing was deleted (the file's rows were written: {report.upserted:,} upserted, "
                        f"{report.updated_payload:,} payloads updated, {report.unchanged:,} unchanged)",
                        unidentified=report.rejected_without_id)
            for chunk in batched(stale, 1000):
                store.delete(collection, chunk)
            report.deleted = len(stale)
        previous = store.resolve(alias) if switch_alias else None
        if switch_alias:
            # a rebuild holds exactly the file's items: a generation resumed from an earlier, refused or killed run
            # (of another file, perhaps) may hold others
            keep = {point_id(i) for i in seen}
            for chunk in batched([r.id for r in store.scroll(collection, payload=False) if r.id not in keep], 1000):
                store.delete(collection, chunk)
        if previous:
            built = {r.id for r in store.scroll(collection, payload=False)}
            lost = sum(r.id not in built for r in store.scroll(previous, payload=False))
            guard.check("--rebuild would drop", lost, store.count(previous),
                        f"{alias!r} still points at {previous!r}")
            report.deleted = lost  # the items of the catalog the rebuilt one no longer holds
        if options.optimize or switch_alias:
            store.optimize(collection)
        store.flush(collection)
        if switch_alias:
            store.set_alias(alias, collection)
            if previous and previous != collection:
                store.drop_collection(previous)
    except KeyboardInterrupt:
        raise IngestInterrupted(report.upserted + report.updated_payload) from None
    except Exception:
        if switch_alias:
            _drop_if_empty(store, collection)
        raise
    finally:
        rejects.close()
        if own_store:
            store.close()
    return _finished(report, rejects, started)


def _finished(report: IngestReport, rejects: RejectsWriter, started: float) -> IngestReport:
    report.rejected = rejects.count
    report.rejects_file = rejects.path if rejects.count else None
    report.seconds = time.perf_counter() - started
    return report


def _dry_run(store: VectorStore | None, alias: str, rows: Iterator[RawRow], estimate: int | None,
             options: IngestOptions, settings: Settings, rules: RowRules, embedder: Embedder,
             rejects: RejectsWriter, report: IngestReport, on_progress: Callable[[int, int | None], None] | None,
             ) -> None:
    """What the job would do, read only: the same checks, the rows read and compared with the catalog by their
    hashes as a real run compares them (so nothing needs embedding), the deletions and a mass-deletion refusal
    worked out. A rebuild re-embeds every valid row, and drops the catalog's items that are not among them."""
    current = _current_collection(store, alias, embedder, options.rebuild, settings) if store else None
    rejects.start()
    if on_progress:
        on_progress(0, estimate)
    seen: dict[str, int] = {}
    valid: set[str] = set()  # point ids of the valid rows: what a rebuilt generation would hold
    own = _own_rows(rows, options.shard, options.id_field, report)
    for batch in batched(own, options.batch_size or settings.ingest_batch_size, first=FIRST_BATCH_ROWS):
        for doc, old in _read_batch(store, current, batch, rules, seen, rejects, report,
                                    skip_unchanged=not options.rebuild):
            valid.add(point_id(doc.item_id))
            report.added += old is None
            if old is None or options.rebuild or old.get(TEXT_HASH) != doc.payload[TEXT_HASH]:
                report.upserted += 1
            else:
                report.updated_payload += 1
        if on_progress:
            on_progress(report.read, estimate)
    if store is None or current is None or not (options.sync or options.rebuild):
        return
    keep = {point_id(i) for i in seen} if options.sync else valid  # --sync keeps a rejected row's item
    doomed = [r.payload.get(ITEM_ID, r.id) for r in store.scroll(current, payload=[ITEM_ID]) if r.id not in keep]
    report.deleted, report.deleted_ids = len(doomed), doomed[:DRY_RUN_IDS]
    guard = _MassDeleteGuard(options, settings, alias, report.read - report.other_shards - rejects.count, rejects)
    try:
        if options.sync:
            guard.check("--sync would delete", len(doomed), store.count(current),
                        "a real run would write the file's rows and delete nothing",
                        unidentified=report.rejected_without_id)
        else:
            guard.check("--rebuild would drop", len(doomed), store.count(current),
                        f"{alias!r} would still point at {current!r}")
    except MassDeleteRefused as exc:
        report.refused = str(exc)


def _drop_if_empty(store: VectorStore, generation: str) -> None:
    """A rebuild refused (or failed) before its new generation held a row leaves no empty, unlisted collection
    behind; one that holds rows stays, for the next run to resume."""
    try:
        if store.count(generation) == 0:
            store.drop_collection(generation)
    except StoreError:  # the store itself failed: the error being raised says so
        log.warning("could not check the unfinished generation %r", generation, exc_info=True)


class _MassDeleteGuard:
    """Refuses a sync or rebuild that would remove most of the catalog: a file that yielded no valid rows (empty,
    binary, wrong columns mapped), or deletions over `sync_max_delete_share`, unless `allow_mass_delete`."""

    def __init__(self, options: IngestOptions, settings: Settings, alias: str, valid_rows: int,
                 rejects: RejectsWriter):
        self.allowed, self.share, self.alias = options.allow_mass_delete, settings.sync_max_delete_share, alias
        self.valid_rows, self.rejects = valid_rows, rejects

    def check(self, action: str, doomed: int, total: int, outcome: str, unidentified: int = 0) -> None:
        if doomed == 0 or self.allowed:
            return
        if self.valid_rows == 0:
            why = "the file yielded no valid rows"
        elif unidentified:  # a row too broken to name its id (a stray comma): its item may be among the doomed
            why = f"{unidentified:,} rejected rows have no readable id, so their items cannot be told apart"
        elif doomed > self.share * total:
            why = f"more than sync_max_delete_share = {self.share:.0%} of them"
        else:
            return
        rejected = f"; {self.rejects.count:,} rows rejected" if self.rejects.count else ""
        if rejected and self.rejects.path:
            rejected += f", see {self.rejects.path}"
        raise MassDeleteRefused(f"{action} {doomed:,} of the {total:,} items in {self.alias!r} ({why}{rejected}): "
                                f"refused, {outcome}. Check the file, or pass --allow-mass-delete (the API's "
                                f"allow_mass_delete) if this is meant")


class _Doc(NamedTuple):
    doc: ItemDoc
    stored: dict[str, Any] | None  # the stored payload's hashes and system fields; None for a new item


def _read_batch(store: VectorStore | None, collection: str | None, batch: list[RawRow], rules: RowRules,
                seen: dict[str, int], rejects: RejectsWriter, report: IngestReport,
                skip_unchanged: bool = True) -> list[_Doc]:
    """The batch's rows that need writing, as documents; unchanged rows are counted and skipped before parsing
    (unless `skip_unchanged` is off: a dry run of a rebuild, which rewrites them all). No `collection`: no catalog
    yet, every row is new."""
    found: list[Reject] = []
    candidates: list[tuple[RawRow, str | None]] = []  # (row, point id)
    for raw in batch:
        item = item_id_of(raw.data, rules.id_field)
        if item and (problem := id_problem(item)):
            # rejected before its point id is made, which a lone surrogate cannot be encoded for
            found.append(Reject(line=raw.line, id=item[:80].encode("utf-8", "backslashreplace").decode(),
                                reason=f"the id (field {rules.id_field!r}) {problem}"))
            continue
        if item and item in seen and not raw.error:
            found.append(Reject(line=raw.line, id=item, reason=f"duplicate id (first seen on line {seen[item]})"))
            continue
        if item:
            seen.setdefault(item, raw.line)  # a rejected row's item is kept by --sync, not deleted
        if raw.error:
            found.append(Reject(line=raw.line, id=item, reason=raw.error))
        else:
            candidates.append((raw, point_id(item) if item else None))

    ids = [pid for _, pid in candidates if pid]
    stored = {} if store is None or collection is None else {
        r.id: r.payload for r in store.retrieve(collection, ids, payload=[CONTENT_HASH, TEXT_HASH, *SYSTEM_FIELDS])}
    docs: list[_Doc] = []
    for raw, pid in candidates:
        old = stored.get(pid) if pid else None
        try:
            if skip_unchanged and old and old.get(CONTENT_HASH) == content_hash(raw.data, rules):
                report.unchanged += 1
                continue
            result = to_doc(raw.line, raw.data, rules)
        except UnicodeEncodeError:  # JSON escapes may spell a lone surrogate, which no UTF-8 text can hold
            result = Reject(line=raw.line, id=item_id_of(raw.data, rules.id_field),
                            reason="holds text that is not valid Unicode (a lone surrogate, as JSON's \\ud800)")
        if isinstance(result, Reject):
            found.append(result)
        else:
            docs.append(_Doc(result, old))
            report.truncated += result.truncated
            report.payload_truncated += result.payload_truncated
    for reject in sorted(found, key=lambda r: r.line):
        rejects.add(reject)
        report.rejected_without_id += reject.id is None
    return docs


def _write_batch(store: VectorStore, collection: str, docs: list[_Doc], embedder: Embedder, report: IngestReport) -> None:
    new: list[ItemDoc] = []
    changed: list[ItemDoc] = []
    for doc, old in docs:
        if old is None:
            new.append(doc)
            continue
        doc.payload.update({k: old[k] for k in SYSTEM_FIELDS if k in old})
        if old.get(TEXT_HASH) == doc.payload[TEXT_HASH]:
            store.set_payload(collection, point_id(doc.item_id), doc.payload)  # same text: keep the vector
            report.updated_payload += 1
        else:
            changed.append(doc)
    if not (new or changed):
        return
    vectors = embedder.embed([d.text for d in new + changed])
    store.upsert(collection, [PointIn(id=point_id(d.item_id), vectors={CONTENT: v}, payload=d.payload)
                              for d, v in zip(new, vectors)])
    for doc, v in zip(changed, vectors[len(new):]):
        # update in place: other named vectors of the item (the collaborative one) stay
        pid = point_id(doc.item_id)
        store.update_vectors(collection, pid, {CONTENT: v})
        store.set_payload(collection, pid, doc.payload)
    report.upserted += len(new) + len(changed)


def delete_items(
    item_ids: list[str], *, collection: str | None = None, settings: Settings | None = None,
    store: VectorStore | None = None,
) -> DeleteReport:
    settings = settings or Settings()
    alias = settings.items_collection if collection is None else collection
    if problem := collection_problem(alias):
        raise IngestError(problem)
    own_store = store is None
    _refuse_non_items(alias, settings)  # before the store is opened
    store = store or open_store(settings)
    try:
        check_items_collection(alias, settings, store)
        wanted = {point_id(i): i for i in dict.fromkeys(i.strip() for i in item_ids if i.strip())}
        found = {r.id for r in store.retrieve(alias, list(wanted), payload=False)}
        store.delete(alias, list(found))
        store.flush(alias)
        return DeleteReport(collection=alias, deleted=len(found),
                            not_found=[item for pid, item in wanted.items() if pid not in found])
    finally:
        if own_store:
            store.close()
