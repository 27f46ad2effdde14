"""Retrieval benchmark: `recommend()` on the default hybrid path (after a reindex trained collab vectors) for users
with 20, 500 and 3,000 events, feedback latency and the bare store query, at 10k and 100k items, HNSW (the
default) against exact search; HNSW recall@50 for a sweep of the query beam ef; and, with --index-sweep, the
choice of index parameters (m, ef_construct, int8).

    python -m bench.retrieval [--rows 100000] [--queries 300] [--index-sweep]

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
from ragrec.retrieval.models import RecommendRequest
from ragrec.schema import COLLAB_SLOTS
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
        vectors = {"content": meta["dim"], **{slot: meta["collab_dim"] for slot in COLLAB_SLOTS}}
        target.create_collection("items-g1", vectors, metadata=meta)
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


GROUPS = {"20 events": 20, "500 events": 500, "3,000 events": 3000}
USERS_PER_GROUP = 30


def synthetic_events(ids: list[str], seed: int = 3) -> list[Event]:
    """2,000 background users with 50 events each (so ALS learns something), and 30 users per history length of
    GROUPS. Item choice is Zipf-skewed (a few items are popular) within a user's own slice of the catalog (taste)."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    weights = 1.0 / np.arange(1, len(ids) + 1) ** 0.8
    users = [(f"bg{u}", 50) for u in range(2000)]
    users += [(f"{label.split()[0].replace(',', '')}-{u}", n) for label, n in GROUPS.items() for u in range(USERS_PER_GROUP)]
    events = []
    for user, n in users:
        start = rng.integers(len(ids))
        window = np.arange(start, start + 5000) % len(ids)  # the user's taste: one slice of the catalog
        p = weights[window] / weights[window].sum()
        picks = rng.choice(window, size=n, p=p)
        types = rng.choice(["like", "view", "click", "dislike"], size=n, p=[0.5, 0.3, 0.15, 0.05])
        events += [Event(event_id=f"{user}-{i}", user_id=user, item_id=ids[j], type=t,
                         timestamp=t0 + timedelta(minutes=i)) for i, (j, t) in enumerate(zip(picks, types))]
    return events


def bench_catalog(settings: Settings, queries: int) -> dict:
    """Feedback, recommend() per history length on the hybrid path, and the bare store query, on a private copy
    of the catalog in the store `settings` open (HNSW or exact)."""
    store = open_store(settings)
    work = Path(tempfile.mkdtemp(prefix="ragrec-bench-"))
    store.clone_collection("items", "items-bench-g1")
    store.set_alias("items-bench", "items-bench-g1")
    settings = settings.model_copy(update={"users_collection": "users-bench", "items_collection": "items-bench",
                                           "events_url": f"sqlite:///{work}/events.db"})
    log = EventLog(settings.events_url)
    rec = Recommender(settings, store=store, log=log, embedder=get_embedder(settings)).warm(llm=False)
    try:
        ids = [r.payload["item_id"] for r in store.scroll("items-bench", payload=["item_id"])]
        log.append(synthetic_events(ids), known_items=set)
        t = time.perf_counter()
        report = rec.reindex()
        print(f"(reindex of {report.users:,} users, {report.events:,} events, {report.collab_items:,} collab items: "
              f"{time.perf_counter() - t:.0f} s)", flush=True)
        rng = random.Random(1)
        out = {"rows": len(ids)}
        for label in GROUPS:
            users = [f"{label.split()[0].replace(',', '')}-{u}" for u in range(USERS_PER_GROUP)]
            assert rec.recommend(RecommendRequest(user_id=users[0], k=50)).items[0].path == "hybrid"
            out[label] = pct(timed(lambda i: rec.recommend(RecommendRequest(user_id=users[i % len(users)], k=50)),
                                   queries))
        background = [f"bg{u}" for u in range(200)]
        out["recommend_filter"] = pct(timed(lambda i: rec.recommend(RecommendRequest(
            user_id=background[i % 200], k=50, filters=["genres=Comedy"])), queries))
        out["feedback"] = pct(timed(lambda i: rec.record_feedback([Event(
            user_id=background[i % 200], item_id=rng.choice(ids), type=rng.choice(["click", "like", "dislike"]))]),
            queries))
        vectors = [rec.user(u).profile.vector("content").tolist() for u in background]
        out["store"] = pct(timed(lambda i: store.query("items-bench", Nearest(using="content", vector=vectors[i % 200]),
                                                       limit=50), queries))
        out["store_filter"] = pct(timed(lambda i: store.query("items-bench", Nearest(
            using="content", vector=vectors[i % 200]), limit=50, filter=COMEDY), queries))
        out["vectors"] = {"recency-weighted users": vectors}
        return out
    finally:
        for name in ("users-bench", "items-bench"):
            if store.resolve(name):
                store.drop_collection(name)
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


INDEXES = [(16, 100, "none"), (16, 256, "none"), (32, 256, "none"), (16, 100, "int8")]  # (m, ef_construct, quantization)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--sizes", default=None, help="catalog sizes to bench, comma-separated [9742,ROWS]")
    parser.add_argument("--no-exact", action="store_true", help="skip exact search (plain segments)")
    parser.add_argument("--index-sweep", action="store_true",
                        help="also build each index of INDEXES at --rows and sweep ef (the index choice)")
    args = parser.parse_args()
    defaults = Settings()
    print("recommend() k=50 on the hybrid path (after reindex), p50 / p99 ms, by the user's history length:\n")
    print("| items | index | " + " | ".join(GROUPS) + " | with a genre filter | feedback | store query "
          "| store query + filter |")
    print("|---|---|" + "---|" * (len(GROUPS) + 4))
    queries, indexed = {}, {}
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else [9742, args.rows]
    for rows in sizes:
        exact = catalog_store(rows)
        indexed[rows], build = hnsw_store(rows, defaults)
        if build is not None:
            print(f"(HNSW m={defaults.hnsw_m}, ef_construct={defaults.hnsw_ef_construct} built over {rows:,} items "
                  f"in {build:.1f} s)", flush=True)
        runs = [(f"HNSW ef={defaults.hnsw_ef} (default)", Settings(data_dir=indexed[rows]))]
        if not args.no_exact:
            runs.append(("exact (plain segment)", Settings(data_dir=exact, hnsw=False)))
        for label, settings in runs:
            r = bench_catalog(settings, args.queries)
            queries = r["vectors"]
            print(f"| {r['rows']:,} | {label} | " + " | ".join(r[g] for g in GROUPS) +
                  f" | {r['recommend_filter']} | {r['feedback']} | {r['store']} | {r['store_filter']} |", flush=True)
    sweeps = [(defaults.hnsw_m, defaults.hnsw_ef_construct, defaults.quantization)]
    if args.index_sweep:
        sweeps = INDEXES
    for m, efc, quantization in sweeps:
        settings = Settings(hnsw_m=m, hnsw_ef_construct=efc, quantization=quantization)
        data, build = hnsw_store(args.rows, settings)
        print(f"\nrecall@50 of HNSW (m={m}, ef_construct={efc}, quantization {quantization}, oversampling "
              f"{settings.quantization_oversampling}{f', built in {build:.0f} s' if build else ''}) against exact "
              f"search at {args.rows:,} items, 200 user vectors each:\n")
        print("| user vectors | ef | recall@50 | with genre filter | query p50/p99 ms | filtered p50/p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind, vectors in queries.items():
            for r in recall_sweep(catalog_store(args.rows), data, settings, vectors):
                print(f"| {kind} | {r['ef']} | {r['recall']:.3f} | {r['recall_filter']:.3f} | {r['latency']} | "
                      f"{r['latency_filter']} |", flush=True)


if __name__ == "__main__":
    main()
