"""The CI quick mode of `ragrec eval`: ragrec's real pipeline on 100 MovieLens users must beat popularity."""

from pathlib import Path

import pytest

from ragrec.evaluation.__main__ import baseline_candidates, ragrec_candidate
from ragrec.evaluation.data import DEFAULT_DATASET, load_movielens
from ragrec.evaluation.protocol import temporal_split
from ragrec.evaluation.report import write_report
from ragrec.evaluation.runner import EvalConfig, run


def test_quick_eval_pipeline_beats_popularity(tmp_path):
    if not (Path(DEFAULT_DATASET) / "ratings.csv").exists():
        pytest.skip(f"MovieLens not found at {DEFAULT_DATASET} (the shared datasets folder is absent)")
    split = temporal_split(load_movielens(DEFAULT_DATASET))
    popularity = [c for c in baseline_candidates(quick=True) if c.name == "popularity"]
    result = run(popularity + [ragrec_candidate(tmp_path / "data", quick=True)], split, EvalConfig(quick_users=100))
    test = {r.name: r.metrics for r in result.test}
    assert test["ragrec"]["ndcg@10"].mean > test["popularity"]["ndcg@10"].mean
    assert test["ragrec"]["hr@10"].mean > test["popularity"]["hr@10"].mean
    paths = write_report(result, tmp_path / "reports", "eval-quick")
    assert {"md", "json", "png"} <= set(paths) and "ragrec" in paths["md"].read_text()
