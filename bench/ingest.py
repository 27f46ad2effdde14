"""Ingestion benchmark: end-to-end items/s against the embedder's own items/s, re-ingestion, raw upserts.

    python -m bench.ingest [--rows 100000] [--engines edge,client] [--skip-embed-100k]

Writes nothing but stdout (a Markdown table); bench/RESULTS.md keeps the numbers with the machine and date.
Medians of repeats where a run is short; one run where it takes minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient

from ragrec.config import Settings
from ragrec.demo import DEMO_CATALOG, demo_options
from ragrec.embedding import get_embedder
from ragrec.ingestion import ingest
from ragrec.ingestion.rows import RowRules, to_doc
from ragrec.store import PointIn, open_store, point_id
from ragrec.store.server import ServerStore

ADJECTIVES = ["Lost", "Final", "Secret", "Last", "Dark", "Golden", "Silent", "Broken", "Hidden", "Wild", "Red", "Long"]


def synthetic_catalog(path: Path, rows: int, seed: int = 7) -> Path:
    """`rows` movie-like rows recombined from the demo catalog: real vocabulary and text lengths, unique ids."""
    movies = [json.loads(line) for line in open(DEMO_CATALOG, encoding="utf-8")]
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["movieId", "title", "year", "genres", "tags"])
        for i in range(rows):
            m, other = rng.choice(movies), rng.choice(movies)
            title = f"{rng.choice(ADJECTIVES)} {m['title']} {rng.randint(2, 9)}"
            w.writerow([i + 1, title, m["year"] or "", "|".join(m["genres"]), "|".join(m["tags"] + other["tags"][:2])])
    return path


def open_engine(engine: str, data_dir: Path):
    """Qdrant Edge as ragrec opens it by default (HNSW built after the load), or qdrant-client's local mode."""
    if engine == "edge":
        return open_store(Settings(data_dir=data_dir))
    return ServerStore(client=QdrantClient(path=str(data_dir / "local")))


def texts_of(path: Path, options, limit: int | None = None) -> list[str]:
    from ragrec.io import detect_format, open_rows

    rules = RowRules(id_field=options.id_field, text_fields=options.text_fields, payload_fields=options.payload_fields)
    rows, _ = open_rows(path, detect_format(path, None), [options.id_field])
    out = []
    for raw in rows:
        doc = to_doc(raw.line, raw.data, rules)
        out.append(doc.text)
        if limit and len(out) >= limit:
            break
    return out


def embedder_rate(texts: list[str], repeats: int = 3) -> float:
    """items/s of the embedder over `texts` in one encode call (sentence-transformers sorts them by length)."""
    embedder = get_embedder(Settings())
    embedder.embed(texts[:64])  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        embedder.embed(texts)
        times.append(time.perf_counter() - t)
    return len(texts) / statistics.median(times)


def end_to_end(path: Path, engine: str, options, repeats_reingest: int = 3) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="ragrec-bench-"))
    settings = Settings(data_dir=tmp)
    store = open_engine(engine, tmp)
    try:
        first = ingest(path, options, settings=settings, store=store, embedder=get_embedder(settings))
        again = []
        for _ in range(repeats_reingest):
            r = ingest(path, options, settings=settings, store=store, embedder=get_embedder(settings))
            assert r.upserted == 0 and r.unchanged == first.upserted
            again.append(r.read / r.seconds)
        return {"rows": first.read, "ingest_items_s": first.items_per_second, "ingest_s": first.seconds,
                "reingest_rows_s": statistics.median(again)}
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def unit_vectors(n: int, dim: int = 384) -> np.ndarray:
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def raw_upsert(engine: str, n: int, dim: int = 384, batch: int = 256) -> float:
    """Seconds to upsert n precomputed unit vectors with a small payload, in ingestion-sized batches."""
    vectors = unit_vectors(n, dim)
    tmp = Path(tempfile.mkdtemp(prefix="ragrec-bench-"))
    store = open_engine(engine, tmp)
    try:
        store.create_collection("items-g1", {"content": dim})
        t = time.perf_counter()
        for start in range(0, n, batch):
            store.upsert("items-g1", [
                PointIn(id=point_id(str(i)), vectors={"content": vectors[i]},
                        payload={"item_id": str(i), "year": 1900 + i % 120, "genres": ["Drama"]})
                for i in range(start, min(n, start + batch))
            ])
        store.flush("items-g1")
        return time.perf_counter() - t
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def bare_upsert(n: int, dim: int = 384, batch: int = 256) -> float:
    """The same upserts straight through the qdrant-edge binding, vectors converted to lists beforehand: the floor
    that ragrec's path (typed points, numpy to list, ids) is compared with."""
    import qdrant_edge as qe

    lists = unit_vectors(n, dim).tolist()
    tmp = Path(tempfile.mkdtemp(prefix="ragrec-bench-"))
    shard = qe.EdgeShard.create(str(tmp / "shard"), qe.EdgeConfig(
        vectors={"content": qe.EdgeVectorParams(size=dim, distance=qe.Distance.Dot)}))
    try:
        t = time.perf_counter()
        for start in range(0, n, batch):
            shard.update(qe.UpdateOperation.upsert_points([
                qe.Point(id=point_id(str(i)), vector={"content": lists[i]},
                         payload={"item_id": str(i), "year": 1900 + i % 120, "genres": ["Drama"]})
                for i in range(start, min(n, start + batch))
            ]))
        shard.flush()
        return time.perf_counter() - t
    finally:
        shard.close()
        shutil.rmtree(tmp, ignore_errors=True)


# One re-ingestion as `ragrec ingest` runs it: its own process, the shard opened cold, no embedder handed in.
_REINGEST = """
import json, sys
from pathlib import Path
from ragrec.config import Settings
from ragrec.demo import demo_options
from ragrec.ingestion import ingest
r = ingest(Path(sys.argv[1]), demo_options(format="csv"), settings=Settings(data_dir=Path(sys.argv[2])))
print(json.dumps(r.model_dump(mode="json")))
"""


def reingest_cached(rows: int, repeats: int = 5) -> list[tuple[float, float]] | None:
    """Re-ingest the unchanged synthetic catalog that bench/retrieval.py built into bench/.cache, each time in a
    fresh process; [(job rows/s, process wall seconds)]. A first run, not reported, brings the cache up to date."""
    data = Path(__file__).parent / ".cache" / f"edge-{rows}"
    path = Path(__file__).parent / ".cache" / f"synthetic-{rows}.csv"
    if not (data / "collections.json").exists() or not path.exists():
        return None
    results = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _REINGEST, str(path), str(data)], capture_output=True, text=True,
                              check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - t
        r = json.loads(done.stdout.strip().splitlines()[-1])
        assert r["upserted"] == 0, "the cached catalog changed"
        if i:
            assert r["unchanged"] == rows
            results.append((r["read"] / r["seconds"], wall))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engines", default="edge,client")
    parser.add_argument("--rounds", type=int, default=3, help="alternating embedder-alone / ingest runs on the demo")
    parser.add_argument("--skip-embed-100k", action="store_true", help="skip the long end-to-end run on --rows")
    parser.add_argument("--client-upsert-rows", type=int, default=20_000,
                        help="qdrant-client local mode is slow (~240 s per 100k): upsert fewer points there")
    parser.add_argument("--upserts-only", action="store_true", help="only the raw upsert comparison")
    parser.add_argument("--reingest-only", action="store_true", help="only the re-ingestion of the cached catalog")
    args = parser.parse_args()
    engines = args.engines.split(",")
    if args.upserts_only:
        upserts(args, engines)
        return
    if args.reingest_only:
        report_reingest(args.rows)
        return
    options = demo_options()
    synth_dir = tempfile.TemporaryDirectory(prefix="ragrec-bench-")  # removed at exit
    synth = synthetic_catalog(Path(synth_dir.name) / "synthetic.csv", args.rows)
    synth_options = demo_options(format="csv")

    # The embedder alone and the whole job alternate, so a busy spell on the shared machine hits both alike.
    demo_texts = texts_of(DEMO_CATALOG, options)
    get_embedder(Settings()).embed(demo_texts[:64])  # load and warm up
    rates, runs = [], {engine: [] for engine in engines}
    for _ in range(args.rounds):
        rates.append(embedder_rate(demo_texts, repeats=1))
        for engine in engines:
            runs[engine].append(end_to_end(DEMO_CATALOG, engine, options, repeats_reingest=1))
    rate = statistics.median(rates)
    print(f"embedder alone (torch fp32, all {len(demo_texts):,} demo texts in one call): {rate:,.0f} items/s "
          f"(median of {args.rounds}: {', '.join(f'{r:.0f}' for r in rates)})\n")

    print("| engine | catalog | rows | ingest items/s | vs embedder alone | re-ingest unchanged rows/s |")
    print("|---|---|---|---|---|---|")
    for engine in engines:
        ingest_rate = statistics.median(r["ingest_items_s"] for r in runs[engine])
        reingest = statistics.median(r["reingest_rows_s"] for r in runs[engine])
        print(f"| {engine} | demo | {runs[engine][0]['rows']:,} | {ingest_rate:,.0f} | {ingest_rate / rate:.0%} "
              f"| {reingest:,.0f} |", flush=True)
        if not args.skip_embed_100k:
            r = end_to_end(synth, engine, synth_options, repeats_reingest=1 if engine == "client" else 3)
            print(f"| {engine} | synthetic | {r['rows']:,} | {r['ingest_items_s']:,.0f} | "
                  f"{r['ingest_items_s'] / rate:.0%} | {r['reingest_rows_s']:,.0f} |", flush=True)

    report_reingest(args.rows)

    upserts(args, engines)


def report_reingest(rows: int) -> None:
    runs = reingest_cached(rows)
    if not runs:
        print(f"\nno bench/.cache/edge-{rows}: run `python -m bench.retrieval --rows {rows}` once to build it")
        return
    rates, walls = [r for r, _ in runs], [w for _, w in runs]
    print(f"\nre-ingest of the unchanged {rows:,}-row synthetic catalog (Qdrant Edge, bench/.cache, a fresh process "
          f"per run as `ragrec ingest`), median of {len(runs)}: {statistics.median(rates):,.0f} rows/s "
          f"({', '.join(f'{r:,.0f}' for r in rates)}); process wall time {statistics.median(walls):.1f} s")


def upserts(args, engines: list[str]) -> None:
    # ragrec's path and the bare binding alternate: the shared machine's speed drifts by tens of percent
    ours, bare = [], []
    for _ in range(3):
        ours.append(raw_upsert("edge", args.rows))
        bare.append(bare_upsert(args.rows))
    print(f"\nQdrant Edge, upsert {args.rows:,} precomputed vectors, median of 3 (s): ragrec "
          f"{statistics.median(ours):.1f} ({', '.join(f'{r:.1f}' for r in ours)}), bare qdrant-edge binding "
          f"{statistics.median(bare):.1f} ({', '.join(f'{r:.1f}' for r in bare)}), ratio "
          f"{statistics.median(o / b for o, b in zip(ours, bare)):.2f}")
    if "client" in engines:
        n = min(args.rows, args.client_upsert_rows)
        print(f"qdrant-client local mode, upsert {n:,} precomputed vectors: {raw_upsert('client', n):.1f} s", flush=True)


if __name__ == "__main__":
    main()
