"""`ragrec eval --rerank`: the rerank weight is chosen on validation only, and the whole path (ragrec's real lists,
the bundled LLM, the descriptions, the report's generation section) on a tiny quick run."""

from __future__ import annotations

import json
import math
import os

import pytest
from typer.testing import CliRunner

from conftest import MODEL_CACHE
from ragrec.evaluation.data import DEFAULT_DATASET
from ragrec.evaluation.generation import WEIGHTS, RerankSample, choose_weight, hits, in_candidates, ndcg


def sample(target_pos: int | None, llm_likes_target: bool, n: int = 20) -> RerankSample:
    """Retrieval order i0, i1, ...; the LLM gives one item a high score: the target, or the item after it.
    target_pos None: the target is not among the candidates."""
    ids = [f"i{k}" for k in range(n)]
    llm = [0.01] * n
    pos = 0 if target_pos is None else target_pos
    llm[pos if llm_likes_target else (pos + 1) % n] = 0.9
    return RerankSample(item_ids=ids, retrieval=[1.0 - 0.01 * k for k in range(n)], llm=llm,
                        target="elsewhere" if target_pos is None else ids[target_pos])


HELPFUL = [sample(p, True) for p in (12, 14, 5, 9)]  # the rerank lifts every target to the top
HARMFUL = [sample(p, False) for p in (0, 1, 2, 3)]  # the rerank pushes each target down


def test_the_weight_is_chosen_on_validation_not_on_test():
    # best on test would be w = 1 (the LLM finds every target), but validation says the LLM hurts: w = 0
    result = choose_weight(HARMFUL, HELPFUL)
    assert result.chosen == 0.0
    assert [r["weight"] for r in result.validation] == list(WEIGHTS)  # every weight on validation ...
    assert [r["weight"] for r in result.test] == [0.0]  # ... test only at the chosen point (= no rerank)
    assert result.test[0]["ndcg"] == pytest.approx(ndcg(HELPFUL, 0.0).mean())
    assert ndcg(HELPFUL, 1.0).mean() > result.test[0]["ndcg"]  # w = 1 was better on test, and not chosen

    # the other way round: validation likes the LLM, test does not; the chosen w is reported with its loss
    result = choose_weight(HELPFUL, HARMFUL)
    assert result.chosen > 0.0 and [r["weight"] for r in result.test] == [0.0, result.chosen]
    base, chosen = result.test
    assert chosen["gain"] < 0 and chosen["gain"] == pytest.approx(chosen["ndcg"] - base["ndcg"])
    assert chosen["hr_gain"] == pytest.approx(chosen["hr"] - base["hr"])
    assert choose_weight(HELPFUL, HELPFUL).chosen == result.chosen  # test samples never move the choice


def test_a_reranker_is_bounded_by_recall_at_n():
    samples = [sample(15, True), sample(None, True), sample(None, True), sample(3, False)]
    assert in_candidates(samples).tolist() == [1.0, 0.0, 0.0, 1.0]
    for w in WEIGHTS:
        assert (ndcg(samples, w) <= hits(samples, w)).all() and (hits(samples, w) <= in_candidates(samples)).all()
    assert hits(samples, 0.0).tolist() == [0.0, 0.0, 0.0, 1.0] and hits(samples, 1.0).tolist() == [1.0, 0, 0, 1.0]  # 16th -> 1st; 4th -> 5th


def test_the_cli_mirrors_every_harness_option_and_passes_rerank_on(monkeypatch):
    import typer

    from ragrec.cli import app
    from ragrec.evaluation import __main__ as harness

    command = typer.main.get_command(app).commands["eval"]
    cli_flags = {opt for p in command.params for opt in p.opts}
    harness_flags = {opt for a in harness.parser()._actions for opt in a.option_strings} - {"-h", "--help"}
    assert harness_flags <= cli_flags, f"ragrec eval lacks {sorted(harness_flags - cli_flags)}"

    seen = []
    monkeypatch.setattr(harness, "main", seen.append)  # only what the CLI hands the harness
    out = CliRunner().invoke(app, ["eval", "--rerank", "--rerank-users", "7", "--no-baselines", "--quick", "3"])
    assert out.exit_code == 0, out.output
    args = harness.parser().parse_args(seen[0])
    assert (args.rerank, args.rerank_users, args.no_baselines, args.quick) == (True, 7, True, 3)


@pytest.mark.slow
def test_rerank_on_a_tiny_quick_run_with_the_real_model(tmp_path, monkeypatch, model_dir, shared_catalog):
    """ragrec's real path on 20 users, the LLM rerank and the descriptions on 2 of them, the bundled SmolLM2 (the
    float model on a CPU without VNNI: ~3x slower there, so the sample is small)."""
    if not (DEFAULT_DATASET / "ratings.csv").exists():
        pytest.skip(f"MovieLens not found at {DEFAULT_DATASET} (the shared datasets folder is absent)")
    from ragrec.evaluation.__main__ import main

    for key in [k for k in os.environ if k.startswith("RAGREC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("RAGREC_LLM_CACHE_DIR", str(MODEL_CACHE))  # the converted model, not a new conversion
    monkeypatch.chdir(tmp_path)  # no .env
    suite = main(["--quick", "20", "--protocols", "temporal", "--no-baselines", "--no-content", "--rerank",
                  "--rerank-users", "2", "--out", str(tmp_path / "reports"), "--data-dir", str(tmp_path / "data")])

    saved = json.loads((tmp_path / "reports" / "eval-quick-rerank.json").read_text())
    (gen,) = saved["generation"]
    assert gen["protocol"] == "temporal" and len(gen["users"]) == 2 and gen["candidates"] == 20
    assert gen["method"] == "verbalizer" and gen["model"] == "bundled:SmolLM2-135M-Instruct"
    assert gen["llm_failed"] == {"validation": 0, "test": 0}  # the real model scored every user

    rerank = gen["rerank"]
    assert [r["weight"] for r in rerank["validation"]] == list(WEIGHTS) and rerank["chosen"] in WEIGHTS
    assert [r["weight"] for r in rerank["test"]] == sorted({0.0, rerank["chosen"]})
    for phase in ("validation", "test"):
        assert 0.0 <= rerank["recall"][phase]["mean"] <= 1.0
    for row in rerank["validation"] + rerank["test"]:
        assert 0.0 <= row["ndcg"] <= row["hr"] + 1e-12 and row["users"] == 2
    for row in rerank["validation"]:
        assert row["hr"] <= rerank["recall"]["validation"]["mean"] + 1e-12  # only the top 20 is reordered

    # w = 0 is ragrec's own list: the same NDCG@10 (exactly) and the same items as ragrec's test run on these users
    assert rerank["test"][0]["ndcg"] == gen["ragrec_ndcg_same_users"]
    assert gen["same_lists"] == 2

    # the LLM's scores: one finite score per candidate, and they reorder the list at w = 1
    samples = suite.generation[0].samples
    assert all(len(s.llm) == len(s.item_ids) == 20 and all(map(math.isfinite, s.llm)) for s in samples["test"])
    from ragrec.evaluation.generation import fused_order

    assert any(fused_order(s, 1.0) != s.item_ids for s in samples["test"])

    d = gen["descriptions"]
    assert d["descriptions"] == d["llm_written"] == 10 and d["errors"] == 0  # top 5 of 2 users, all LLM-written
    for share in ("passed", "fell_back", "hallucination_rate"):
        assert 0.0 <= d[share] <= 1.0
    assert d["passed"] + d["fell_back"] == pytest.approx(1.0)
    assert d["hallucination_rate"] <= d["fell_back"]  # a stated attribute not in the item's data fails a check
    assert 0 < d["mean_llm_chars"] < 400 and d["mean_chars"] >= 20 and d["mean_words"] >= 4

    text = (tmp_path / "reports" / "eval-quick-rerank.md").read_text()
    for needle in ("## Generation (`--rerank`)", "Validation, every weight", "without rerank (w = 0)",
                   "Recall@20", "What the checks do not catch", "Statement-level precision"):
        assert needle in text
    assert "## ragrec's one configuration" not in text  # no baselines to compare with
    assert saved["runtime_seconds"] > gen["seconds"]["total"] > 0
