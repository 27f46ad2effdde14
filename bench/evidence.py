"""How related is the "because you liked" evidence to the item it explains? Real MovieLens users, ragrec's own path.

    python bench/evidence.py --data-dir D [--users 30] [--k 10] [--ratings ratings.csv]

D holds the demo catalog with ml-latest-small's ratings loaded and reindexed (README, Benchmarks). For a seeded
sample of users, each item of their top k and its evidence items are judged by two signals the evidence does not
read: a shared genre, and the co-like lift from the ratings file, P(liked both) / (P(liked A)·P(liked B)) with
"liked" = rated ≥ 4 (> 1: liked together more often than chance). "chance" is every pair of a listed item and
one of the user's evidence history items, i.e. what picking at random would give. It is a file rather than a module
so that `PYTHONPATH=<another checkout> python bench/evidence.py` measures that checkout's code (before / after).
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

from ragrec.config import Settings
from ragrec.recommender import Recommender
from ragrec.retrieval.models import RecommendRequest
from ragrec.schema import ITEM_ID

RATINGS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "movielens-latest-small" / "ratings.csv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--ratings", type=Path, default=RATINGS)
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-hybrid", action="store_true", help="the content path (as before the first reindex)")
    args = ap.parse_args()

    likers: dict[str, set[str]] = defaultdict(set)
    with open(args.ratings, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if float(row["rating"]) >= 4:
                likers[row["movieId"]].add(row["userId"])
    n_users = len({u for s in likers.values() for u in s})

    def lift(a: str, b: str) -> float:
        la, lb = likers.get(a, set()), likers.get(b, set())
        return len(la & lb) * n_users / (len(la) * len(lb)) if la and lb else 0.0

    settings = Settings(data_dir=args.data_dir, llm="none", hybrid=not args.no_hybrid)
    with Recommender(settings) as rec:
        genres = {r.payload[ITEM_ID]: set(r.payload.get("genres") or []) - {"(no genres listed)"}
                  for r in rec.store.scroll(settings.items_collection, payload=[ITEM_ID, "genres"])}
        users = random.Random(args.seed).sample(sorted({u for s in likers.values() for u in s}), args.users)
        items = pairs = shown = shared = lifted = chance = chance_shared = chance_lifted = 0
        lifts, ms = [], []
        for user in users:
            t0 = time.perf_counter()
            history, result = rec.retrieve(RecommendRequest(user_id=user, k=args.k))
            ms.append((time.perf_counter() - t0) * 1000)
            for c in result.items:
                items += 1
                liked = [e.item_id for e in c.evidence if e.kind == "liked"]
                shown += bool(liked)
                for h in liked:
                    pairs += 1
                    shared += bool(genres.get(c.item_id, set()) & genres.get(h, set()))
                    lifts.append(lift(c.item_id, h))
                    lifted += lifts[-1] > 1
                for h in history.items:
                    chance += 1
                    chance_shared += bool(genres.get(c.item_id, set()) & genres.get(h.item_id, set()))
                    chance_lifted += lift(c.item_id, h.item_id) > 1
    print(f"{len(users)} users, top {args.k}, path {'content' if args.no_hybrid else 'hybrid'}; "
          f"retrieve() median {statistics.median(ms):.1f} ms")
    print(f"items with evidence   {shown / items:.2f} ({shown}/{items}), evidence pairs {pairs}")
    print(f"shares a genre        {shared / max(pairs, 1):.3f}   (chance {chance_shared / chance:.3f})")
    print(f"co-like lift > 1      {lifted / max(pairs, 1):.3f}   (chance {chance_lifted / chance:.3f})")
    print(f"median co-like lift   {statistics.median(lifts) if lifts else 0:.2f}")


if __name__ == "__main__":
    main()
