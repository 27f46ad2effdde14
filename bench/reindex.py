"""Reindex at scale: `Recommender.reindex()` over many users, timed stage by stage.

    python -m bench.reindex [--users 100000]

Users are real MovieLens ml-latest-small users resampled with replacement (each synthetic user gets one real
user's ratings: items, values and times), over the bundled demo catalog (the same movies), so the event log has
the real data's shape at `--users` users: 100k users are ~16.5M rating events. The event log is SQLite; the
catalog is a copy of bench/retrieval.py's cached HNSW ingest of the demo catalog. The loaded data dir is kept in
bench/.cache/reindex-<users> (2.5 GB at 100k users) and each run reindexes a fresh copy of it. Prints the time to
load the events (first run) and the reindex's stages; the stage times are cumulative wall time inside each function.
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import ragrec.retrieval.collab as collab_module
import ragrec.retrieval.reindex as reindex_module
from ragrec.config import Settings
from ragrec.evaluation.data import DEFAULT_DATASET
from ragrec.events.models import Event
from ragrec.recommender import Recommender
from ragrec.store.edge import EdgeStore

RATINGS = DEFAULT_DATASET / "ratings.csv"
CATALOG = Path(__file__).parent / ".cache" / "edge-9742-hnsw-m16-efc100-int8"


def real_users() -> list[list[tuple[str, float, datetime]]]:
    by_user: dict[str, list] = defaultdict(list)
    with RATINGS.open(newline="") as f:
        for row in csv.DictReader(f):
            by_user[row["userId"]].append((row["movieId"], float(row["rating"]),
                                           datetime.fromtimestamp(int(row["timestamp"]), timezone.utc)))
    return list(by_user.values())


def load_events(rec: Recommender, users: int, seed: int = 0) -> int:
    """`users` synthetic users, appended 500 users per transaction; returns the events stored."""
    source = real_users()
    picks = np.random.default_rng(seed).integers(0, len(source), size=users)
    stored, batch = 0, []
    for n, pick in enumerate(picks):
        batch += [Event(event_id=f"s{n}-{i}", user_id=f"s{n}", item_id=item, type="rating", value=value, timestamp=ts)
                  for i, (item, value, ts) in enumerate(source[pick])]
        if (n + 1) % 500 == 0 or n + 1 == users:
            stored += len(rec.log.append(batch, known_items=set).accepted)
            batch = []
    return stored


class Stages:
    """Cumulative wall time inside named functions (wrapped for the run, measurement only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started

        setattr(owner, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    args = ap.parse_args()
    if not RATINGS.exists():
        raise SystemExit(f"the MovieLens ratings are not at {RATINGS} (see ../shared/datasets/README)")
    if not (CATALOG / "collections.json").exists():
        raise SystemExit(f"no cached catalog at {CATALOG}: run `python -m bench.retrieval --sizes 9742` once")
    loaded = CATALOG.parent / f"reindex-{args.users}"
    if not (loaded / "ready").exists():
        shutil.rmtree(loaded, ignore_errors=True)
        shutil.copytree(CATALOG, loaded / "data")
        with Recommender(Settings(data_dir=loaded / "data", llm="none")) as rec:
            started = time.perf_counter()
            events = load_events(rec, args.users)
            load_seconds = time.perf_counter() - started
        print(f"loaded {events:,} events of {args.users:,} users in {load_seconds:.0f} s "
              f"({events / load_seconds:,.0f} events/s)", flush=True)
        (loaded / "ready").write_text("ok")
    work = Path(tempfile.mkdtemp(prefix="ragrec-bench-reindex-"))
    try:
        shutil.copytree(loaded / "data", work / "data")
        rec = Recommender(Settings(data_dir=work / "data", llm="none"))

        stages = Stages()
        for name in ("refresh_popularity", "train_item_factors", "store_item_factors", "item_vectors",
                     "build_profiles", "apply_events"):
            stages.wrap(reindex_module, name, name)
        stages.wrap(collab_module, "_als_item_factors", "ALS training (inside train_item_factors)")
        stages.wrap(EdgeStore, "optimize", "optimize (index builds)")
        stages.wrap(type(rec.profiles), "save", "profiles.save (Qdrant writes)")
        report = rec.reindex()
        print(f"reindex: {report.users:,} users, {report.events:,} events, {report.collab_items:,} collab items "
              f"in {report.seconds:.0f} s ({report.seconds / 60:.1f} min); ALS incl. its event scan "
              f"{report.collab_seconds:.0f} s")
        for label, seconds in sorted(stages.seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {label:32s} {seconds:7.1f} s")
        rest = report.seconds - sum(s for label, s in stages.seconds.items() if "inside" not in label)
        print(f"  {'the rest (event log scan, checks)':32s} {rest:7.1f} s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
        print(f"peak memory (RSS) {peak:.1f} GiB; event log {sum(f.stat().st_size for f in (work / 'data').glob('events.db*')) / 1e9:.1f} GB")
        rec.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
