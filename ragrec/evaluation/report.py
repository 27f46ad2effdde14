"""Write an EvalRun as Markdown (for people), JSON (for diffs and CI) and a PNG bar chart."""

from __future__ import annotations

from pathlib import Path

from ragrec.evaluation.runner import EvalRun, MethodResult

COLUMNS = ("ndcg@10", "hr@10", "recall@50", "recall@100", "coverage@10", "ild@10", "novelty@10")


def _cell(res: MethodResult, key: str) -> str:
    stat = res.metrics.get(key)
    if stat is None:
        return "–"
    return f"{stat.mean:.4f} ± {stat.se:.4f}" if stat.se is not None and key in ("ndcg@10", "hr@10") else f"{stat.mean:.4f}"


def _table(results: list[MethodResult], timing: bool = True) -> list[str]:
    head = ["method", "params", *COLUMNS] + (["fit s", "eval s"] if timing else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        row = [r.name, ", ".join(f"{k}={v}" for k, v in r.params.items()) or "–", *(_cell(r, c) for c in COLUMNS)]
        if timing:
            row += [f"{r.fit_seconds:.1f}", f"{r.eval_seconds:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def markdown(run: EvalRun) -> str:
    mode = "full" if run.config.quick_users is None else f"quick ({run.config.quick_users} users, {run.config.quick_sample})"
    lines = [
        f"# ragrec offline evaluation ({mode})",
        "",
        f"- dataset: `{run.dataset}` (sha256 of ratings.csv+movies.csv `{run.dataset_sha256[:16]}…`)",
        f"- users evaluated: {run.n_users}, catalog: {run.n_items} items",
        f"- protocol: {run.protocol}",
        f"- settings: {run.config.model_dump_json()}",
        f"- started {run.started_at}, runtime {run.runtime_seconds:.1f} s, {run.environment}",
        "- ± is the standard error of the per-user mean; Recall@k with one held-out item equals HR@k; "
        "coverage@10 is a set metric; novelty is the mean -log2 popularity share of the top 10.",
        "",
        "## Test (fit on history + validation; params chosen on validation)",
        "",
        *_table(run.test),
        "",
        "## Validation (every tuning point)",
        "",
        *_table(run.validation),
    ]
    notes = [f"- {r.name}: {n}" for r in run.test for n in r.notes]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def plot(run: EvalRun, path: Path) -> None:
    """NDCG@10 and HR@10 on test with standard-error bars, one group per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in run.test]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, key in zip(axes, ("ndcg@10", "hr@10", "coverage@10")):
        means = [r.metrics[key].mean for r in run.test]
        errs = [r.metrics[key].se or 0.0 for r in run.test]
        ax.bar(names, means, yerr=errs, capsize=3, color="tab:blue")
        ax.set_title(f"test {key}")
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(f"{Path(run.dataset).name}, {run.n_users} users")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(run: EvalRun, out_dir: Path | str, stem: str = "eval") -> dict[str, Path]:
    """`<stem>.md`, `<stem>.json`, `<stem>.png` under out_dir; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{stem}.md", "json": out / f"{stem}.json", "png": out / f"{stem}.png"}
    paths["md"].write_text(markdown(run), encoding="utf-8")
    paths["json"].write_text(run.model_dump_json(indent=2), encoding="utf-8")
    plot(run, paths["png"])
    return paths
