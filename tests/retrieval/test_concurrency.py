"""One Recommender serving many threads: feedback and forgetting while a reindex runs, recommendations while the
catalog is ingested and indexed, and lazy parts built once when many threads touch them first."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from conftest import private_items
from ragrec.config import Settings
from ragrec.demo import DEMO_CATALOG, demo_options
from ragrec.events.log import EventLog
from ragrec.events.models import Event
from ragrec.ingestion import ingest
from ragrec.recommender import Recommender
from ragrec.retrieval import reindex as reindex_module
from ragrec.retrieval.models import RecommendRequest

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
MOVIES = ["1", "2", "3", "5", "6", "10", "32", "47", "50", "110", "150", "260", "296", "318", "356", "457", "480",
          "527", "589", "593"]


@pytest.fixture
def rec(demo, embedder, tmp_path):
    """A Recommender on a private copy of the demo items, with 60 users of 6 events each in its log."""
    base, store, _ = demo
    items = private_items(store)
    settings = Settings(data_dir=base.data_dir, items_collection=items, users_collection=f"users-{uuid.uuid4().hex[:8]}")
    log = EventLog(f"sqlite:///{tmp_path / 'events.db'}")
    r = Recommender(settings, store=store, log=log, embedder=embedder)
    rng = np.random.default_rng(0)
    r.record_feedback([Event(event_id=f"u{u}-{n}", user_id=f"u{u:02d}", item_id=str(item), type="like",
                             timestamp=T0 + timedelta(hours=n))
                       for u in range(60) for n, item in enumerate(rng.choice(MOVIES, 6, replace=False))])
    try:
        yield r
    finally:
        for name in (settings.users_collection, items):
            store.drop_collection(name)
        log.close()


def like(user: str, item: str, hours: int) -> Event:
    return Event(user_id=user, item_id=item, type="like", timestamp=T0 + timedelta(hours=hours))


def reindex_with(rec: Recommender, monkeypatch, during) -> reindex_module.ReindexReport:
    """Reindex in small chunks and run `during()` in another thread, to completion, after the first chunk: the
    reindex is then half way through building its new generation."""
    monkeypatch.setattr(reindex_module, "USERS_PER_CHUNK", 10)
    ran = []

    def progress(done, total):
        if not ran and done < total:
            worker = threading.Thread(target=during)
            worker.start()
            worker.join()
            ran.append(done)

    report = rec.reindex(on_progress=progress)
    assert ran, "the callback never ran mid-reindex"
    return report


def test_feedback_during_a_reindex_ends_up_in_the_new_generation(rec, monkeypatch):
    before = rec.store.resolve(rec.settings.users_collection)

    def feedback():
        rec.record_feedback([like("late", "1", 100), like("late", "3114", 101), like("u59", "2355", 100)])

    report = reindex_with(rec, monkeypatch, feedback)
    assert rec.store.resolve(rec.settings.users_collection) != before  # a new generation took over
    assert report.events_replayed == 3
    late, u59 = rec.user("late").profile, rec.user("u59").profile
    assert late is not None and late.n_events == 2
    assert u59.n_events == 7 and u59.recent[0].item_id == "2355"
    rebuilt = rec.reindex()  # the live result equals a rebuild from the log
    assert rebuilt.events == 60 * 6 + 3 and rebuilt.events_replayed == 0
    assert np.allclose(rec.user("late").profile.sums["content"], late.sums["content"], atol=1e-5)
    assert np.allclose(rec.user("u59").profile.sums["content"], u59.sums["content"], atol=1e-5)


def test_a_user_forgotten_during_a_reindex_stays_forgotten(rec, monkeypatch):
    def forget():
        # u00 was written into the new generation by the first chunk; u01 is forgotten, then comes back
        assert rec.forget_user("u00") == 6
        assert rec.forget_user("u01") == 6
        rec.record_feedback([like("u01", "260", 200)])

    report = reindex_with(rec, monkeypatch, forget)
    assert report.users_dropped == 2
    assert rec.user("u00").profile is None and rec.user("u00").events == 0
    back = rec.user("u01").profile
    assert back.n_events == 1 and [r.item_id for r in back.recent] == ["260"]  # nothing from before the forget
    assert rec.reindex().users == 59


def test_recommendations_keep_coming_while_the_catalog_is_ingested_and_indexed(rec, tmp_path):
    """A bulk ingest (embedding, upserts, the index build and swap) on the store that serves requests."""
    rec.reindex()
    path = tmp_path / "more.jsonl"
    with open(DEMO_CATALOG, encoding="utf-8") as f:  # 600 demo movies as new items with new ids
        lines = [line.replace('"movieId": ', '"movieId": 900000', 1) for _, line in zip(range(600), f)]
    path.write_text("".join(lines))
    errors, latencies = [], []
    finished = threading.Event()

    def job():
        try:
            ingest(path, demo_options(), settings=rec.settings, store=rec.store, embedder=rec.embedder)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            finished.set()

    worker = threading.Thread(target=job)
    worker.start()
    users = [f"u{u:02d}" for u in range(60)]
    n = 0
    while not finished.is_set():
        started = time.perf_counter()
        result = rec.recommend(RecommendRequest(user_id=users[n % 60], k=10))
        latencies.append(time.perf_counter() - started)
        assert len(result.items) == 10
        n += 1
    worker.join()
    assert not errors, errors
    assert rec.store.count(rec.settings.items_collection) == 9742 + 600
    assert len(latencies) > 50  # served all along (latency percentiles: bench/RESULTS.md)


def test_lazy_parts_are_built_once_from_many_threads(demo, embedder, tmp_path):
    base, store, _ = demo
    # no store given: the first touch of `profiles` builds the store too (a nested build under the same lock)
    rec = Recommender(Settings(data_dir=base.data_dir, events_url=f"sqlite:///{tmp_path / 'e.db'}"), embedder=embedder)
    seen: list[tuple] = []
    barrier = threading.Barrier(8)

    def touch():
        barrier.wait()
        seen.append((id(rec.profiles), id(rec.log), id(rec.store)))

    threads = [threading.Thread(target=touch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1
    rec.close()  # gives up only its own share of the data dir: the session's demo store still serves
    assert store.count("items") == 9742


WARM_THEN_TRAIN_IN_A_THREAD = """
import threading
from threadpoolctl import threadpool_info, threadpool_limits
from ragrec.config import Settings
from ragrec.recommender import Recommender

rec = Recommender(Settings(data_dir=DATA, llm="none")).warm(llm=False)
import implicit.cpu.als  # what a reindex job loads, after warm()
seen = []
def job():  # as train_item_factors, in the job's worker thread
    with threadpool_limits(1, "blas"):
        seen.extend(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
thread = threading.Thread(target=job)
thread.start(); thread.join(); rec.close()
print(seen)
"""


def test_a_reindex_job_in_a_serving_process_trains_with_one_blas_thread(tmp_path):
    """The service's reindex job runs ALS in a worker thread, after warm() limited BLAS: scipy's BLAS, loaded
    later, kept its threads there (implicit warned in the server log of a severe slowdown). A fresh process, as
    implicit checks once per process."""
    script = WARM_THEN_TRAIN_IN_A_THREAD.replace("DATA", repr(str(tmp_path / "data")))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**{k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")},
                              "HF_HUB_OFFLINE": "1"})  # BLAS at its default, a thread per core
    assert out.returncode == 0, out.stderr[-2000:]
    threads = eval(out.stdout)
    assert threads and set(threads) == {1}, out.stdout
