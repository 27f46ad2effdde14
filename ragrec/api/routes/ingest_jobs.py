"""Bulk jobs (admin): `POST /v1/ingest-jobs` (a file on the server, under the import folder),
`POST /v1/ingest-jobs/upload` (a file sent with the request), `GET /v1/ingest-jobs/{job_id}`, and
`POST /v1/reindex-jobs` / `GET /v1/reindex-jobs/{job_id}`. Jobs run in the background, one at a time."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ragrec.api.deps import AdminKey, ServicesDep
from ragrec.api.jobs import Job
from ragrec.api.metrics import JOB_ROWS
from ragrec.ingestion import FieldSpec, IngestOptions, check_options, ingest

router = APIRouter(prefix="/v1", tags=["jobs"])
uploads = APIRouter(prefix="/v1", tags=["jobs"])  # its own body limit: catalogs are larger than requests

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class FieldsIn(BaseModel):
    """How rows become items: the CLI's --id-field, --text-fields, --payload-fields, --list-separator."""

    model_config = ConfigDict(extra="forbid")

    id_field: Name = "id"
    text_fields: list[Name] = Field(min_length=1, max_length=50)
    payload_fields: list[Annotated[str, StringConstraints(min_length=1, max_length=110)]] = Field(
        default_factory=list, max_length=200, description='"year:int", "genres:list", "title", ...')
    list_separator: Annotated[str, StringConstraints(min_length=1, max_length=5)] | None = None

    def options(self) -> dict[str, Any]:
        return {"id_field": self.id_field, "text_fields": self.text_fields, "list_separator": self.list_separator,
                "payload_fields": [FieldSpec.parse(f) for f in self.payload_fields]}


class IngestJobOptions(FieldsIn):
    format: Literal["csv", "jsonl", "parquet"] | None = None
    # strict: "sync": "yes" or 1 is a 422, never a sync (or a mass deletion) the client did not spell out
    sync: bool = Field(False, strict=True)
    rebuild: bool = Field(False, strict=True)
    allow_mass_delete: bool = Field(False, strict=True, description="let sync / rebuild remove more than the server's "
                                    "sync_max_delete_share of the items, or run on a file without a valid row")
    long_text: Literal["truncate", "reject"] | None = None

    def ingest_options(self) -> IngestOptions:
        """The job's options, checked as the job would check them: a bad one is a 422 now, not a failed job."""
        try:
            options = IngestOptions(**self.options(), format=self.format, sync=self.sync, rebuild=self.rebuild,
                                    allow_mass_delete=self.allow_mass_delete, long_text=self.long_text)
        except (ValueError, ValidationError) as exc:
            raise HTTPException(422, str(exc)) from None
        check_options(options)
        return options


class IngestJobIn(IngestJobOptions):
    path: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = Field(
        description="a file under the server's import folder (RAGREC_API_IMPORT_DIR), relative to it")


def import_dir(settings) -> Path:
    return Path(settings.api_import_dir or settings.data_dir / "imports").resolve()


def _submit(svc, source: Path, ingest_options: IngestOptions, *, remove_after: bool = False) -> Job:
    settings = svc.settings
    job = Job(kind="ingest", source=source.name)
    # a rejects file of the job's own: two jobs of one file name (two uploads of catalog.csv) keep theirs apart
    ingest_options = ingest_options.model_copy(
        update={"rejects": settings.data_dir / "rejects" / f"{source.stem}.{job.job_id}.rejects.jsonl"})

    def work(job: Job) -> dict[str, Any]:
        def progress(done: int, total: int | None) -> None:
            job.progress, job.total = done, total
            JOB_ROWS.set(done)

        try:
            report = ingest(source, ingest_options, settings=settings, store=svc.rec.store, on_progress=progress)
        finally:
            if remove_after:
                _remove(source)
            # a failed job may have written rows too (a refused --sync writes the file's rows first): the catalog's
            # titles and genres, which chat reads, are refreshed either way
            svc.rec.catalog_changed()
            svc.chat.catalog_changed()
        job.progress = job.total = report.read  # the estimate counted lines: done, it is the rows read
        return report.model_dump(mode="json")

    return svc.jobs.submit(job, work)


@router.post("/ingest-jobs", response_model=Job, status_code=status.HTTP_202_ACCEPTED)
async def ingest_from_server(body: IngestJobIn, svc: ServicesDep, _: AdminKey) -> Job:
    """Ingest a catalog file that is already on the server, in the background."""
    root = import_dir(svc.settings)
    if "\x00" in body.path:
        raise HTTPException(422, "path holds a NUL character")
    path = (root / body.path).resolve()
    if not path.is_relative_to(root):
        raise HTTPException(422, f"path must be inside the import folder {root}")
    if path.is_dir():
        raise HTTPException(422, f"{body.path!r} is a folder in the import folder {root}, not a file")
    if not path.is_file():
        raise HTTPException(422, f"no file {body.path!r} in the import folder {root}")
    return _submit(svc, path, body.ingest_options())


@uploads.post("/ingest-jobs/upload", response_model=Job, status_code=status.HTTP_202_ACCEPTED)
async def ingest_upload(svc: ServicesDep, _: AdminKey,
                        file: UploadFile = File(description="the catalog: .csv, .jsonl or .parquet"),
                        options: str = Form(description="IngestJobOptions as JSON")) -> Job:
    """Ingest an uploaded catalog file, in the background."""
    try:
        parsed = IngestJobOptions.model_validate_json(options)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, ("options", *error["loc"])))
        raise HTTPException(422, f"{where}: {error['msg'].removeprefix('Value error, ')}") from None
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".json", ".parquet") and not parsed.format:
        raise HTTPException(422, "name the file .csv, .jsonl or .parquet, or give options.format")
    ingest_options = parsed.ingest_options()  # before the upload is written: a refused job leaves no file
    # under the client's own file name (in a folder of its own), which the job's errors and rejects file then name
    name = re.sub(r"[^\w.-]", "_", Path(file.filename or "").name).lstrip(".")[:100] or "upload"
    path = svc.settings.data_dir / "uploads" / uuid.uuid4().hex[:12] / (name + ("" if suffix else
                                                                                 "." + (parsed.format or "csv")))
    path.parent.mkdir(parents=True)
    try:
        await svc.run(lambda: _save(file, path))
        return _submit(svc, path, ingest_options, remove_after=True)
    except BaseException:
        _remove(path)
        raise


def _remove(upload: Path) -> None:
    upload.unlink(missing_ok=True)
    upload.parent.rmdir()


def _save(upload: UploadFile, path: Path) -> None:
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


@router.get("/ingest-jobs/{job_id}", response_model=Job)
async def ingest_job(job_id: Annotated[str, StringConstraints(max_length=64)], svc: ServicesDep, _: AdminKey) -> Job:
    job = svc.jobs.get(job_id)
    if job is None or job.kind != "ingest":
        raise HTTPException(404, f"no ingest job {job_id!r}")
    return job


@router.post("/reindex-jobs", response_model=Job, status_code=status.HTTP_202_ACCEPTED)
async def reindex(svc: ServicesDep, _: AdminKey) -> Job:
    """Rebuild user vectors, collab vectors and popularity from the event log, in the background."""
    def work(job: Job) -> dict[str, Any]:
        def progress(done: int, total: int) -> None:
            job.progress, job.total = done, total

        return svc.rec.reindex(on_progress=progress).model_dump(mode="json")

    return svc.jobs.submit(Job(kind="reindex"), work)


@router.get("/reindex-jobs/{job_id}", response_model=Job)
async def reindex_job(job_id: Annotated[str, StringConstraints(max_length=64)], svc: ServicesDep,
                      _: AdminKey) -> Job:
    job = svc.jobs.get(job_id)
    if job is None or job.kind != "reindex":
        raise HTTPException(404, f"no reindex job {job_id!r}")
    return job
