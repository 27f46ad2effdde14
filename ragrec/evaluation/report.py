"""Write an EvalSuite (every protocol's run + the effective Settings) as Markdown (for people), JSON (for diffs and
CI) and a PNG bar chart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ragrec.evaluation.generation import report_section
from ragrec.evaluation.runner import EvalRun, EvalSuite, MethodResult

COLUMNS = ("ndcg@10", "hr@10", "recall@50", "recall@100", "coverage@10", "ild@10", "novelty@10")
ACCURACY = ("ndcg@10", "hr@10", "recall@50", "recall@100")
WITH_SE = ("ndcg@10", "hr@10")
RAGREC = "ragrec"


def _cell(res: MethodResult, key: str) -> str:
    stat = res.metrics.get(key)
    if stat is None:
        return "–"
    return f"{stat.mean:.4f} ± {stat.se:.4f}" if stat.se is not None and key in WITH_SE else f"{stat.mean:.4f}"


def _table(results: list[MethodResult], timing: bool = True) -> list[str]:
    head = ["method", "params", *COLUMNS] + (["fit s", "eval s"] if timing else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        row = [r.name, ", ".join(f"{k}={v}" for k, v in r.params.items()) or "–", *(_cell(r, c) for c in COLUMNS)]
        if timing:
            row += [f"{r.fit_seconds:.1f}", f"{r.eval_seconds:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def paired(a: MethodResult, b: MethodResult, key: str) -> tuple[float, float | None]:
    """Mean and standard error of the per-user difference a − b (same users, same order); without per-user
    values (a result read back from JSON) the difference of the means and no error."""
    x, y = a.per_user.get(key), b.per_user.get(key)
    if not x or not y or len(x) != len(y):
        return a.metrics[key].mean - b.metrics[key].mean, None
    d = np.asarray(x) - np.asarray(y)
    d = d[~np.isnan(d)]
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else None


def _pm(mean: float, se: float | None) -> str:
    return f"{mean:+.4f} ± {se:.4f}" if se is not None else f"{mean:+.4f}"


def _baselines(run: EvalRun) -> list[MethodResult]:
    return [r for r in run.test if r.name != RAGREC]


def _ragrec(run: EvalRun) -> MethodResult | None:
    return next((r for r in run.test if r.name == RAGREC), None)


def summary(suite: EvalSuite) -> list[str]:
    """ragrec's one configuration on every protocol against the best baseline on the same split (best by test
    NDCG@10 among baselines that were each tuned on validation: the strictest comparison for ragrec)."""
    lines = [
        "| protocol | ragrec NDCG@10 | best baseline | its NDCG@10 | ragrec / best | ragrec − best (paired) "
        "| ragrec coverage@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in suite.runs:
        rag, base = _ragrec(run), _baselines(run)
        if rag is None or not base:
            continue
        best = max(base, key=lambda r: r.metrics["ndcg@10"].mean)
        diff, se = paired(rag, best, "ndcg@10")
        ratio = rag.metrics["ndcg@10"].mean / best.metrics["ndcg@10"].mean if best.metrics["ndcg@10"].mean else float("nan")
        lines.append(f"| {run.protocol} | {_cell(rag, 'ndcg@10')} | {best.name} | {_cell(best, 'ndcg@10')} | "
                     f"{ratio:.2f} | {_pm(diff, se)} | {rag.metrics['coverage@10'].mean:.4f} |")
    return lines


def losses(suite: EvalSuite) -> list[str]:
    """A table row per (protocol, baseline, accuracy metric) where the baseline's test mean beats ragrec's, with
    the paired difference ± its standard error."""
    head = ["| protocol | baseline | metric | baseline | ragrec | ragrec − baseline (paired) |", "|---|---|---|---|---|---|"]
    rows = []
    for run in suite.runs:
        rag = _ragrec(run)
        if rag is None:
            continue
        for base in _baselines(run):
            for key in ACCURACY:
                if base.metrics[key].mean > rag.metrics[key].mean:
                    rows.append(f"| {run.protocol} | {base.name} | {key} | {base.metrics[key].mean:.4f} | "
                                f"{rag.metrics[key].mean:.4f} | {_pm(*paired(rag, base, key))} |")
    return head + rows if rows else ["Nowhere: ragrec's test means are at least every baseline's on NDCG@10, HR@10 "
                                     "and Recall@50/100, on every protocol."]


def markdown(suite: EvalSuite) -> str:
    first = suite.runs[0]
    config = first.config
    mode = "full" if config.quick_users is None else f"quick ({config.quick_users} users, {config.quick_sample})"
    lines = [
        f"# ragrec offline evaluation ({mode})",
        "",
        f"- dataset: `{first.dataset}` (sha256 of ratings.csv+movies.csv `{first.dataset_sha256[:16]}…`)",
        f"- users evaluated: {first.n_users} per protocol, catalog: {first.n_items} items",
        f"- protocols: {', '.join(r.protocol for r in suite.runs)}; " + (
            "each tunes every method on its own validation phase; test numbers exist only for the setting chosen "
            "on validation" if config.quick_users is None else "quick mode tunes nothing: one fixed setting per "
            "method, no validation phase (a smoke test of the harness, not a comparison)"),
        f"- harness config: {config.model_dump_json()}",
        f"- started {suite.started_at}, runtime {suite.runtime_seconds:.1f} s"
        + (f" (of which `--rerank` {sum(g.seconds.get('total', 0) for g in suite.generation):.1f} s)"
           if suite.generation else "") + f", {suite.environment}",
        "- ± is the standard error of the per-user mean (of the per-user difference where paired); Recall@k with one "
        "held-out item equals HR@k; coverage@10 is a set metric; novelty is the mean -log2 popularity share of the "
        "top 10.",
    ]
    if any(_ragrec(r) and _baselines(r) for r in suite.runs):  # nothing to compare with `--no-baselines`
        lines += ["", "## ragrec's one configuration on every protocol (test)", "", *summary(suite),
                  "", "## Where ragrec loses (test; accuracy metrics, every baseline)", "", *losses(suite)]
    if suite.generation:
        lines += ["", *report_section(suite.generation)]
    for run in suite.runs:
        lines += [
            "", f"## Protocol: {run.protocol}", "", run.description, "",
            "### Test (fit on history + validation; " + ("params chosen on validation)" if run.validation else
                                                         "quick mode's fixed params)"), "", *_table(run.test),
        ]
        if run.validation:  # quick mode has none
            lines += ["", "### Validation (every tuning point)", "", *_table(run.validation)]
        notes = [f"- {r.name}: {n}" for r in run.test for n in r.notes]
        if notes:
            lines += ["", "### Notes", "", *notes]
    lines += ["", "## Effective settings", "",
              "Fields that differ from the code defaults (environment, `.env`): "
              + (f"`{json.dumps(suite.settings_changed)}`" if suite.settings_changed else "none."),
              "", "```json", json.dumps(suite.settings, indent=1, sort_keys=True), "```"]
    return "\n".join(lines) + "\n"


def plot(suite: EvalSuite, path: Path) -> None:
    """NDCG@10, HR@10 (with standard-error bars) and coverage@10 on test; one row per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ("ndcg@10", "hr@10", "coverage@10")
    fig, axes = plt.subplots(len(suite.runs), 3, figsize=(13, 4 * len(suite.runs)), squeeze=False)
    for row, run in zip(axes, suite.runs):
        names = [r.name for r in run.test]
        for ax, key in zip(row, keys):
            means = [r.metrics[key].mean for r in run.test]
            errs = [r.metrics[key].se or 0.0 for r in run.test]
            ax.bar(names, means, yerr=errs, capsize=3, color=["tab:orange" if n == RAGREC else "tab:blue" for n in names])
            ax.set_title(f"{run.protocol}: test {key}")
            ax.tick_params(axis="x", rotation=45)
    fig.suptitle(f"{Path(suite.runs[0].dataset).name}, {suite.runs[0].n_users} users")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(suite: EvalSuite, out_dir: Path | str, stem: str = "eval") -> dict[str, Path]:
    """`<stem>.md`, `<stem>.json`, `<stem>.png` under out_dir; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{stem}.md", "json": out / f"{stem}.json", "png": out / f"{stem}.png"}
    paths["md"].write_text(markdown(suite), encoding="utf-8")
    paths["json"].write_text(suite.model_dump_json(indent=2), encoding="utf-8")
    plot(suite, paths["png"])
    return paths
