"""The report's paired comparisons, the effective Settings it records, and the pipeline's result reader."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from ragrec.evaluation.__main__ import effective_settings, main
from ragrec.evaluation.pipeline import result_ids
from ragrec.evaluation.report import losses, markdown, paired, summary
from ragrec.evaluation.runner import EvalConfig, EvalRun, EvalSuite, MethodResult, Stat


def result(name: str, ndcg: list[float], coverage: float = 0.1) -> MethodResult:
    v = np.asarray(ndcg)
    stat = Stat(mean=float(v.mean()), se=float(v.std(ddof=1) / np.sqrt(v.size)))
    metrics = {k: stat for k in ("ndcg@10", "hr@10", "recall@50", "recall@100")} | {"coverage@10": Stat(mean=coverage)}
    return MethodResult(name=name, phase="test", metrics=metrics, n_users=v.size, fit_seconds=0, eval_seconds=0,
                        per_user={k: v.tolist() for k in ("ndcg@10", "hr@10", "recall@50", "recall@100")})


def suite(*tests: list[MethodResult]) -> EvalSuite:
    runs = [EvalRun(dataset="d", dataset_sha256="0" * 64, protocol=p, description=p, config=EvalConfig(),
                    n_users=4, n_items=10, validation=[], test=t, started_at="now", runtime_seconds=0)
            for p, t in zip(("temporal", "random"), tests)]
    return EvalSuite(runs=runs, started_at="now", runtime_seconds=0)


def test_paired_difference_uses_per_user_values():
    a, b = result("ragrec", [1.0, 0.0, 0.5, 0.5]), result("ease", [0.5, 0.0, 0.5, 0.0])
    diff, se = paired(a, b, "ndcg@10")
    assert diff == pytest.approx(0.25) and se == pytest.approx(np.std([0.5, 0, 0, 0.5], ddof=1) / 2)
    a.per_user = {}  # as read back from JSON: no per-user values, no paired error
    assert paired(a, b, "ndcg@10") == (pytest.approx(0.25), None)


def test_summary_and_losses_name_the_best_baseline_and_where_ragrec_loses():
    temporal = [result("ease", [0.2, 0.0, 0.2, 0.0]), result("ragrec", [0.5, 0.1, 0.3, 0.1], coverage=0.2)]
    random = [result("ease", [0.5, 0.3, 0.5, 0.3]), result("popularity", [0.1, 0, 0, 0]),
              result("ragrec", [0.4, 0.3, 0.4, 0.3])]
    s = suite(temporal, random)
    rows = summary(s)
    assert rows[2].startswith("| temporal |") and "| ease |" in rows[2] and "| 2.50 |" in rows[2]
    assert rows[3].startswith("| random |") and "| 0.88 |" in rows[3] and "-0.0500 ± 0.0289" in rows[3]
    lost = losses(s)
    assert any(line.startswith("| random | ease | ndcg@10 |") for line in lost)
    assert not any("temporal" in line for line in lost) and not any("popularity" in line for line in lost)
    assert "## Where ragrec loses" in markdown(s)


def test_effective_settings_record_environment_and_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RAGREC_BLEND_CONTENT=0.7\n")
    monkeypatch.setenv("RAGREC_HALF_LIFE_EVENTS", "3")
    monkeypatch.setenv("RAGREC_QDRANT_API_KEY", "secret")
    current, changed = effective_settings(tmp_path / "run")
    assert current["blend_content"] == 0.7 and current["half_life_events"] == 3.0
    assert current["data_dir"] == str(tmp_path / "run")
    assert changed == {"blend_content": 0.7, "half_life_events": 3.0, "qdrant_api_key": "***"}
    assert "secret" not in json.dumps(current)


def test_result_ids_reads_a_list_or_an_object_with_items():
    hits = [SimpleNamespace(item_id="3"), SimpleNamespace(item_id="14")]
    assert result_ids(hits) == [3, 14]
    assert result_ids(SimpleNamespace(items=hits)) == [3, 14]


def test_bad_options_are_refused_before_any_work():
    from ragrec.evaluation.__main__ import EvalUsageError

    with pytest.raises(EvalUsageError, match="unknown protocols"):
        main(["--protocols", "temporal,leave-one-out"])
    with pytest.raises(EvalUsageError, match="invalid choice"):
        main(["--sample", "bogus"])
