"""`python -m ragrec.evaluation` (= `ragrec eval`): baselines and ragrec on two protocols, one report.

Options (the `ragrec eval` CLI mirrors them):
  --dataset DIR        MovieLens folder (ratings.csv, movies.csv, tags.csv)
  --out DIR            where eval-full.{md,json,png} (or eval-quick.*) go; default reports/
  --quick N            evaluate N users per protocol only, with one fixed point per method (CI)
  --sample first|random  which N users in quick mode (random: seeded by --seed)
  --seed S             seed of the random-holdout split and of the quick sample (default 0)
  --protocols LIST     comma-separated, default temporal,random
  --no-content         skip content vectors (no ILD, no content-last-item baseline, no model load)
  --no-ragrec          baselines only
  --no-baselines       ragrec only (e.g. with --rerank, to tune the rerank weight for another LLM)
  --data-dir DIR       parent of the run's fresh data dir (default: the system temp dir); every run ingests the
                       catalog into a new directory, so nothing of an earlier run is seen
  --keep-data-dir      keep that directory afterwards (it is removed by default)
  --rerank             also measure the generation stage on each protocol (adds its own time, ~5-10 min per
                       protocol for 50 users on 2 CPU cores): the LLM rerank of ragrec's top N with the fusion weight
                       chosen on validation, and the descriptions of each user's top 5; report eval-*-rerank.*
  --rerank-users N     the seeded sample of evaluated users --rerank measures (default 50)

Every method is tuned on each protocol's own validation phase; test numbers are computed only for the setting
chosen there. ragrec runs with its one configuration: the Settings defaults plus environment and `.env`, recorded
in the report.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ragrec.evaluation.baselines import EASE, ItemKNN, LastItemContent, Popularity, RandomScores
from ragrec.evaluation.content import content_vectors
from ragrec.evaluation.data import DEFAULT_DATASET, load_movielens
from ragrec.evaluation.generation import evaluate_generation, sample_users
from ragrec.evaluation.protocol import make_split
from ragrec.evaluation.report import write_report
from ragrec.evaluation.runner import Candidate, EvalConfig, EvalRun, EvalSuite, run, select_users
from ragrec.io import CatalogFileError

EASE_GRID = [50.0, 200.0, 500.0]  # each point is one ~15 s Cholesky inverse, shared by ease and ease-recency
KNN_GRID = [20, 50, 100, 200]
# EASE over a decayed history (its item-item matrices are cached from the plain EASE's grid)
EASE_RECENCY_GRID = [
    {"lam": lam, "half_life_events": h, "half_life_days": d}
    for lam in EASE_GRID for h in (1.0, 3.0, 10.0, 30.0) for d in (None, 30.0)
]
# quick mode: one fixed point per method (chosen by the full run), so quick runs no validation phase
QUICK = {"item-knn": {"neighbors": 20}, "ease": {"lam": 50.0},
         "ease-recency": {"lam": 50.0, "half_life_events": 3.0, "half_life_days": None}}
PROTOCOLS = ("temporal", "random")


def baseline_candidates(quick: bool = False, vectors: np.ndarray | None = None) -> list[Candidate]:
    """The harness's reference methods; quick mode uses one point per method."""
    def grid(name: str, full: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [QUICK[name]] if quick else full

    out = [
        Candidate(name="random", factory=RandomScores),
        Candidate(name="popularity", factory=Popularity),
        Candidate(name="item-knn", factory=ItemKNN, grid=grid("item-knn", [{"neighbors": n} for n in KNN_GRID])),
        Candidate(name="ease", factory=EASE, grid=grid("ease", [{"lam": lam} for lam in EASE_GRID])),
        Candidate(name="ease-recency", factory=EASE, grid=grid("ease-recency", EASE_RECENCY_GRID)),
    ]
    if vectors is not None:
        out.append(Candidate(name="content-last-item", factory=lambda: LastItemContent(vectors)))
    return out


def ragrec_candidate(data_dir: Path, grid: list[dict[str, Any]] | None = None, keep_fits: bool = False) -> Candidate:
    """ragrec's real path with its one configuration (the Settings); `grid` of Settings overrides for research;
    `keep_fits` (`--rerank`): its fits stay in the data dir for the generation phase."""
    from ragrec.evaluation.pipeline import RagrecPipeline

    return Candidate(name="ragrec", factory=lambda **p: RagrecPipeline(data_dir, keep_fits=keep_fits, **p),
                     grid=grid or [{}])


def effective_settings(data_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(every Settings field as ragrec's pipeline sees it, the fields that differ from the code defaults)."""
    from ragrec.config import Settings
    from ragrec.evaluation.pipeline import eval_settings

    current = eval_settings(data_dir).model_dump(mode="json")
    defaults = Settings.model_construct().model_dump(mode="json")
    for secret in ("qdrant_api_key",):
        if current.get(secret):
            current[secret] = "***"
    changed = {k: v for k, v in current.items() if k != "data_dir" and v != defaults.get(k)}
    return current, changed


def ragrec_per_user(run_result: EvalRun, users: np.ndarray) -> dict[int, dict[str, float]] | None:
    """ragrec's per-user test NDCG@10 and novelty@10 of the main run, by user index (rows follow `users`)."""
    rag = next((r for r in run_result.test if r.name == "ragrec"), None)
    if rag is None or not rag.per_user:
        return None
    keys = ("ndcg@10", "novelty@10")
    return {u: {k: rag.per_user[k][row] for k in keys} for row, u in enumerate(users.tolist())}


class EvalUsageError(ValueError):
    """A bad option: `python -m ragrec.evaluation` prints argparse's usage for it, `ragrec eval` one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise EvalUsageError(message)


def parser() -> argparse.ArgumentParser:
    """The harness's options (`ragrec eval` mirrors every one of them)."""
    ap = _Parser(prog="python -m ragrec.evaluation", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--quick", type=int, default=None, metavar="N", help="evaluate N users only (CI)")
    ap.add_argument("--sample", choices=["first", "random"], default="first")
    ap.add_argument("--seed", type=int, default=0, help="random-holdout split and quick sample")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated: temporal,random")
    ap.add_argument("--no-content", action="store_true", help="skip content vectors (no ILD, no model load)")
    ap.add_argument("--no-ragrec", action="store_true", help="baselines only")
    ap.add_argument("--no-baselines", action="store_true", help="ragrec only")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="parent of the run's fresh data dir (Qdrant Edge shards, event logs); default: temp dir")
    ap.add_argument("--keep-data-dir", action="store_true", help="do not remove the run's data dir afterwards")
    ap.add_argument("--rerank", action="store_true",
                    help="also measure the LLM rerank (weight tuned on validation) and the descriptions")
    ap.add_argument("--rerank-users", type=int, default=50, metavar="N",
                    help="the seeded sample of users --rerank measures (default 50)")
    return ap


def main(argv: list[str] | None = None) -> EvalSuite:
    ap = parser()
    args = ap.parse_args(argv)
    if args.no_ragrec and args.no_baselines:
        ap.error("--no-ragrec and --no-baselines leave nothing to evaluate")
    if args.rerank and args.no_ragrec:
        ap.error("--rerank measures ragrec's own lists: it cannot go with --no-ragrec")
    if args.rerank_users < 1:
        ap.error("--rerank-users must be at least 1")
    if args.rerank:
        from ragrec.config import Settings

        if Settings().llm == "none":
            ap.error("--rerank measures the LLM stage: RAGREC_LLM is none")
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown or not protocols:
        ap.error(f"unknown protocols {sorted(unknown)}; choose from {', '.join(PROTOCOLS)}")

    args.out.mkdir(parents=True, exist_ok=True)  # a report folder that cannot be written fails now, not in an hour
    if not os.access(args.out, os.W_OK):
        raise PermissionError(errno.EACCES, "cannot write the report here", str(args.out))
    started, t0 = datetime.now(UTC).isoformat(timespec="seconds"), time.perf_counter()
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="ragrec-eval-", dir=args.data_dir))
    try:
        dataset = load_movielens(args.dataset)
        splits = {p: make_split(dataset, p, args.seed) for p in protocols}
        if not any((split.test_item >= 0).any() for split in splits.values()):
            raise CatalogFileError(f"{args.dataset}: no user has the 3 ratings a protocol needs, nothing to evaluate")
        vectors = None if args.no_content else content_vectors(list(splits.values()))
        quick = args.quick is not None
        config = EvalConfig(quick_users=args.quick, quick_sample=args.sample, seed=args.seed,
                            validate_untuned=not quick)
        runs, generation = [], []
        for protocol in protocols:
            candidates = [] if args.no_baselines else baseline_candidates(quick, vectors)
            if not args.no_ragrec:
                candidates.append(ragrec_candidate(data_dir, keep_fits=args.rerank))
            split = splits.pop(protocol)  # dropped after this protocol: frees its EASE cache
            runs.append(run(candidates, split, config, vectors))
            if args.rerank:
                users = select_users(split, config)
                generation.append(evaluate_generation(
                    data_dir, split, sample_users(users, args.rerank_users, args.seed), seed=args.seed,
                    reference=ragrec_per_user(runs[-1], users)))
            del split
        settings, changed = effective_settings(data_dir)
        suite = EvalSuite(runs=runs, settings=settings, settings_changed=changed, started_at=started,
                          runtime_seconds=time.perf_counter() - t0, generation=generation)
    finally:
        if args.keep_data_dir:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    stem = ("eval-quick" if quick else "eval-full") + ("-rerank" if args.rerank else "")
    for kind, path in write_report(suite, args.out, stem).items():
        print(f"{kind}: {path}")
    return suite


if __name__ == "__main__":
    try:
        main()
    except EvalUsageError as exc:
        argparse.ArgumentParser.error(parser(), str(exc))  # usage and the message, exit 2
