"""Retrieval benchmark: candidate and feedback latency at 10k and 100k items, HNSW (the default) against exact
search, and HNSW recall@50 for a sweep of the query beam ef.

    python -m bench.retrieval [--rows 100000] [--queries 300]

The 100k catalog is the synthetic one of bench/ingest.py, embedded with the real MiniLM once and kept in
bench/.cache/ (reused by later runs, with its HNSW copy). Latencies are medians and 99th percentiles over
single-threaded calls.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from bench.ingest import synthetic_catalog
from ragrec.config import Settings
from ragrec.demo import DEMO_CATALOG, demo_options
from ragrec.embedding import get_embedder
from ragrec.events.log import EventLog
from ragrec.events.models import Event
from ragrec.ingestion import ingest
from ragrec.recommender import Recommender
from ragrec.retrieval.recommend import RecommendRequest
from ragrec.store import Filter, Hnsw, Match, Nearest, PointIn, open_store
from ragrec.store.edge import EdgeStore

CACHE = Path(__file__).parent / ".cache"


def pct(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    return f"{np.median(ms):.1f} / {np.percentile(ms, 99):.1f}"


def catalog_store(rows: int) -> Path:
    """A data dir holding `rows` ingested items on plain segments (exact search), built once: the ground truth."""
    data = CACHE / f"edge-{rows}"
    if (data / "collections.json").exists():
        return data
    settings = Settings(data_dir=data, hnsw=False)
    if rows <= 9742:
        path, options = DEMO_CATALOG, demo_options()
    else:
        path, options = synthetic_catalog(CACHE / f"synthetic-{rows}.csv", rows), demo_options(format="csv")
    report = ingest(path, options, settings=settings)
    print(f"built {data}: {report.upserted:,} items in {report.seconds:.0f}s ({report.items_per_second:,.0f} items/s)")
    return data


def hnsw_store(rows: int, settings: Settings) -> tuple[Path, float | None]:
    """The same items copied into an HNSW-indexed data dir (ragrec's default) and optimized; build seconds."""
    data = CACHE / f"edge-{rows}-hnsw-m{settings.hnsw_m}-efc{settings.hnsw_ef_construct}-{settings.quantization}"
    if (data / "collections.json").exists():
        return data, None
    source = EdgeStore(catalog_store(rows))
    target = open_store(Settings(data_dir=data))
    try:
        meta = source.metadata("items")
        target.create_collection("items-g1", {"content": meta["dim"], "collab": meta["collab_dim"]}, metadata=meta)
        target.set_alias("items", "items-g1")
        for key, kind in (("item_id", "keyword"), ("genres", "keyword"), ("year", "integer")):
            target.create_payload_index("items", key, kind)
        batch = []
        for r in source.scroll("items", vectors=["content"]):
            batch.append(PointIn(id=r.id, vectors=r.vectors, payload=r.payload))
            if len(batch) == 1000:
                target.upsert("items", batch)
                batch = []
        target.upsert("items", batch)
        t = time.perf_counter()
        target.optimize("items")
        return data, time.perf_counter() - t
    finally:
        target.close()
        source.close()


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


COMEDY = Filter(must=[Match(key="genres", value="Comedy")])


def bench_catalog(settings: Settings, queries: int) -> dict:
    """Feedback, recommend() and the bare store query, on the store `settings` open (HNSW or exact)."""
    store = open_store(settings)
    work = Path(tempfile.mkdtemp(prefix="ragrec-bench-"))
    settings = settings.model_copy(update={"users_collection": "users-bench",
                                           "events_url": f"sqlite:///{work}/events.db"})
    log = EventLog(settings.events_url)
    rec = Recommender(settings, store=store, log=log, embedder=get_embedder(settings))
    try:
        ids = [r.payload["item_id"] for r in store.scroll("items", payload=["item_id"])]
        rng = random.Random(1)
        t0 = datetime.now(timezone.utc) - timedelta(hours=1)
        # 200 users with 20 likes each in the last hour, then single-event feedback latency
        history = [Event(user_id=f"u{u}", item_id=rng.choice(ids), type="like", timestamp=t0 + timedelta(minutes=i))
                   for u in range(200) for i in range(20)]
        rec.record_feedback(history)
        liked = [rec.user(f"u{u}").profile.vector("content").tolist() for u in range(200)]
        feedback = timed(lambda i: rec.record_feedback([Event(user_id=f"u{i % 200}", item_id=rng.choice(ids),
                                                              type=rng.choice(["click", "like", "dislike"]))]), queries)
        comedy = ["genres=Comedy"]
        plain = timed(lambda i: rec.recommend(RecommendRequest(user_id=f"u{i % 200}", k=50)), queries)
        filtered = timed(lambda i: rec.recommend(RecommendRequest(user_id=f"u{i % 200}", k=50, filters=comedy)), queries)
        vectors = [rec.user(f"u{u}").profile.vector("content").tolist() for u in range(200)]
        raw = timed(lambda i: store.query("items", Nearest(using="content", vector=vectors[i % 200]), limit=50), queries)
        raw_f = timed(lambda i: store.query("items", Nearest(using="content", vector=vectors[i % 200]), limit=50,
                                            filter=COMEDY), queries)
        return {"rows": len(ids), "feedback": pct(feedback), "recommend": pct(plain), "recommend_filter": pct(filtered),
                "store": pct(raw), "store_filter": pct(raw_f), "vectors": {"likes only": liked, "then mixed feedback": vectors}}
    finally:
        if store.resolve("users-bench"):
            store.drop_collection("users-bench")
        log.close()
        store.close()
        shutil.rmtree(work, ignore_errors=True)


def recall_sweep(exact: Path, indexed: Path, settings: Settings, queries: list[list[float]],
                 efs=(128, 256, 512, 1024)) -> list[dict]:
    """recall@50 of HNSW against exact search, and its latency, for each query beam `ef`."""
    source = EdgeStore(exact)
    out = []
    try:
        truth = [{h.id for h in source.query("items", Nearest(using="content", vector=v), limit=50, payload=False)}
                 for v in queries]
        truth_f = [{h.id for h in source.query("items", Nearest(using="content", vector=v), limit=50, filter=COMEDY,
                                               payload=False)} for v in queries]
        for ef in efs:
            store = EdgeStore(indexed, hnsw=Hnsw(m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct, ef=ef,
                                                 int8=settings.quantization == "int8",
                                                 oversampling=settings.quantization_oversampling))
            found = [{h.id for h in store.query("items", Nearest(using="content", vector=v), limit=50, payload=False)}
                     for v in queries]
            found_f = [{h.id for h in store.query("items", Nearest(using="content", vector=v), limit=50, filter=COMEDY,
                                                  payload=False)} for v in queries]
            lat = timed(lambda i: store.query("items", Nearest(using="content", vector=queries[i % len(queries)]),
                                              limit=50), 300)
            lat_f = timed(lambda i: store.query("items", Nearest(using="content", vector=queries[i % len(queries)]),
                                                limit=50, filter=COMEDY), 300)
            out.append({"ef": ef,
                        "recall": float(np.mean([len(a & b) / 50 for a, b in zip(found, truth)])),
                        "recall_filter": float(np.mean([len(a & b) / max(1, len(b)) for a, b in zip(found_f, truth_f)])),
                        "latency": pct(lat), "latency_filter": pct(lat_f)})
    finally:
        source.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    defaults = Settings()
    print("| items | index | feedback p50/p99 ms | recommend k=50 p50/p99 ms | with filter | store query p50/p99 ms "
          "| store query + filter |")
    print("|---|---|---|---|---|---|---|")
    queries, indexed = {}, {}
    for rows in (9742, args.rows):
        exact = catalog_store(rows)
        indexed[rows], build = hnsw_store(rows, defaults)
        if build is not None:
            print(f"(HNSW m={defaults.hnsw_m}, ef_construct={defaults.hnsw_ef_construct} built over {rows:,} items "
                  f"in {build:.1f} s)", flush=True)
        for label, settings in ((f"HNSW ef={defaults.hnsw_ef} (default)", Settings(data_dir=indexed[rows])),
                                ("exact (plain segment)", Settings(data_dir=exact, hnsw=False))):
            r = bench_catalog(settings, args.queries)
            queries = r["vectors"]
            print(f"| {r['rows']:,} | {label} | {r['feedback']} | {r['recommend']} | {r['recommend_filter']} | "
                  f"{r['store']} | {r['store_filter']} |", flush=True)
    print(f"\nrecall@50 of HNSW (m={defaults.hnsw_m}, ef_construct={defaults.hnsw_ef_construct}, quantization "
          f"{defaults.quantization}, oversampling {defaults.quantization_oversampling}) against exact search at "
          f"{args.rows:,} items, 200 user vectors each:\n")
    print("| user vectors | ef | recall@50 | with genre filter | query p50/p99 ms | filtered p50/p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, vectors in queries.items():
        for r in recall_sweep(catalog_store(args.rows), indexed[args.rows], defaults, vectors):
            print(f"| {kind} | {r['ef']} | {r['recall']:.3f} | {r['recall_filter']:.3f} | {r['latency']} | "
                  f"{r['latency_filter']} |", flush=True)


if __name__ == "__main__":
    main()
