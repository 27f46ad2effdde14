"""The generation section of the evaluation: rerank gain over fusion weights (tuned on validation) and
description faithfulness metrics."""

from __future__ import annotations

import math

import pytest

from ragrec.evaluation.generation import (RerankSample, description_metrics, markdown, ndcg, rerank_sample,
                                          rerank_table, tune_rerank_weight)
from ragrec.generation import Describer
from ragrec.generation.base import NoLLM
from ragrec.generation.describe import CheckResult, Described
from ragrec.generation.rerank import LLMReranker


def sample(target_pos: int, llm_likes_target: bool, n: int = 10) -> RerankSample:
    ids = [f"i{k}" for k in range(n)]
    llm = [0.01] * n
    llm[target_pos if llm_likes_target else (target_pos + 1) % n] = 0.9
    return RerankSample(item_ids=ids, retrieval=[1.0 - 0.05 * k for k in range(n)], llm=llm, target=ids[target_pos])


def test_a_helpful_llm_wins_and_a_useless_one_tunes_to_zero():
    helpful = [sample(p, True) for p in (3, 5, 7, 9)]
    useless = [sample(p, False) for p in (0, 1, 2, 3)]
    assert tune_rerank_weight(helpful)["weight"] > 0
    assert tune_rerank_weight(useless)["weight"] == 0.0  # never worse than retrieval by default
    rows = rerank_table(helpful, [0.0, 1.0])
    assert rows[0]["gain"] == 0 and rows[1]["gain"] > 0 and rows[1]["ndcg"] == pytest.approx(1.0)
    assert ndcg(helpful, 0.0).tolist() == pytest.approx([1 / math.log2(p + 2) for p in (3, 5, 7, 9)])


def test_failed_users_keep_retrieval_order():
    failed = RerankSample(item_ids=["a", "b"], retrieval=[1.0, 0.5], llm=None, target="b", error="timeout")
    assert rerank_table([failed], [0.0, 1.0])[1]["gain"] == 0 and rerank_table([failed])[0]["llm_failed"] == 1


def test_rerank_sample_with_the_real_local_model(local_llm, gen_settings, history, candidates):
    s = rerank_sample(LLMReranker(local_llm, gen_settings), history, candidates, target=candidates[4].item_id)
    assert s.llm is not None and len(s.llm) == 20 and s.error is None
    assert rerank_table([s], [0.0])[0]["ndcg"] == pytest.approx(1 / math.log2(6))


def test_description_metrics(gen_settings, history, candidates):
    templated = Describer(NoLLM(), gen_settings).describe_results(history, candidates[:2])
    c = candidates[2]
    written = [
        Described(index=0, item=c.model_copy(update={"description": "ok text", "description_source": "llm"}),
                  raw="ok text", check=CheckResult(ok=True)),
        Described(index=1, item=c.model_copy(update={"description": "fallback", "description_source": "template"}),
                  raw="bad text", check=CheckResult(ok=False, failed=["year", "genre"],
                                                    hallucinated=["year 1999", "genre horror"])),
    ]
    m = description_metrics(templated + written)
    assert (m.descriptions, m.llm_written, m.errors) == (4, 2, 2)
    assert m.passed == 0.25 and m.fell_back == 0.75 and m.hallucination_rate == 0.5
    assert m.failed_checks == {"year": 1, "genre": 1} and m.hallucinated == {"year": 1, "genre": 1}
    text = markdown(rerank_table([sample(3, True)]), m, users=2, model="SmolLM2")
    assert "## Generation" in text and "hallucination" in text and "| 0.00 |" in text
