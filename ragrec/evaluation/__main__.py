"""`python -m ragrec.evaluation [--quick N] [--dataset DIR] [--out reports/]`: baselines + report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ragrec.evaluation.baselines import EASE, ItemKNN, Popularity, RandomScores
from ragrec.evaluation.content import content_vectors
from ragrec.evaluation.data import DEFAULT_DATASET, load_movielens
from ragrec.evaluation.protocol import temporal_split
from ragrec.evaluation.report import write_report
from ragrec.evaluation.runner import Candidate, EvalConfig, run

EASE_GRID = [20.0, 50.0, 200.0, 500.0]  # each point is one ~20 s Cholesky inverse
KNN_GRID = [20, 50, 100, 200]


def baseline_candidates(quick: bool = False) -> list[Candidate]:
    """The harness's reference methods; quick mode tunes over fewer points."""
    return [
        Candidate(name="random", factory=RandomScores),
        Candidate(name="popularity", factory=Popularity),
        Candidate(name="item-knn", factory=ItemKNN, grid=[{"neighbors": n} for n in ([100] if quick else KNN_GRID)]),
        Candidate(name="ease", factory=EASE, grid=[{"lam": lam} for lam in ([50.0] if quick else EASE_GRID)]),
    ]


# ragrec's own pipeline, tuned on validation like the baselines (each point: load events, reindex, 610 queries)
RAGREC_GRID = [{"half_life_events": h, "blend_content": c} for h in (1.0, 3.0) for c in (0.1, 0.2)]


def ragrec_candidate(data_dir: Path, quick: bool = False) -> Candidate:
    from ragrec.evaluation.pipeline import RagrecPipeline

    grid = [{}] if quick else RAGREC_GRID  # quick: the Settings defaults (tuned by the full run)
    return Candidate(name="ragrec", factory=lambda **p: RagrecPipeline(data_dir, **p), grid=grid)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ragrec.evaluation", description=__doc__)
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--quick", type=int, default=None, metavar="N", help="evaluate N users only (CI)")
    ap.add_argument("--sample", choices=["first", "random"], default="first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-content", action="store_true", help="skip content vectors (no ILD, no model load)")
    ap.add_argument("--no-ragrec", action="store_true", help="baselines only")
    ap.add_argument("--data-dir", type=Path, default=Path(".ragrec") / "eval",
                    help="where ragrec's pipeline keeps its Qdrant Edge shards and event logs")
    args = ap.parse_args(argv)

    split = temporal_split(load_movielens(args.dataset))
    vectors = None if args.no_content else content_vectors(split)
    config = EvalConfig(quick_users=args.quick, quick_sample=args.sample, seed=args.seed)
    candidates = baseline_candidates(quick=args.quick is not None)
    if not args.no_ragrec:
        candidates.append(ragrec_candidate(args.data_dir, quick=args.quick is not None))
    result = run(candidates, split, config, vectors)
    stem = "eval-quick" if args.quick else "eval-full"
    for kind, path in write_report(result, args.out, stem).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
