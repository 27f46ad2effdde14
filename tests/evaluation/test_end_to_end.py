"""Quick run on the real MovieLens folder (skipped when it is not there)."""

import json

import numpy as np
import pytest

from ragrec.evaluation.baselines import Popularity, RandomScores
from ragrec.evaluation.data import DEFAULT_DATASET, load_movielens
from ragrec.evaluation.protocol import random_split, temporal_split
from ragrec.evaluation.report import write_report
from ragrec.evaluation.runner import Candidate, EvalConfig, EvalSuite, run

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATASET / "ratings.csv").exists(),
    reason=f"MovieLens folder {DEFAULT_DATASET} not present: end-to-end evaluation skipped",
)


def test_quick_run_on_movielens(tmp_path):
    ds = load_movielens(DEFAULT_DATASET)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (610, 9742, 100836)
    split = temporal_split(ds)
    assert int((split.validation_timestamp == split.test_timestamp).sum()) == 94
    holdout = random_split(ds, seed=0)
    assert len(holdout.eval_users()) == len(split.eval_users()) == 610
    vectors = np.random.default_rng(0).normal(size=(ds.n_items, 8))
    runs = [
        run(
            [Candidate(name="random", factory=RandomScores), Candidate(name="popularity", factory=Popularity)],
            s,
            EvalConfig(quick_users=100, quick_sample="random", seed=1),
            item_vectors=vectors,
            log=lambda _: None,
        )
        for s in (split, holdout)
    ]
    for out in runs:
        rand, pop = out.test
        assert pop.metrics["hr@10"].mean > rand.metrics["hr@10"].mean
        assert pop.metrics["coverage@10"].mean < 0.01 < rand.metrics["coverage@10"].mean
    suite = EvalSuite(runs=runs, started_at=runs[0].started_at, runtime_seconds=1.0)
    paths = write_report(suite, tmp_path, "quick")
    saved = json.loads(paths["json"].read_text())
    assert [r["protocol"] for r in saved["runs"]] == ["temporal", "random"]
    assert saved["runs"][0]["dataset_sha256"] == ds.sha256
    text = paths["md"].read_text()
    assert "## Protocol: temporal" in text and "## Protocol: random" in text and "random holdout (seed 0)" in text
    assert paths["png"].stat().st_size > 1000
