"""`ragrec eval`: the offline evaluation on MovieLens (baselines against ragrec's own path); report in reports/."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragrec.cli.app import app
from ragrec.cli.console import fail


@app.command("eval")
def eval_cmd(
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="MovieLens folder (default: ../shared/datasets/"
                                           "movielens-latest-small)"),
    out: Path = typer.Option(Path("reports"), "--out", help="Where the report (md, json, png) goes."),
    quick: Optional[int] = typer.Option(None, "--quick", metavar="N", min=1, help="Evaluate N users only (CI)."),
    sample: str = typer.Option("first", "--sample", help="Which N users with --quick: first or random."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random user sample."),
    no_content: bool = typer.Option(False, "--no-content", help="Skip content vectors (no ILD, no model load)."),
    no_ragrec: bool = typer.Option(False, "--no-ragrec", help="Baselines only."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="ragrec only (e.g. with --rerank)."),
    protocols: str = typer.Option("temporal,random", "--protocols", help="Comma-separated: temporal, random."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir",
                                            help="Parent of the run's fresh data dir (default: the system temp dir)."),
    keep_data_dir: bool = typer.Option(False, "--keep-data-dir", help="Keep the run's data dir afterwards."),
    rerank: bool = typer.Option(False, "--rerank", help="Also measure the LLM rerank (weight tuned on validation) "
                                "and the descriptions on a sample of users; adds its own time."),
    rerank_users: int = typer.Option(50, "--rerank-users", metavar="N", min=1,
                                     help="The seeded sample of users --rerank measures."),
) -> None:
    """Offline evaluation on two protocols (temporal, random holdout): every method tuned on validation, reported
    once on test; ragrec runs through its real path with its one configuration (Settings, env and .env)."""
    from ragrec.evaluation.__main__ import EvalUsageError
    from ragrec.evaluation.__main__ import main as evaluation_main

    argv = ["--out", str(out), "--sample", sample, "--seed", str(seed), "--protocols", protocols]
    argv += ["--dataset", str(dataset)] if dataset else []
    argv += ["--quick", str(quick)] if quick else []
    argv += ["--data-dir", str(data_dir)] if data_dir else []
    argv += ["--no-content"] if no_content else []
    argv += ["--no-ragrec"] if no_ragrec else []
    argv += ["--no-baselines"] if no_baselines else []
    argv += ["--keep-data-dir"] if keep_data_dir else []
    argv += ["--rerank", "--rerank-users", str(rerank_users)] if rerank else []
    try:
        evaluation_main(argv)
    except EvalUsageError as exc:
        fail(str(exc), 2)
