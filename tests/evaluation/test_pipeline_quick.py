"""The CI quick mode of `ragrec eval` (100 users, both protocols, ragrec's real path) against the committed
quick report: the baselines must reproduce it and ragrec must not move. When a change to ragrec is meant to move
its numbers, rerun `ragrec eval --quick 100` and commit reports/eval-quick.* with it."""

import json
import os
from pathlib import Path

import pytest

from ragrec.evaluation.__main__ import main
from ragrec.evaluation.data import DEFAULT_DATASET

COMMITTED = Path(__file__).resolve().parents[2] / "reports" / "eval-quick.json"
BASELINE_TOLERANCE = 0.002  # numpy baselines are deterministic; this only absorbs BLAS rounding
RAGREC_TOLERANCE = 0.01  # below one standard error at 100 users (~0.015); more is a change of ragrec's quality


def test_quick_eval_reproduces_the_committed_report(tmp_path, monkeypatch):
    if not (Path(DEFAULT_DATASET) / "ratings.csv").exists():
        pytest.skip(f"MovieLens not found at {DEFAULT_DATASET} (the shared datasets folder is absent)")
    for key in [k for k in os.environ if k.startswith("RAGREC_")]:
        monkeypatch.delenv(key)  # ragrec runs with the code defaults, as in the committed report
    monkeypatch.chdir(tmp_path)  # and no .env
    main(["--quick", "100", "--out", str(tmp_path / "reports"), "--data-dir", str(tmp_path / "data"),
          "--keep-data-dir"])

    (run_dir,) = (tmp_path / "data").iterdir()  # one fresh data dir for the run
    assert (run_dir / "catalog" / "collections.json").exists()
    assert not any((run_dir / "runs").iterdir())  # each phase's copy of the catalog was dropped

    new = json.loads((tmp_path / "reports" / "eval-quick.json").read_text())
    old = json.loads(COMMITTED.read_text())
    assert new["settings_changed"] == {}
    assert [r["protocol"] for r in new["runs"]] == [r["protocol"] for r in old["runs"]] == ["temporal", "random"]
    for new_run, old_run in zip(new["runs"], old["runs"]):
        before = {r["name"]: r for r in old_run["test"]}
        assert [r["name"] for r in new_run["test"]] == list(before) and "ragrec" in before
        for res in new_run["test"]:
            tolerance = RAGREC_TOLERANCE if res["name"] == "ragrec" else BASELINE_TOLERANCE
            for key in ("ndcg@10", "hr@10"):
                got, want = res["metrics"][key]["mean"], before[res["name"]]["metrics"][key]["mean"]
                assert abs(got - want) <= tolerance, (
                    f"{new_run['protocol']} {res['name']} {key}: {got:.4f}, committed {want:.4f} "
                    f"(rerun `ragrec eval --quick 100` and commit reports/eval-quick.* if the change is intended)")
