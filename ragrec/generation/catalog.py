"""Catalog blurbs: one non-personalized description per item, precomputed into the item's payload
(`ragrec describe-catalog`), or written offline on a GPU box (`export_prompts` -> infra/vllm/describe_catalog.py ->
`import_blurbs`).

Resumable and idempotent like ingest: a blurb is stored with `blurb_hash`, a hash of what it was written from (the
item's facts as the prompt states them, `CATALOG_PROMPT_VERSION`, the model); an item whose stored hash matches is
skipped, so a killed run resumes where it stopped and a second run describes nothing. Every blurb passes the
description checks (`describe.check`, without evidence titles) before it is stored. An item whose blurb fails them
is stored with its hash and no blurb, so it is not asked again with the same model and prompt (`retry_failed`
asks again); an LLM error (timeout, server down) stores nothing, so the next run retries it. A failed item never
stops the job: the report says which and why.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import BaseModel, Field, ValidationError

from ragrec.config import Settings
from ragrec.generation import prompts as P
from ragrec.generation.base import LLM, LLMError
from ragrec.generation.describe import Vocabulary, _run, check, whole_sentences
from ragrec.generation.local import as_chat
from ragrec.retrieval.models import Candidate
from ragrec.schema import BLURB, BLURB_HASH, ITEM_ID, TEXT, public_payload
from ragrec.store import VectorStore, point_id

MAX_FAILURES_LISTED = 1000  # the report lists this many failures (all are counted)

# The JSON the offline batch is constrained to (vLLM's structured outputs); the blurb is `description`.
BLURB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"description": {"type": "string"}},
    "required": ["description"],
    "additionalProperties": False,
}


class BlurbFailure(BaseModel):
    item_id: str
    reason: str


class CatalogReport(BaseModel):
    collection: str
    model: str
    items: int = Field(0, description="items looked at")
    described: int = Field(0, description="blurbs written and stored")
    skipped: int = Field(0, description="already described (or already failed its checks) with this model and prompt")
    failed: int = 0
    failures: list[BlurbFailure] = Field(default_factory=list, description="the first failures, with reasons")
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.described + self.skipped + self.failed

    def fail(self, item_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_LISTED:
            self.failures.append(BlurbFailure(item_id=item_id, reason=reason))


def item_candidate(payload: dict[str, Any]) -> Candidate:
    """An item as the prompts and checks see it (they read candidates), from its stored payload."""
    return Candidate(item_id=str(payload[ITEM_ID]), score=0.0, payload=public_payload(payload),
                     text=payload.get(TEXT), path="content")


def source_key(item: Candidate, kind: str = "movie") -> str:
    """What a blurb is written from: the item's facts as the prompt states them, and the prompt's version."""
    facts = P.facts_sentence(P.item_facts(item), kind)
    return hashlib.sha256(f"{P.CATALOG_PROMPT_VERSION}\x1f{facts}".encode()).hexdigest()[:32]


def blurb_hash(key: str, model: str) -> str:
    return hashlib.sha256(f"{key}\x1f{model}".encode()).hexdigest()[:32]


def catalog_messages(item: Candidate, kind: str = "movie", *, as_json: bool = False):
    facts = P.item_facts(item)
    template = P.DESCRIBE_CATALOG_JSON if as_json else P.DESCRIBE_CATALOG
    return template.format_messages(kind=kind, facts=P.facts_sentence(facts, kind), title=facts["title"])


class _Job:
    """What one run shares: the store, the collection, the checks' vocabulary, the report."""

    def __init__(self, store: VectorStore, settings: Settings, model: str, kind: str | None,
                 collection: str | None, on_progress: Callable[[int, int | None], None] | None):
        self.store, self.settings, self.kind = store, settings, kind or settings.item_kind
        self.collection = collection or settings.items_collection
        self.report = CatalogReport(collection=self.collection, model=model)
        self.vocabulary = Vocabulary.from_store(store, settings)
        self.total = store.count(self.collection)
        self.on_progress = on_progress or (lambda done, total: None)
        self.started = time.perf_counter()

    def items(self) -> Iterator[dict[str, Any]]:
        yield from (r.payload for r in self.store.scroll(self.collection))

    def tick(self) -> None:
        """Report progress: items finished (described, skipped or failed)."""
        self.on_progress(self.report.done, self.total)

    def skip(self) -> None:
        self.report.skipped += 1
        self.tick()

    def fail(self, item_id: str, reason: str) -> None:
        self.report.fail(item_id, reason)
        self.tick()

    def store_checked(self, item: Candidate, text: str, digest: str) -> None:
        """Check one blurb; store it (or, when it fails its checks, the hash alone: not asked again)."""
        text = whole_sentences(text)
        cut = [s for v in [item.text, *map(str, item.payload.get("tags") or [])] for s in P.as_data(v)[1]]
        result = check(text, item, [], self.vocabulary, self.settings, cut)
        pid = point_id(item.item_id)
        if result.ok:
            self.store.update_payload(self.collection, [pid], {BLURB: text, BLURB_HASH: digest})
            self.report.described += 1
        else:
            self.store.update_payload(self.collection, [pid], {BLURB: None, BLURB_HASH: digest})
            self.report.fail(item.item_id, "failed its checks: " + ", ".join(result.failed))
        self.tick()

    def done(self) -> CatalogReport:
        self.report.seconds = round(time.perf_counter() - self.started, 3)
        self.on_progress(self.report.done, self.report.done)  # a --limit stops short of the collection: that is all
        return self.report


def _wanted(payload: dict[str, Any], digest: str, force: bool, retry_failed: bool) -> bool:
    if force or payload.get(BLURB_HASH) != digest:
        return True
    return retry_failed and not payload.get(BLURB)


def describe_catalog(store: VectorStore, llm: LLM, settings: Settings, *, limit: int | None = None,
                     force: bool = False, retry_failed: bool = False, kind: str | None = None,
                     collection: str | None = None,
                     on_progress: Callable[[int, int | None], None] | None = None) -> CatalogReport:
    """Write the missing blurbs with `llm`, `settings.describe_catalog_batch` items at a time (one batched forward
    pass for `local`; concurrent requests up to llm_concurrency for `openai`, which vLLM batches itself).
    `limit`: describe at most this many items (a sample); `force`: rewrite every blurb."""
    job = _Job(store, settings, llm.name, kind, collection, on_progress)
    batch: list[tuple[Candidate, str]] = []
    attempted = 0
    for payload in job.items():
        if limit is not None and attempted >= limit:
            break
        job.report.items += 1
        item = item_candidate(payload)
        digest = blurb_hash(source_key(item, job.kind), llm.name)
        if not _wanted(payload, digest, force, retry_failed):
            job.skip()
            continue
        batch.append((item, digest))
        attempted += 1
        if len(batch) >= settings.describe_catalog_batch:
            _describe_batch(job, llm, batch)
            batch = []
    if batch:
        _describe_batch(job, llm, batch)
    return job.done()


def _describe_batch(job: _Job, llm: LLM, batch: list[tuple[Candidate, str]]) -> None:
    prompts = [catalog_messages(item, job.kind) for item, _ in batch]

    async def run() -> set[int]:
        answered: set[int] = set()
        try:
            async for j, raw in llm.stream_many(prompts, max_tokens=job.settings.describe_max_tokens):
                if j in answered:
                    continue
                answered.add(j)
                item, digest = batch[j]
                if isinstance(raw, LLMError):
                    job.fail(item.item_id, str(raw))  # not stored: the next run asks again
                else:
                    job.store_checked(item, raw, digest)
        except Exception as exc:  # noqa: BLE001  (a backend failure fails this batch's rest, never the job)
            for j, (item, _) in enumerate(batch):
                if j not in answered:
                    answered.add(j)
                    job.fail(item.item_id, str(exc) if isinstance(exc, LLMError) else f"error: {exc!r}")
        return answered

    answered = _run(run())  # also from code already inside an event loop
    for j, (item, _) in enumerate(batch):
        if j not in answered:
            job.fail(item.item_id, "bad_output: the backend gave no answer for this item")


# --- the offline batch on a GPU box ----------------------------------------------------------------------------

def export_prompts(store: VectorStore, settings: Settings, path: Path, *, model: str, limit: int | None = None,
                   force: bool = False, retry_failed: bool = False, kind: str | None = None,
                   collection: str | None = None,
                   on_progress: Callable[[int, int | None], None] | None = None) -> CatalogReport:
    """Write one JSON line per item still to describe with `model`: {item_id, key, messages, schema}, the chat
    messages rendered by the same prompt module (the JSON variant). `described` counts the lines written."""
    job = _Job(store, settings, model, kind, collection, on_progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for payload in job.items():
            if limit is not None and job.report.described >= limit:
                break
            job.report.items += 1
            item = item_candidate(payload)
            key = source_key(item, job.kind)
            if not _wanted(payload, blurb_hash(key, model), force, retry_failed):
                job.skip()
                continue
            messages = as_chat(catalog_messages(item, job.kind, as_json=True))
            out.write(json.dumps({"item_id": item.item_id, "key": key, "messages": messages, "schema": BLURB_SCHEMA},
                                 ensure_ascii=False) + "\n")
            job.report.described += 1
            job.tick()
    return job.done()


class BlurbLine(BaseModel):
    """One line of the offline batch's output: the blurb, or why there is none."""

    item_id: str
    key: str
    model: str
    description: str | None = None
    error: str | None = None


def import_blurbs(store: VectorStore, settings: Settings, path: Path, *, force: bool = False, kind: str | None = None,
                  collection: str | None = None,
                  on_progress: Callable[[int, int | None], None] | None = None) -> CatalogReport:
    """Store the blurbs of a JSON Lines file (infra/vllm/describe_catalog.py's output) after the same checks.
    A line whose item is gone, or changed since its prompt was exported (another key), fails; an item whose stored
    hash already matches is skipped."""
    job = _Job(store, settings, "", kind, collection, on_progress)
    job.total = None
    models: set[str] = set()
    with open(path, "rb") as lines:
        numbered = ((n, line) for n, line in enumerate(lines, 1) if line.strip())
        for chunk in _chunks(numbered, _IMPORT_CHUNK):
            rows: list[BlurbLine] = []
            for n, line in chunk:
                job.report.items += 1
                try:
                    rows.append(BlurbLine.model_validate_json(line))
                except ValidationError as exc:  # not JSON, not UTF-8, or a field missing
                    error = exc.errors()[0]
                    where = ".".join(map(str, error["loc"]))
                    job.fail(f"line {n}", f"not a blurb line ({{\"item_id\", \"key\", \"model\", "
                                          f"\"description\"}}): {where + ': ' if where else ''}{error['msg']}")
            ids = [point_id(row.item_id) for row in rows]
            found = {r.payload[ITEM_ID]: r.payload for r in store.retrieve(job.collection, ids)} if ids else {}
            for row in rows:
                models.add(row.model)
                _import_one(job, row, found.get(row.item_id), force)
    job.report.model = ", ".join(sorted(models))
    return job.done()


def _import_one(job: _Job, row: BlurbLine, payload: dict[str, Any] | None, force: bool) -> None:
    if row.description is None:
        return job.fail(row.item_id, row.error or "no description in the line")
    if payload is None:
        return job.fail(row.item_id, "no such item in the catalog")
    item = item_candidate(payload)
    if source_key(item, job.kind) != row.key:
        return job.fail(row.item_id, "the item (or the catalog prompt) changed since its prompt was exported")
    digest = blurb_hash(row.key, row.model)
    if not _wanted(payload, digest, force, False):
        return job.skip()
    job.store_checked(item, row.description, digest)


_IMPORT_CHUNK = 256  # lines whose items are read from the store in one call


def _chunks(rows: Iterator[Any], n: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = ["BLURB_SCHEMA", "BlurbFailure", "BlurbLine", "CatalogReport", "blurb_hash", "catalog_messages",
           "describe_catalog", "export_prompts", "import_blurbs", "item_candidate", "source_key"]
