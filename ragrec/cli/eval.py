"""`ragrec eval`: the offline evaluation on MovieLens (baselines against ragrec's own path); report in reports/."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragrec.cli.app import app


@app.command("eval")
def eval_cmd(
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="MovieLens folder [default: ../shared/datasets/"
                                           "movielens-latest-small]"),
    out: Path = typer.Option(Path("reports"), "--out", help="Where the report (md, json, png) goes."),
    quick: Optional[int] = typer.Option(None, "--quick", metavar="N", min=1, help="Evaluate N users only (CI)."),
    sample: str = typer.Option("first", "--sample", help="Which N users with --quick: first or random."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random user sample."),
    no_content: bool = typer.Option(False, "--no-content", help="Skip content vectors (no ILD, no model load)."),
    no_ragrec: bool = typer.Option(False, "--no-ragrec", help="Baselines only."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir",
                                            help="Where ragrec's pipeline keeps its Qdrant Edge shards and event logs."),
) -> None:
    """Offline evaluation: tuned on validation, reported once on test, for the baselines and ragrec's pipeline."""
    from ragrec.evaluation.__main__ import main as evaluation_main

    argv = ["--out", str(out), "--sample", sample, "--seed", str(seed)]
    argv += ["--dataset", str(dataset)] if dataset else []
    argv += ["--quick", str(quick)] if quick else []
    argv += ["--data-dir", str(data_dir)] if data_dir else []
    argv += ["--no-content"] if no_content else []
    argv += ["--no-ragrec"] if no_ragrec else []
    evaluation_main(argv)
