"""The CI quick mode of `ragrec eval` (100 users, both protocols, ragrec's real path) against the committed
quick report: every method, ragrec included, must reproduce its test NDCG@10 and HR@10 there. When a change is
meant to move them, rerun `ragrec eval --quick 100` and commit reports/eval-quick.* with it. The run starts from
the run's demo catalog (`shared_catalog`: ingested once, by the harness's own `ensure_catalog`, with the code
defaults), as every phase of a run starts from a copy of it."""

import json
import os
from pathlib import Path

import pytest

from ragrec.evaluation.__main__ import main
from ragrec.evaluation.data import DEFAULT_DATASET

COMMITTED = Path(__file__).resolve().parents[2] / "reports" / "eval-quick.json"
# one hit of 100 users (HR moves by 0.01, NDCG by at most 0.01): room for a near-tie decided differently by another
# BLAS or CPU, not for a change of method; the standard error at 100 users is ~0.015 NDCG@10, ~0.03 HR@10
TOLERANCE = 0.0101


def test_quick_eval_reproduces_the_committed_report(tmp_path, monkeypatch, shared_catalog):
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
            for key in ("ndcg@10", "hr@10"):
                got, want = res["metrics"][key]["mean"], before[res["name"]]["metrics"][key]["mean"]
                assert abs(got - want) <= TOLERANCE, (
                    f"{new_run['protocol']} {res['name']} {key}: {got:.4f}, committed {want:.4f} "
                    f"(rerun `ragrec eval --quick 100` and commit reports/eval-quick.* if the change is intended)")
