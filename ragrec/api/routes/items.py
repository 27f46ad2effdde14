"""`PUT /v1/items` (upsert a small batch) and `DELETE /v1/items/{item_id}`: admin."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from ragrec.api.deps import AdminKey, ServicesDep
from ragrec.api.routes.ingest_jobs import FieldsIn
from ragrec.events.models import Id
from ragrec.ingestion import DeleteReport, IngestOptions, IngestReport, delete_items, ingest

router = APIRouter(prefix="/v1", tags=["items"])


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(min_length=1, max_length=1000, description="catalog rows, as in a file")
    fields: FieldsIn | None = Field(None, description="how rows become items (default: the options the catalog "
                                                      "was ingested with)")


class ItemsOut(IngestReport):
    rejects: list[dict[str, Any]] = Field(default_factory=list, description="rejected rows with their reasons")


@router.put("/items", response_model=ItemsOut)
async def put_items(body: ItemsIn, svc: ServicesDep, _: AdminKey) -> ItemsOut:
    """Embed and upsert rows at once (new items are retrievable as soon as this returns); unchanged rows are
    skipped, bad rows are rejected with their reason and the others still land."""
    settings = svc.settings

    def run() -> ItemsOut:
        fields = body.fields.options() if body.fields else _catalog_fields(svc)
        if not any(fields["id_field"] in row for row in body.items):  # else each row without it is a reject
            raise HTTPException(422, f"no item has the id field {fields['id_field']!r} (the catalog's, or `fields`'): "
                                     f"the first has {sorted(body.items[0])}")
        options = IngestOptions(**fields, format="jsonl", optimize=False)
        work = settings.data_dir / "uploads"
        work.mkdir(parents=True, exist_ok=True)
        path = work / f"items-{uuid.uuid4().hex[:12]}.jsonl"
        try:
            path.write_text("".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in body.items),
                            encoding="utf-8")
            options.rejects = path.with_suffix(".rejects.jsonl")
            report = ingest(path, options, settings=settings, store=svc.rec.store)
            rejects = _read_rejects(options.rejects)
        finally:
            path.unlink(missing_ok=True)
            path.with_suffix(".rejects.jsonl").unlink(missing_ok=True)
        svc.chat.catalog_changed()
        return ItemsOut(**report.model_dump(exclude={"rejects_file"}), rejects=rejects)

    return await svc.run(run)


@router.delete("/items/{item_id:path}", response_model=DeleteReport)
async def delete_item(item_id: Id, svc: ServicesDep, _: AdminKey) -> DeleteReport:
    report = await svc.run(lambda: delete_items([item_id], settings=svc.settings, store=svc.rec.store))
    if not report.deleted:
        raise HTTPException(404, f"no item {item_id!r}")
    svc.chat.catalog_changed()
    return report


def _catalog_fields(svc) -> dict[str, Any]:
    fields = svc.rec.store.metadata(svc.settings.items_collection).get("ingest")
    if not fields:
        raise HTTPException(422, "the catalog was ingested before ragrec kept its field options: give `fields` "
                                 "(id_field, text_fields, payload_fields)")
    return fields


def _read_rejects(path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    except OSError:
        return []
