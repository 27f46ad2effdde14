"""Generation metrics for the evaluation report: what the LLM rerank gains, and how faithful the descriptions are.

Rerank. For each user the LLM scores the top-N retrieval candidates once (`rerank_sample`); the fused order for any
weight w is then pure arithmetic, so a weight grid costs no extra LLM calls. `choose_weight` picks w on the
validation samples and only then measures the test samples, at w = 0 (retrieval alone) and the chosen w:

    val = [rerank_sample(reranker, history, candidates, target) for ...]          # validation users
    test = [...]                                                                   # the same users, test phase
    result = choose_weight(val, test)    # every weight on validation; test rows for w = 0 and the chosen w only

Descriptions. `description_metrics` over the `Described` results of a fixed sample of users: the share of
descriptions shown as the LLM wrote them (passed every check), the share that fell back to the template, the
attribute-hallucination rate among LLM-written ones (a stated year, genre or title not in the item's data), which
checks failed how often, and mean length.

`evaluate_generation` is `ragrec eval --rerank` on one protocol: ragrec's real path fitted on each phase, its top N
for a seeded sample of users, the LLM's scores of them, and the descriptions of each user's test top 5. The heavy
imports (the LLM stack) happen inside it, so the default `ragrec eval` does not pay for them.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from ragrec.evaluation.metrics import ndcg_at_k

if TYPE_CHECKING:
    from ragrec.evaluation.protocol import Split
    from ragrec.generation.describe import Described
    from ragrec.generation.rerank import LLMReranker
    from ragrec.retrieval.models import Candidate, History

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
DESCRIBE_K = 5
NOT_CAUGHT = (
    "The checks are attribute-level: a description that passes can still claim something that is not a title, a "
    "year or a genre (a plot point, an actor, \"critically acclaimed\", \"a timeless classic\"), misstate how the "
    "item relates to the user's evidence items, or use a genre word that appears in the item's tags; a year written "
    "in words and a one-word title in lower case are not read. Statement-level precision (the share of all claims "
    "that are supported) is not measured here: it needs human or model judges, and even published recommenders "
    "reach only 4-33 % (Kabongo & Guigue 2025)."
)


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
    from ragrec.generation.rerank import fuse  # the stage's own fusion, so the table measures what serving does

    if sample.llm is None or weight == 0.0 or len(sample.item_ids) < 2:
        return list(sample.item_ids)
    fused = fuse(sample.retrieval, sample.llm, weight)
    return [sample.item_ids[i] for i in sorted(range(len(fused)), key=lambda i: (-fused[i], i))]


def _positions(samples: Sequence[RerankSample], weight: float) -> np.ndarray:
    """0-based position of each user's target in the fused order; -1 when it is not among the candidates."""
    out = []
    for s in samples:
        order = fused_order(s, weight)
        out.append(order.index(s.target) if s.target in order else -1)
    return np.array(out, dtype=np.int64)


def ndcg(samples: Sequence[RerankSample], weight: float, k: int = 10) -> np.ndarray:
    """Per-user NDCG@k of the fused order (one relevant item per user)."""
    pos = _positions(samples, weight)
    return ndcg_at_k(np.tile(np.arange(k), (len(pos), 1)), pos, k)  # the harness's metric on positions


def hits(samples: Sequence[RerankSample], weight: float, k: int = 10) -> np.ndarray:
    """Per-user HR@k of the fused order."""
    pos = _positions(samples, weight)
    return ((pos >= 0) & (pos < k)).astype(np.float64)


def in_candidates(samples: Sequence[RerankSample]) -> np.ndarray:
    """Per user, 1 if the target is among the N candidates at all (recall@N): the most any reranker can reach."""
    return np.array([float(s.target in s.item_ids) for s in samples])


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return float("nan"), float("nan")
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), se


def rerank_table(samples: Sequence[RerankSample], weights: Iterable[float] = WEIGHTS, k: int = 10) -> list[dict]:
    """NDCG@k and HR@k ± standard error per fusion weight (w = 0 is retrieval alone), the paired difference of each
    to w = 0 on the same users, and how many users the LLM failed for."""
    base_ndcg, base_hr = ndcg(samples, 0.0, k), hits(samples, 0.0, k)
    rows = []
    for w in weights:
        n, h = ndcg(samples, w, k), hits(samples, w, k)
        mean, se = _mean_se(n)
        diff, diff_se = _mean_se(n - base_ndcg)
        hr, hr_se = _mean_se(h)
        hr_diff, hr_diff_se = _mean_se(h - base_hr)
        rows.append({"weight": w, "ndcg": mean, "se": se, "gain": diff, "gain_se": diff_se,
                     "hr": hr, "hr_se": hr_se, "hr_gain": hr_diff, "hr_gain_se": hr_diff_se,
                     "users": len(n), "llm_failed": sum(s.llm is None for s in samples)})
    return rows


def tune_rerank_weight(validation: Sequence[RerankSample], weights: Iterable[float] = WEIGHTS, k: int = 10) -> dict:
    """The weight with the best validation NDCG@k; ties go to the smaller weight (retrieval order when the LLM
    adds nothing)."""
    rows = rerank_table(validation, weights, k)
    return max(rows, key=lambda r: (round(r["ndcg"], 12), -r["weight"]))


class Rate(BaseModel):
    mean: float
    se: float


class RerankResult(BaseModel):
    """The rerank on one protocol: every weight on validation, the weight chosen there, and test for w = 0 and that
    weight only (nothing is chosen with test numbers in view)."""

    weights: list[float]
    validation: list[dict]
    chosen: float
    test: list[dict]  # w = 0 first, then the chosen w (one row when it is 0)
    recall: dict[str, Rate]  # phase -> share of users whose target is among the N candidates


def choose_weight(validation: Sequence[RerankSample], test: Sequence[RerankSample],
                  weights: Iterable[float] = WEIGHTS, k: int = 10) -> RerankResult:
    weights = list(weights)
    chosen = tune_rerank_weight(validation, weights, k)["weight"]
    return RerankResult(
        weights=weights,
        validation=rerank_table(validation, weights, k),
        chosen=chosen,
        test=rerank_table(test, sorted({0.0, chosen}), k),
        recall={phase: Rate(**dict(zip(("mean", "se"), _mean_se(in_candidates(s)))))
                for phase, s in (("validation", validation), ("test", test))},
    )


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
    cached: int = 0  # answered from the describer's cache (the same item and evidence for an earlier user)


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
        fell_back=sum(r.item.description_source != "llm" for r in results) / n,
        hallucination_rate=0.0 if not written else rate,
        hallucination_se=0.0 if not written else rate_se,
        failed_checks=dict(failed),
        hallucinated=dict(kinds),
        errors=sum(r.error is not None for r in results),
        mean_chars=float(np.mean([len(s) for s in shown])) if shown else 0.0,
        mean_words=float(np.mean([len(s.split()) for s in shown])) if shown else 0.0,
        mean_llm_chars=float(np.mean([len(r.raw) for r in written])) if written else 0.0,
        cached=sum(r.cached for r in results),
    )


def _description_lines(metrics: DescriptionMetrics) -> list[str]:
    return [f"- shown as written by the LLM (passed every check): {metrics.passed:.1%}",
            f"- fell back to the template: {metrics.fell_back:.1%} (LLM errors: {metrics.errors})",
            f"- attribute hallucination among LLM-written ({metrics.llm_written}): "
            f"{metrics.hallucination_rate:.1%} ± {metrics.hallucination_se:.1%} "
            f"(by kind: {metrics.hallucinated or 'none'})",
            f"- failed checks: {metrics.failed_checks or 'none'}",
            f"- mean length shown: {metrics.mean_chars:.0f} chars, {metrics.mean_words:.1f} words "
            f"(LLM-written: {metrics.mean_llm_chars:.0f} chars)"]


def markdown(table: list[dict] | None, metrics: DescriptionMetrics | None, *, users: int | None = None,
             model: str = "") -> str:
    """A short generation section (bench/generation.py); the evaluation report uses `report_section`."""
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
                  *_description_lines(metrics), ""]
    return "\n".join(lines)


# --- `ragrec eval --rerank` on one protocol ---------------------------------------------------------------------
class GenerationRun(BaseModel):
    """The generation stage measured on one protocol, over one seeded sample of users."""

    protocol: str
    users: list[int] = Field(description="the sampled userIds (the same for validation, test and descriptions)")
    sample_seed: int
    backend: str
    model: str
    method: str = Field(description="verbalizer or listwise")
    prompt_version: str
    candidates: int = Field(description="N: the top-N of ragrec's list the LLM sees")
    permutations: int
    rerank_seed: int
    rerank: RerankResult
    llm_failed: dict[str, int]
    ragrec_ndcg_same_users: float | None = Field(
        None, description="the main table's ragrec test NDCG@10 on the sampled users: w = 0 must equal it")
    same_lists: int | None = Field(
        None, description="sampled users whose w = 0 top 10 has the main run's NDCG@10 and novelty@10 (the same "
        "items): all of them, or the rerank measured other lists than ragrec's")
    describe_k: int
    descriptions: DescriptionMetrics
    examples: list[dict] = []
    seconds: dict[str, float] = {}
    samples: dict[str, list[RerankSample]] = Field(default_factory=dict, exclude=True,
                                                   description="per phase, kept in memory (tests), not in JSON")


def sample_users(users: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded sample of n of the evaluated users (all of them when there are no more than n), sorted."""
    if n >= len(users):
        return np.asarray(users)
    return np.sort(np.random.default_rng(seed).choice(users, size=n, replace=False))


def evaluate_generation(data_dir: Path, split: Split, users: np.ndarray, *, seed: int = 0,
                        weights: Sequence[float] = WEIGHTS, describe_k: int = DESCRIBE_K,
                        reference: dict[int, dict[str, float]] | None = None,
                        log: Callable[[str], None] = print) -> GenerationRun:
    """ragrec's real path fitted on each phase of `split` (a fresh catalog copy each, as the harness does; the main
    run's fit of the same phase is reused when it kept it, `RagrecPipeline(keep_fits=True)`); for each
    user of `users` its top N (`rerank_candidates`, in retrieval order: the request asks for no rerank) and the
    LLM's score of them, computed once; the descriptions of the test top `describe_k`. `reference`: the main run's
    ragrec test values per user index (`ndcg@10`, `novelty@10`), to check that w = 0 is ragrec's own list."""
    from ragrec.evaluation.pipeline import RagrecPipeline, eval_settings
    from ragrec.generation import LLMReranker, get_llm
    from ragrec.generation.prompts import PROMPT_VERSION
    from ragrec.retrieval.models import RecommendRequest

    t0 = time.perf_counter()
    settings = eval_settings(data_dir)  # the run's data dir: a converted model is cached once per run at most
    llm = get_llm(settings)
    llm.warm()
    reranker = LLMReranker(llm, settings)
    seconds = {"llm_load": time.perf_counter() - t0}
    samples: dict[str, list[RerankSample]] = {}
    described = []
    for phase in ("validation", "test"):
        train, targets = split.fit_data(phase), split.targets(phase)
        t = time.perf_counter()
        pipe = RagrecPipeline(data_dir, llm=llm, keep_fits=True)
        pipe.fit(train)
        seconds[f"{phase}_fit"] = time.perf_counter() - t
        try:
            out, t_llm, t_desc = [], 0.0, 0.0
            for u in users:
                request = RecommendRequest(user_id=str(int(train.user_ids[u])), k=settings.rerank_candidates,
                                           rerank=False)
                history, recs = pipe.rec.retrieve(request)
                t = time.perf_counter()
                out.append(rerank_sample(reranker, history, recs.items, str(int(train.item_ids[targets[u]]))))
                t_llm += time.perf_counter() - t
                if phase == "test":
                    t = time.perf_counter()
                    described += pipe.rec.describer.describe_results(history, recs.items[:describe_k])
                    t_desc += time.perf_counter() - t
        finally:
            pipe.close()
        samples[phase] = out
        seconds[f"{phase}_rerank_llm"] = t_llm
        if phase == "test":
            seconds["descriptions"] = t_desc
        log(f"[{split.protocol}] --rerank {phase}: {len(users)} users scored by the LLM in {t_llm:.0f} s"
            + (f", {len(described)} descriptions in {t_desc:.0f} s" if phase == "test" else ""))
    seconds["total"] = time.perf_counter() - t0
    reference_ndcg = same = None
    if reference is not None:
        reference_ndcg = float(np.mean([reference[int(u)]["ndcg@10"] for u in users]))
        own = retrieval_metrics(samples["test"], split, users)
        same = sum(all(math.isclose(own[key][row], reference[int(u)][key], rel_tol=1e-9, abs_tol=1e-12)
                       for key in ("ndcg@10", "novelty@10")) for row, u in enumerate(users))
    examples = [{"item_id": d.item.item_id, "title": d.item.title, "source": d.item.description_source,
                 "shown": d.item.description, "llm_wrote": d.raw,
                 "failed": d.check.failed if d.check else [], "hallucinated": d.check.hallucinated if d.check else [],
                 "error": d.error} for d in described[:8]]
    return GenerationRun(
        protocol=split.protocol,
        users=[int(split.dataset.user_ids[u]) for u in users],
        sample_seed=seed,
        backend=settings.llm,
        model=llm.name,
        method=reranker.resolved_method(),
        prompt_version=PROMPT_VERSION,
        candidates=settings.rerank_candidates,
        permutations=settings.rerank_permutations,
        rerank_seed=settings.rerank_seed,
        rerank=choose_weight(samples["validation"], samples["test"], weights),
        llm_failed={phase: sum(s.llm is None for s in v) for phase, v in samples.items()},
        ragrec_ndcg_same_users=reference_ndcg,
        same_lists=same,
        describe_k=describe_k,
        descriptions=description_metrics(described),
        examples=examples,
        seconds=seconds,
        samples=samples,
    )


def retrieval_metrics(samples: Sequence[RerankSample], split: Split, users: np.ndarray) -> dict[str, np.ndarray]:
    """The harness's per-user test metrics of the samples' retrieval order (w = 0), as the main run computes them
    for ragrec's own lists."""
    from ragrec.evaluation.runner import per_user_metrics

    item_ids = split.fit_data("test").item_ids
    width = max((len(s.item_ids) for s in samples), default=0)
    ranked = np.full((len(samples), width), -1, dtype=np.int64)
    for row, s in enumerate(samples):
        ranked[row, : len(s.item_ids)] = np.searchsorted(item_ids, np.asarray(s.item_ids, dtype=np.int64))
    return per_user_metrics(ranked, split, "test", np.asarray(users))


# --- the report's section ----------------------------------------------------------------------------------------
def _pm(mean: float, se: float, signed: bool = False) -> str:
    return f"{mean:+.4f} ± {se:.4f}" if signed else f"{mean:.4f} ± {se:.4f}"


def report_section(runs: Sequence[GenerationRun]) -> list[str]:
    """The evaluation report's generation section (`ragrec eval --rerank`)."""
    if not runs:
        return []
    first = runs[0]
    lines = [
        "## Generation (`--rerank`): LLM rerank and descriptions", "",
        f"- LLM: `{first.model}` (backend `{first.backend}`), rerank method `{first.method}`, prompt version "
        f"`{first.prompt_version}`; greedy decoding; candidates shown in a shuffle seeded by rerank_seed "
        f"{first.rerank_seed}, {first.permutations} pass(es)",
        f"- users: a fixed sample of {len(first.users)} evaluated users per protocol (seed {first.sample_seed}), the "
        "same users in validation, test and the descriptions; the LLM on every user would take hours on CPU",
        f"- ragrec's real path, fitted on each phase (the main run's fit, reopened; a fresh catalog copy, as above), "
        f"is asked for its top "
        f"{first.candidates} without rerank; the LLM scores those once per user, and every fusion weight w "
        "(final = (1 − w)·minmax(retrieval) + w·minmax(LLM)) is then arithmetic on the same candidates",
        "- w is chosen on validation NDCG@10 (ties to the smaller w); test is measured for w = 0 (no rerank) and "
        "the chosen w only; ± is the standard error over users, of the paired per-user difference for gains",
        f"- a reranker only reorders the top {first.candidates}: its NDCG@10 can only count users whose target "
        f"is among them (recall@{first.candidates} below)",
        "",
    ]
    for run in runs:
        r, n = run.rerank, run.candidates
        lines += [f"### {run.protocol}", "",
                  f"Validation, every weight ({r.validation[0]['users']} users; LLM failed for "
                  f"{run.llm_failed.get('validation', 0)}):", "",
                  "| w | NDCG@10 | gain (paired) | HR@10 | gain (paired) |", "|---|---|---|---|---|"]
        for row in r.validation:
            mark = " ← chosen" if row["weight"] == r.chosen else ""
            lines.append(f"| {row['weight']:.2f}{mark} | {_pm(row['ndcg'], row['se'])} | "
                         f"{_pm(row['gain'], row['gain_se'], True)} | {_pm(row['hr'], row['hr_se'])} | "
                         f"{_pm(row['hr_gain'], row['hr_gain_se'], True)} |")
        base, best = r.test[0], r.test[-1]
        lines += ["", f"Test (LLM failed for {run.llm_failed.get('test', 0)} users):", "",
                  "| | NDCG@10 | HR@10 |", "|---|---|---|",
                  f"| without rerank (w = 0) | {_pm(base['ndcg'], base['se'])} | {_pm(base['hr'], base['hr_se'])} |",
                  f"| with rerank (w = {r.chosen:.2f}, chosen on validation) | {_pm(best['ndcg'], best['se'])} | "
                  f"{_pm(best['hr'], best['hr_se'])} |",
                  f"| difference (paired) | {_pm(best['gain'], best['gain_se'], True)} | "
                  f"{_pm(best['hr_gain'], best['hr_gain_se'], True)} |", ""]
        if r.chosen == 0.0:
            lines += ["Validation chose w = 0: the LLM's order adds nothing on these users, so the rerank changes "
                      "nothing (with and without are the same list).", ""]
        lines.append(f"Recall@{n} (target among the {n} candidates the LLM sees): validation "
                     f"{_pm(r.recall['validation'].mean, r.recall['validation'].se)}, test "
                     f"{_pm(r.recall['test'].mean, r.recall['test'].se)}.")
        if run.ragrec_ndcg_same_users is not None:
            ok = run.same_lists == len(run.users)
            lines.append(f"Check that w = 0 is ragrec's own list: test NDCG@10 {base['ndcg']:.4f} here, "
                         f"{run.ragrec_ndcg_same_users:.4f} for the same users in ragrec's test run above; the top "
                         f"10 has that run's NDCG@10 and novelty@10 for {run.same_lists} of {len(run.users)} users"
                         + ("." if ok else " (DIFFERENT lists: the rerank did not measure ragrec's own order)."))
        m = run.descriptions
        lines += ["", f"Descriptions of each sampled user's test top {run.describe_k} (ragrec's order, "
                  f"{m.descriptions} descriptions, {m.cached} of them from the describer's cache):", "",
                  *_description_lines(m), ""]
        s = run.seconds
        lines += [f"Time: {s.get('total', 0):.0f} s (model load {s.get('llm_load', 0):.0f} s, fits or reopening "
                  f"the main run's {s.get('validation_fit', 0) + s.get('test_fit', 0):.0f} s, LLM rerank "
                  f"{s.get('validation_rerank_llm', 0) + s.get('test_rerank_llm', 0):.0f} s, descriptions "
                  f"{s.get('descriptions', 0):.0f} s).", ""]
        if run.examples:
            lines += ["Examples (the first few descriptions):", ""]
            for e in run.examples:
                why = f" failed: {', '.join(e['failed'])}" if e["failed"] else (f" error: {e['error']}" if e["error"]
                                                                                else "")
                lines.append(f"- {e['title']} [{e['source']}{';' + why if why else ''}]: LLM wrote "
                             f"{e['llm_wrote']!r}")
            lines.append("")
    lines.append("What the checks do not catch: " + NOT_CAUGHT)
    return lines
