"""Generation metrics for the evaluation report: what the LLM rerank gains, and how faithful the descriptions are.

Rerank. For each user the LLM scores the top-N retrieval candidates once (`rerank_sample`); the fused order for any
weight w is then pure arithmetic, so a weight grid costs no extra LLM calls. `tune_rerank_weight` picks w on the
validation samples; `rerank_table` reports NDCG@10 without (w = 0) and with the rerank on the same users.

    samples = [rerank_sample(reranker, history, candidates, target) for ...]      # validation users
    best = tune_rerank_weight(samples)                                           # {"weight", "ndcg", ...}
    rows = rerank_table(test_samples, [0.0, best["weight"]])                     # NDCG@10 ± s.e. per weight

Descriptions. `description_metrics` over the `Described` results of a fixed sample of users: the share of
descriptions shown as the LLM wrote them (passed every check), the share that fell back to the template, the
attribute-hallucination rate among LLM-written ones (a stated year, genre or title not in the item's data), which
checks failed how often, and mean length.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
from pydantic import BaseModel

from ragrec.evaluation.metrics import ndcg_at_k
from ragrec.generation.describe import Described
from ragrec.generation.rerank import LLMReranker, fuse
from ragrec.retrieval.models import Candidate, History

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


class RerankSample(BaseModel):
    """One user's top-N in retrieval order, the LLM's score of each, and the held-out item."""

    item_ids: list[str]
    retrieval: list[float]
    llm: list[float] | None  # None: the LLM failed for this user (then every weight keeps retrieval order)
    target: str
    error: str | None = None


def rerank_sample(reranker: LLMReranker, history: History, candidates: list[Candidate], target: str) -> RerankSample:
    head = candidates[: reranker.settings.rerank_candidates]
    try:
        llm = reranker.llm_scores(history, head)
        error = None
    except Exception as exc:  # noqa: BLE001  (counted in the table as a fallback)
        llm, error = None, str(exc)[:200]
    return RerankSample(item_ids=[c.item_id for c in head], retrieval=[c.score for c in head], llm=llm,
                        target=target, error=error)


def fused_order(sample: RerankSample, weight: float) -> list[str]:
    if sample.llm is None or weight == 0.0 or len(sample.item_ids) < 2:
        return list(sample.item_ids)
    fused = fuse(sample.retrieval, sample.llm, weight)
    return [sample.item_ids[i] for i in sorted(range(len(fused)), key=lambda i: (-fused[i], i))]


def ndcg(samples: Sequence[RerankSample], weight: float, k: int = 10) -> np.ndarray:
    """Per-user NDCG@k of the fused order (one relevant item per user)."""
    values = []
    for s in samples:
        order = fused_order(s, weight)
        target = order.index(s.target) if s.target in order else -2  # -2: not among the candidates
        values.append(float(ndcg_at_k(np.arange(len(order))[None, :], np.array([target]), k)[0]))
    return np.array(values)


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return float("nan"), float("nan")
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), se


def rerank_table(samples: Sequence[RerankSample], weights: Iterable[float] = WEIGHTS, k: int = 10) -> list[dict]:
    """NDCG@k ± standard error per fusion weight (w = 0 is retrieval alone), plus the paired difference to w = 0
    on the same users and how many users the LLM failed for."""
    base = ndcg(samples, 0.0, k)
    rows = []
    for w in weights:
        values = ndcg(samples, w, k)
        mean, se = _mean_se(values)
        diff, diff_se = _mean_se(values - base)
        rows.append({"weight": w, "ndcg": mean, "se": se, "gain": diff, "gain_se": diff_se,
                     "users": len(values), "llm_failed": sum(s.llm is None for s in samples)})
    return rows


def tune_rerank_weight(validation: Sequence[RerankSample], weights: Iterable[float] = WEIGHTS, k: int = 10) -> dict:
    """The weight with the best validation NDCG@k; ties go to the smaller weight (retrieval order when the LLM
    adds nothing)."""
    rows = rerank_table(validation, weights, k)
    return max(rows, key=lambda r: (round(r["ndcg"], 12), -r["weight"]))


class DescriptionMetrics(BaseModel):
    descriptions: int
    llm_written: int  # the LLM answered (passed or not)
    passed: float  # share of all descriptions shown as the LLM wrote them
    fell_back: float  # share shown as the template (failed check or LLM error)
    hallucination_rate: float  # among LLM-written: share stating a year, genre or title not in the item's data
    hallucination_se: float
    failed_checks: dict[str, int]
    hallucinated: dict[str, int]  # by kind: year, decade, genre, title
    errors: int  # the LLM failed (timeout, connection, ...)
    mean_chars: float  # of the descriptions shown
    mean_words: float
    mean_llm_chars: float  # of what the LLM wrote


def description_metrics(results: Iterable[Described]) -> DescriptionMetrics:
    results = list(results)
    written = [r for r in results if r.raw is not None and r.check is not None]
    halluc = np.array([1.0 if r.check.hallucinated else 0.0 for r in written])
    rate, rate_se = _mean_se(halluc)
    failed = Counter(f for r in written for f in r.check.failed)
    kinds = Counter(h.split(" ", 1)[0] for r in written for h in r.check.hallucinated)
    shown = [r.item.description or "" for r in results]
    n = max(len(results), 1)
    return DescriptionMetrics(
        descriptions=len(results),
        llm_written=len(written),
        passed=sum(r.item.description_source == "llm" for r in results) / n,
        fell_back=sum(r.item.description_source == "template" for r in results) / n,
        hallucination_rate=0.0 if not written else rate,
        hallucination_se=0.0 if not written else rate_se,
        failed_checks=dict(failed),
        hallucinated=dict(kinds),
        errors=sum(r.error is not None for r in results),
        mean_chars=float(np.mean([len(s) for s in shown])) if shown else 0.0,
        mean_words=float(np.mean([len(s.split()) for s in shown])) if shown else 0.0,
        mean_llm_chars=float(np.mean([len(r.raw) for r in written])) if written else 0.0,
    )


def markdown(table: list[dict] | None, metrics: DescriptionMetrics | None, *, users: int | None = None,
             model: str = "") -> str:
    """The report's generation section."""
    lines = ["## Generation", ""]
    if model:
        lines += [f"LLM: `{model}`.", ""]
    if table:
        lines += ["LLM rerank of the top-N (NDCG@10 on the same users; w = fusion weight, 0 = retrieval alone; "
                  "gain = paired difference to w = 0):", "",
                  "| w | NDCG@10 | gain | users | LLM failed |", "|---|---|---|---|---|"]
        for r in table:
            lines.append(f"| {r['weight']:.2f} | {r['ndcg']:.4f} ± {r['se']:.4f} | {r['gain']:+.4f} ± "
                         f"{r['gain_se']:.4f} | {r['users']} | {r['llm_failed']} |")
        lines.append("")
    if metrics:
        lines += [f"Descriptions ({metrics.descriptions}{f' for {users} users' if users else ''}):", "",
                  f"- shown as written by the LLM (passed every check): {metrics.passed:.1%}",
                  f"- fell back to the template: {metrics.fell_back:.1%} (LLM errors: {metrics.errors})",
                  f"- attribute hallucination among LLM-written ({metrics.llm_written}): "
                  f"{metrics.hallucination_rate:.1%} ± {metrics.hallucination_se:.1%} "
                  f"(by kind: {metrics.hallucinated or 'none'})",
                  f"- failed checks: {metrics.failed_checks or 'none'}",
                  f"- mean length shown: {metrics.mean_chars:.0f} chars, {metrics.mean_words:.1f} words "
                  f"(LLM-written: {metrics.mean_llm_chars:.0f} chars)", ""]
    return "\n".join(lines)
