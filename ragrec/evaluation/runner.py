"""Evaluate methods on a protocol's split: tune on validation, report on test (for the chosen setting only).

Every method ends up as an (n_users, 100) matrix of ranked item indices, so the fast path (dense scores) and the
generic path (`recommend` with raw ids) are measured by exactly the same code.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from ragrec.evaluation import metrics as M
from ragrec.evaluation.generation import GenerationRun
from ragrec.evaluation.method import Recommender, ScoringMethod
from ragrec.evaluation.protocol import Interactions, Phase, Split

MAX_K = 100
PER_USER = ("ndcg@10", "hr@10", "recall@50", "recall@100", "ild@10", "novelty@10")


class Stat(BaseModel):
    mean: float
    se: float | None = Field(None, description="standard error of the per-user mean; None for set metrics")


class MethodResult(BaseModel):
    name: str
    phase: Literal["validation", "test"]
    params: dict[str, Any] = {}
    metrics: dict[str, Stat]
    n_users: int
    fit_seconds: float
    eval_seconds: float
    notes: list[str] = []
    per_user: dict[str, list[float]] = Field(
        default_factory=dict, exclude=True, description="per-user values (same user order for every method), "
        "kept in memory for paired differences in the report, not written to JSON")


class EvalConfig(BaseModel):
    quick_users: int | None = Field(None, description="evaluate only this many users (CI); None = all")
    quick_sample: Literal["first", "random"] = "first"
    seed: int = 0
    batch_size: int = 256
    tune_metric: str = "ndcg@10"
    validate_untuned: bool = Field(
        True, description="also run the validation phase of methods with a single grid point (nothing to choose); "
        "quick mode turns it off to save time")


def select_users(split: Split, config: EvalConfig) -> np.ndarray:
    """Evaluated user indices: all, the first N by userId, or a seeded sample of N."""
    users = split.eval_users()
    if config.quick_users is None or config.quick_users >= len(users):
        return users
    if config.quick_sample == "first":
        return users[: config.quick_users]
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(users, size=config.quick_users, replace=False))


def _stat(values: np.ndarray) -> Stat:
    v = values[~np.isnan(values)]
    if v.size == 0:
        return Stat(mean=float("nan"), se=None)
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else None
    return Stat(mean=float(v.mean()), se=se)


def per_user_metrics(
    ranked: np.ndarray,
    split: Split,
    phase: Phase,
    users: np.ndarray,
    item_vectors: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every per-user metric of ranked lists (rows aligned with `users`)."""
    targets = split.targets(phase)[users]
    out = {
        "ndcg@10": M.ndcg_at_k(ranked, targets, 10),
        "hr@10": M.hit_rate_at_k(ranked, targets, 10),
        "recall@50": M.recall_at_k(ranked, targets, 50),
        "recall@100": M.recall_at_k(ranked, targets, 100),
        "novelty@10": M.novelty_at_k(ranked, split.fit_data(phase).item_counts(), 10),
    }
    if item_vectors is not None:
        out["ild@10"] = M.intra_list_diversity_at_k(ranked, item_vectors, 10)
    return out


def score_ranked(
    ranked: np.ndarray,
    split: Split,
    phase: Phase,
    users: np.ndarray,
    item_vectors: np.ndarray | None = None,
) -> dict[str, Stat]:
    """All metrics of ranked lists (rows aligned with `users`): per-user means with standard errors, coverage."""
    return summarize(per_user_metrics(ranked, split, phase, users, item_vectors), ranked, split.dataset.n_items)


def summarize(per_user: dict[str, np.ndarray], ranked: np.ndarray, n_items: int) -> dict[str, Stat]:
    out = {k: _stat(v) for k, v in per_user.items()}
    out["coverage@10"] = Stat(mean=M.catalog_coverage_at_k(ranked, n_items, 10))
    return out


def rank_scores(scores: np.ndarray, train: Interactions, users: np.ndarray, k: int = MAX_K) -> np.ndarray:
    """Top k of a dense score block after removing each user's fit-data items."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    for row, u in enumerate(users):
        scores[row, train.history(int(u))[0]] = -np.inf
    return M.top_k(scores, k)


def rank_method(
    method: Recommender | ScoringMethod, train: Interactions, users: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, list[str]]:
    """Ranked item indices (n_users, MAX_K) from a fitted method, via its fast path if it has one."""
    if hasattr(method, "score"):
        blocks = [
            rank_scores(method.score(users[i : i + batch_size]), train, users[i : i + batch_size])
            for i in range(0, len(users), batch_size)
        ]
        return np.vstack(blocks) if blocks else np.zeros((0, MAX_K), dtype=np.int64), []
    ranked = np.full((len(users), MAX_K), -1, dtype=np.int64)
    bad_seen = bad_unknown = 0
    for row, u in enumerate(users):
        items, stamps = train.history(int(u))
        recs = method.recommend(
            int(train.user_ids[u]), train.item_ids[items].tolist(), stamps.tolist(), MAX_K
        )
        ids = np.asarray(list(recs)[:MAX_K], dtype=np.int64)
        idx = np.minimum(np.searchsorted(train.item_ids, ids), len(train.item_ids) - 1)
        known = train.item_ids[idx] == ids
        unseen = ~np.isin(idx, items)
        bad_unknown += int((~known).sum())
        bad_seen += int((known & ~unseen).sum())
        idx = idx[known & unseen]
        _, first = np.unique(idx, return_index=True)  # drop duplicates, keep order
        idx = idx[np.sort(first)]
        ranked[row, : len(idx)] = idx
    notes = []
    if bad_seen or bad_unknown:
        notes.append(f"dropped {bad_seen} already-seen and {bad_unknown} unknown item ids from the lists")
    return ranked, notes


def evaluate(
    method: Recommender | ScoringMethod,
    split: Split,
    phase: Phase,
    users: np.ndarray,
    item_vectors: np.ndarray | None = None,
    params: dict[str, Any] | None = None,
    batch_size: int = 256,
) -> MethodResult:
    """Fit on the phase's fit data, rank for `users`, measure."""
    train = split.fit_data(phase)
    t0 = time.perf_counter()
    method.fit(train)
    t1 = time.perf_counter()
    try:
        ranked, notes = rank_method(method, train, users, batch_size)
    finally:
        if hasattr(method, "close"):  # e.g. ragrec's pipeline: its phase's store and event log
            method.close()
    t2 = time.perf_counter()
    per_user = per_user_metrics(ranked, split, phase, users, item_vectors)
    return MethodResult(
        name=method.name,
        phase=phase,
        params=params or {},
        metrics=summarize(per_user, ranked, split.dataset.n_items),
        n_users=len(users),
        fit_seconds=t1 - t0,
        eval_seconds=t2 - t1,
        notes=notes,
        per_user={k: v.tolist() for k, v in per_user.items()},
    )


class Candidate(BaseModel):
    """A method factory plus its tuning grid (a single {} = nothing to tune)."""

    model_config = {"arbitrary_types_allowed": True}
    name: str
    factory: Callable[..., Any]
    grid: list[dict[str, Any]] = [{}]


def tune_and_test(
    cand: Candidate,
    split: Split,
    users: np.ndarray,
    item_vectors: np.ndarray | None = None,
    config: EvalConfig | None = None,
) -> tuple[list[MethodResult], MethodResult]:
    """Validation results of every grid point, then the test result of the best one (by config.tune_metric).

    Test numbers exist only for the chosen point: nothing is chosen with test numbers in view."""
    config = config or EvalConfig()
    val = []
    if len(cand.grid) > 1 or config.validate_untuned:
        for params in cand.grid:
            res = evaluate(cand.factory(**params), split, "validation", users, item_vectors, params, config.batch_size)
            res.name = cand.name
            val.append(res)
    best = max(val, key=lambda r: r.metrics[config.tune_metric].mean).params if val else cand.grid[0]
    test = evaluate(cand.factory(**best), split, "test", users, item_vectors, best, config.batch_size)
    test.name = cand.name
    return val, test


class EvalRun(BaseModel):
    """One protocol's results."""

    dataset: str
    dataset_sha256: str
    protocol: str = "temporal"
    description: str = ""
    config: EvalConfig
    n_users: int
    n_items: int
    validation: list[MethodResult]
    test: list[MethodResult]
    started_at: str
    runtime_seconds: float
    environment: dict[str, Any] = {}


def run(
    candidates: Sequence[Candidate],
    split: Split,
    config: EvalConfig | None = None,
    item_vectors: np.ndarray | None = None,
    log: Callable[[str], None] = print,
) -> EvalRun:
    """Tune each candidate on validation, test the chosen setting; one EvalRun for the report."""
    config = config or EvalConfig()
    started, t0 = datetime.now(UTC).isoformat(timespec="seconds"), time.perf_counter()
    users = select_users(split, config)
    validation, test = [], []
    for cand in candidates:
        val, tst = tune_and_test(cand, split, users, item_vectors, config)
        validation += val
        test.append(tst)
        best_val = f"{max(v.metrics['ndcg@10'].mean for v in val):.4f}" if val else "–"
        log(
            f"[{split.protocol}] {cand.name:<18} {tst.params} val ndcg@10 {best_val} | "
            f"test ndcg@10 {tst.metrics['ndcg@10'].mean:.4f} hr@10 {tst.metrics['hr@10'].mean:.4f} "
            f"({sum(v.fit_seconds + v.eval_seconds for v in val) + tst.fit_seconds + tst.eval_seconds:.1f}s)"
        )
    return EvalRun(
        dataset=str(split.dataset.path),
        dataset_sha256=split.dataset.sha256,
        protocol=split.protocol,
        description=split.description,
        config=config,
        n_users=len(users),
        n_items=split.dataset.n_items,
        validation=validation,
        test=test,
        started_at=started,
        runtime_seconds=time.perf_counter() - t0,
        environment=environment(),
    )


def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}


class EvalSuite(BaseModel):
    """What `ragrec eval` reports: every protocol's run and the effective Settings ragrec ran with."""

    runs: list[EvalRun]
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings().model_dump(mode='json'): "
                                     "code defaults + environment + .env (+ the run's data dir)")
    settings_changed: dict[str, Any] = Field(default_factory=dict, description="fields that differ from the code "
                                             "defaults (set by environment or .env)")
    started_at: str
    runtime_seconds: float
    environment: dict[str, Any] = Field(default_factory=environment)
    generation: list[GenerationRun] = Field(default_factory=list, description="`--rerank`: the LLM stage measured "
                                            "on each protocol (empty without it)")
