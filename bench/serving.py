"""Serving while the catalog changes: `recommend()` latency from client threads of one process while, in the same
process and on the same store, new items are ingested and the index is rebuilt.

    python -m bench.serving [--rows 100000] [--new 10000] [--clients 2] [--skip-ingest]

Scenarios, each on a fresh copy of the cached HNSW catalog of bench/retrieval.py (with a reindex, so users get the
hybrid path): idle; a real `ingest()` job of --new items (embedding, upserts, index build and swap); --new
pre-embedded points upserted then `optimize()` (the store path alone); and, for contrast, the same upserts with the
binding's own `optimize()` called in-process, as ragrec did before its index builds moved to a child process.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.ingest import synthetic_catalog
from bench.retrieval import CACHE, hnsw_store, synthetic_events
from ragrec.config import Settings
from ragrec.demo import demo_options
from ragrec.embedding import get_embedder
from ragrec.events.log import EventLog
from ragrec.ingestion import ingest
from ragrec.recommender import Recommender
from ragrec.retrieval.models import RecommendRequest
from ragrec.store import PointIn, point_id


def serve_during(rec: Recommender, users: list[str], clients: int, work) -> dict:
    """Run `work()` while `clients` threads call recommend() in a loop; latencies of the calls made meanwhile."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        i = n
        while not stop.is_set():
            started = time.perf_counter()
            try:
                result = rec.recommend(RecommendRequest(user_id=users[i % len(users)], k=10))
                if len(result.items) != 10:
                    errors.append(f"{len(result.items)} items")
            except Exception as exc:  # noqa: BLE001 - counted, the point of the bench
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - started)
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    try:
        work()
    finally:
        stop.set()
        for t in threads:
            t.join()
    ms = np.asarray(latencies) * 1000
    return {"seconds": time.perf_counter() - started, "requests": len(ms), "errors": len(errors),
            "p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
            "first_error": errors[0] if errors else ""}


def fresh_copy(source: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix="ragrec-serving-"))
    shutil.copytree(source, work / "data")
    return work


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--skip-ingest", action="store_true", help="skip the scenario that embeds --new items")
    args = parser.parse_args()
    source, _ = hnsw_store(args.rows, Settings())
    embedder = get_embedder(Settings())
    new_rows = synthetic_catalog(CACHE / f"synthetic-new-{args.new}.csv", args.new, seed=11)
    new_vectors = None
    rows = []
    scenarios = ["idle", "ingest job", "upserts + optimize()", "upserts + in-process optimize (before)"]
    if args.skip_ingest:
        scenarios.remove("ingest job")
    for scenario in scenarios:
        work = fresh_copy(source)
        settings = Settings(data_dir=work / "data", events_url=f"sqlite:///{work}/events.db")
        log = EventLog(settings.events_url)
        rec = Recommender(settings, log=log, embedder=embedder).warm(llm=False)
        try:
            ids = [r.payload["item_id"] for r in rec.store.scroll("items", payload=["item_id"])]
            log.append(synthetic_events(ids), known_items=set)
            rec.reindex()
            users = [f"bg{u}" for u in range(300)]

            def upserts() -> None:
                nonlocal new_vectors
                if new_vectors is None:
                    texts = [f"title: new item {i}" for i in range(args.new)]
                    new_vectors = embedder.embed(texts)
                for s in range(0, args.new, 1000):
                    rec.store.upsert("items", [PointIn(id=point_id(f"new-{i}"), vectors={"content": new_vectors[i]},
                                                       payload={"item_id": f"new-{i}"})
                                               for i in range(s, min(args.new, s + 1000))])

            if scenario == "idle":
                def work_fn():
                    time.sleep(args.idle_seconds)
            elif scenario == "ingest job":
                def work_fn():
                    ingest(new_rows, demo_options(format="csv"), settings=settings, store=rec.store, embedder=embedder)
            elif scenario == "upserts + optimize()":
                if new_vectors is None:
                    upserts()  # embed once, outside the timed part
                    rec.store.delete("items", [point_id(f"new-{i}") for i in range(args.new)])

                def work_fn():
                    upserts()
                    rec.store.optimize("items")
            else:
                def work_fn():
                    upserts()
                    with rec.store._using("items") as shard:  # what ragrec did before: the binding's optimize here
                        shard.optimize()

            result = serve_during(rec, users, args.clients, work_fn)
            rows.append((scenario, result))
            print(f"| {scenario} | {result['seconds']:.0f} | {result['requests']:,} | {result['errors']} | "
                  f"{result['p50']:.1f} | {result['p99']:.1f} | {result['max']:.0f} |", flush=True)
        finally:
            rec.close()
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.clients} client threads calling recommend(k=10) on the hybrid path, {args.rows:,} items, "
          f"{args.new:,} new items:\n")
    print("| while | seconds | requests | errors | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for scenario, r in rows:
        print(f"| {scenario} | {r['seconds']:.0f} | {r['requests']:,} | {r['errors']} | {r['p50']:.1f} | "
              f"{r['p99']:.1f} | {r['max']:.0f} |")


if __name__ == "__main__":
    main()
