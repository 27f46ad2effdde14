"""Metric math: known values and invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragrec.evaluation import metrics as M


def ranked_lists(n_items: int = 30, k: int = 12):
    """Rows of distinct item ids (some rows padded with -1)."""
    row = st.lists(st.integers(0, n_items - 1), unique=True, min_size=0, max_size=k).map(
        lambda xs: xs + [-1] * (k - len(xs))
    )
    return st.lists(row, min_size=1, max_size=8).map(lambda rows: np.array(rows, dtype=np.int64))


def test_ndcg_known_values():
    ranked = np.array([[5, 1, 2], [1, 5, 2], [1, 2, 5], [1, 2, 3]])
    targets = np.array([5, 5, 5, 5])
    np.testing.assert_allclose(M.ndcg_at_k(ranked, targets, 3), [1.0, 1 / np.log2(3), 0.5, 0.0])
    np.testing.assert_allclose(M.hit_rate_at_k(ranked, targets, 2), [1, 1, 0, 0])


@settings(max_examples=60, deadline=None)
@given(ranked_lists(), st.integers(0, 29))
def test_hr_monotone_and_bounded(ranked, target):
    targets = np.full(len(ranked), target)
    hrs = [M.hit_rate_at_k(ranked, targets, k) for k in range(1, 13)]
    for a, b in zip(hrs, hrs[1:]):
        assert np.all(a <= b)
    for k in range(1, 13):
        nd = M.ndcg_at_k(ranked, targets, k)
        assert np.all((0 <= nd) & (nd <= M.hit_rate_at_k(ranked, targets, k)))


@settings(max_examples=60, deadline=None)
@given(ranked_lists(), st.lists(st.lists(st.integers(0, 29), max_size=5), min_size=8, max_size=8), st.integers(1, 12))
def test_recall_bounds(ranked, rel, k):
    r = M.recall_at_k(ranked, rel[: len(ranked)], k)
    assert np.all((0 <= r) & (r <= 1))


def test_recall_single_target_equals_hr():
    ranked = np.array([[3, 4, 5], [0, 1, 2]])
    t = np.array([4, 9])
    np.testing.assert_array_equal(M.recall_at_k(ranked, t, 2), M.hit_rate_at_k(ranked, t, 2))
    np.testing.assert_allclose(M.recall_at_k(ranked, [[4, 5, 7, 8], []], 3), [0.5, 0.0])


@settings(max_examples=60, deadline=None)
@given(ranked_lists(), st.integers(1, 12))
def test_coverage_bounds(ranked, k):
    c = M.catalog_coverage_at_k(ranked, 30, k)
    assert 0 <= c <= min(1.0, ranked.shape[0] * k / 30)


def test_ild_and_novelty():
    vecs = np.eye(4)
    ranked = np.array([[0, 1, 2], [0, 0 * 0 + 3, -1], [1, -1, -1]])
    ild = M.intra_list_diversity_at_k(ranked, vecs, 3)
    np.testing.assert_allclose(ild[:2], [1.0, 1.0])
    assert np.isnan(ild[2])
    same = M.intra_list_diversity_at_k(np.array([[0, 1]]), np.array([[1.0, 0], [2.0, 0]]), 2)
    np.testing.assert_allclose(same, [0.0], atol=1e-12)
    counts = np.array([10, 0, 5, 5])
    info = M.self_information(counts)
    assert info[1] > info[2] > info[0]
    nov = M.novelty_at_k(np.array([[0, 2], [-1, -1]]), counts, 2)
    assert nov[0] == pytest.approx((info[0] + info[2]) / 2) and np.isnan(nov[1])


def test_top_k_orders_and_masks():
    s = np.array([[0.1, 0.9, -np.inf, 0.5], [1.0, 1.0, 0.0, -np.inf]])
    np.testing.assert_array_equal(M.top_k(s, 4), [[1, 3, 0, -1], [0, 1, 2, -1]])
