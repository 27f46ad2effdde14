"""Background jobs of the service (catalog ingestion, reindex), run one at a time in a worker thread, so a big job
never takes the request threads and two jobs never write the catalog at once."""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

from ragrec.api.metrics import JOB_ROWS, JOBS

log = logging.getLogger("ragrec.api.jobs")
Status = Literal["queued", "running", "done", "failed"]


class Job(BaseModel):
    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16])
    kind: Literal["ingest", "reindex"]
    status: Status = "queued"
    source: str | None = None  # the file an ingest job reads
    progress: int = Field(0, description="ingest: rows read (after each batch); reindex: users rebuilt")
    total: int | None = Field(None, description="ingest: the file's lines while it runs (an estimate: a CSV row may "
                                                "span lines), its rows read once done; reindex: the users")
    report: dict[str, Any] | None = None
    error: str | None = None
    rejects: list[dict[str, Any]] = Field(default_factory=list, description="the first rejected rows")
    created: float = Field(default_factory=time.time)
    finished: float | None = None


class Jobs:
    """A queue of jobs and the one thread that runs them; the last `keep` jobs stay readable."""

    def __init__(self, keep: int = 200, rejects_shown: int = 20):
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[tuple[Job, Callable] | None] = queue.Queue()
        self._keep, self._rejects_shown = keep, rejects_shown
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="ragrec-jobs", daemon=True)
        self._worker.start()

    def submit(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> Job:
        """Queue `work(job)`; it returns the job's report (and may update job.progress as it goes)."""
        with self._lock:
            self._jobs[job.job_id] = job
            for old in list(itertools.islice(self._jobs, max(0, len(self._jobs) - self._keep))):
                if self._jobs[old].status in ("done", "failed"):
                    del self._jobs[old]
        self._queue.put((job, work))
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            job, work = item
            job.status = "running"
            try:
                job.report = work(job)
                job.status = "done"
            except Exception as exc:  # noqa: BLE001 - a failed job is reported on the job, never crashes the service
                log.warning("job %s (%s) failed: %s", job.job_id, job.kind, exc)
                job.error, job.status = str(exc) or type(exc).__name__, "failed"
            finally:
                job.finished = time.time()
                JOBS.labels(job.kind, job.status).inc()
                JOB_ROWS.set(0)
            rejects = (job.report or {}).get("rejects_file")
            if rejects:
                job.rejects = _head(Path(rejects), self._rejects_shown)

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)


def _head(path: Path, n: int) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line, _ in zip(f, range(n))]
    except (OSError, ValueError):
        return []
