"""Retrieval benchmark: candidate latency at 10k and 100k items, feedback latency, HNSW build time and recall.

    python -m bench.retrieval [--rows 100000] [--queries 300]

The 100k catalog is the synthetic one of bench/ingest.py, embedded with the real MiniLM once and kept in
bench/.cache/ (reused by later runs). Latencies are medians and 99th percentiles over single-threaded calls.
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
from ragrec.store import Filter, Match, Nearest, PointIn
from ragrec.store.edge import EdgeStore

CACHE = Path(__file__).parent / ".cache"


def pct(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    return f"{np.median(ms):.1f} / {np.percentile(ms, 99):.1f}"


def catalog_store(rows: int) -> Path:
    """A data dir holding `rows` ingested items (the demo catalog for <= 9,742 rows), built once."""
    data = CACHE / f"edge-{rows}"
    if (data / "collections.json").exists():
        return data
    settings = Settings(data_dir=data)
    if rows <= 9742:
        path, options = DEMO_CATALOG, demo_options()
    else:
        path, options = synthetic_catalog(CACHE / f"synthetic-{rows}.csv", rows), demo_options(format="csv")
    report = ingest(path, options, settings=settings)
    print(f"built {data}: {report.upserted:,} items in {report.seconds:.0f}s ({report.items_per_second:,.0f} items/s)")
    return data


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def bench_catalog(rows: int, queries: int) -> dict:
    data = catalog_store(rows)
    store = EdgeStore(data)
    work = Path(tempfile.mkdtemp(prefix="ragrec-bench-"))
    settings = Settings(data_dir=data, users_collection="users-bench", events_url=f"sqlite:///{work}/events.db")
    log = EventLog(settings.events_url)
    rec = Recommender(settings, store=store, log=log, embedder=get_embedder(settings))
    try:
        ids = [r.payload["item_id"] for r in store.scroll("items", payload=["item_id"])]
        rng = random.Random(1)
        t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
        # 200 users with 20 likes each, then single-event feedback latency
        history = [Event(user_id=f"u{u}", item_id=rng.choice(ids), type="like", timestamp=t0 + timedelta(minutes=i))
                   for u in range(200) for i in range(20)]
        rec.record_feedback(history)
        feedback = timed(lambda i: rec.record_feedback([Event(user_id=f"u{i % 200}", item_id=rng.choice(ids),
                                                              type=rng.choice(["click", "like", "dislike"]))]), queries)
        comedy = ["genres=Comedy"]
        plain = timed(lambda i: rec.recommend(RecommendRequest(user_id=f"u{i % 200}", k=50)), queries)
        filtered = timed(lambda i: rec.recommend(RecommendRequest(user_id=f"u{i % 200}", k=50, filters=comedy)), queries)
        vectors = [rec.user(f"u{u}").profile.vector("content").tolist() for u in range(200)]
        raw = timed(lambda i: store.query("items", Nearest(using="content", vector=vectors[i % 200]), limit=50), queries)
        raw_f = timed(lambda i: store.query("items", Nearest(using="content", vector=vectors[i % 200]), limit=50,
                                            filter=Filter(must=[Match(key="genres", value="Comedy")])), queries)
        return {"rows": len(ids), "feedback": pct(feedback), "recommend": pct(plain), "recommend_filter": pct(filtered),
                "store": pct(raw), "store_filter": pct(raw_f), "vectors": vectors}
    finally:
        if store.resolve("users-bench"):
            store.drop_collection("users-bench")
        log.close()
        store.close()
        shutil.rmtree(work, ignore_errors=True)


def bench_hnsw(rows: int, queries: list[list[float]]) -> dict:
    """Copy the exact (plain segment) collection into an HNSW shard; build time, latency and recall@50."""
    source = EdgeStore(catalog_store(rows))
    work = Path(tempfile.mkdtemp(prefix="ragrec-hnsw-"))
    hnsw = EdgeStore(work, hnsw=True)
    try:
        hnsw.create_collection("items-g1", {"content": 384})
        hnsw.set_alias("items", "items-g1")
        hnsw.create_payload_index("items", "genres", "keyword")
        batch = []
        for r in source.scroll("items", vectors=True):
            batch.append(PointIn(id=r.id, vectors=r.vectors, payload=r.payload))
            if len(batch) == 1000:
                hnsw.upsert("items", batch)
                batch = []
        hnsw.upsert("items", batch)
        t = time.perf_counter()
        hnsw.optimize("items")
        build = time.perf_counter() - t
        recalls, recalls_f = [], []
        comedy = Filter(must=[Match(key="genres", value="Comedy")])
        for v in queries:
            exact = {h.id for h in source.query("items", Nearest(using="content", vector=v), limit=50, payload=False)}
            approx = {h.id for h in hnsw.query("items", Nearest(using="content", vector=v), limit=50, payload=False)}
            recalls.append(len(exact & approx) / 50)
            exact = {h.id for h in source.query("items", Nearest(using="content", vector=v), limit=50, filter=comedy, payload=False)}
            approx = {h.id for h in hnsw.query("items", Nearest(using="content", vector=v), limit=50, filter=comedy, payload=False)}
            recalls_f.append(len(exact & approx) / max(1, len(exact)))
        lat = timed(lambda i: hnsw.query("items", Nearest(using="content", vector=queries[i % len(queries)]), limit=50), 300)
        lat_f = timed(lambda i: hnsw.query("items", Nearest(using="content", vector=queries[i % len(queries)]), limit=50,
                                           filter=comedy), 300)
        return {"build_s": build, "recall": float(np.mean(recalls)), "recall_filter": float(np.mean(recalls_f)),
                "latency": pct(lat), "latency_filter": pct(lat_f)}
    finally:
        hnsw.close()
        source.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    print("| items | engine | feedback p50/p99 ms | recommend k=50 p50/p99 ms | with filter | store query p50/p99 ms | store query + filter |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for rows in (9742, args.rows):
        r = bench_catalog(rows, args.queries)
        results[rows] = r
        print(f"| {r['rows']:,} | Qdrant Edge, plain segment (exact) | {r['feedback']} | {r['recommend']} | "
              f"{r['recommend_filter']} | {r['store']} | {r['store_filter']} |", flush=True)
    h = bench_hnsw(args.rows, results[args.rows]["vectors"])
    print(f"\nHNSW (m=16, ef_construct=100 defaults) on {args.rows:,} real MiniLM vectors: build {h['build_s']:.1f}s, "
          f"recall@50 vs exact {h['recall']:.3f} (with genre filter {h['recall_filter']:.3f}), "
          f"query p50/p99 {h['latency']} ms (filtered {h['latency_filter']} ms)")


if __name__ == "__main__":
    main()
