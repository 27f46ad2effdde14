"""Baselines on synthetic data, and the generic Recommender path against the fast path."""

import numpy as np
import scipy.sparse as sp

from ragrec.evaluation.baselines import EASE, ItemKNN, Popularity, RandomScores, ease_matrix
from ragrec.evaluation.method import FunctionRecommender
from ragrec.evaluation.protocol import temporal_split
from ragrec.evaluation.runner import Candidate, EvalConfig, evaluate, rank_method, run

from .conftest import make_dataset


def co_occurrence_dataset():
    """Items 0 and 1 always together, items 2..9 random noise; 40 users. The last user has only item 0."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        noise = rng.choice(np.arange(2, 10), size=3, replace=False)
        seq = [0, *noise] if u == 39 else [0, 1, *noise] if u % 2 else [1, 0, *noise]
        rows += [(u, int(m), t) for t, m in enumerate(seq)]
    return make_dataset(rows, 10)


def test_ease_recovers_co_occurrence():
    x = sp.csr_matrix(np.array([[1, 1, 0, 0]] * 20 + [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 1]], dtype=np.float32))
    b = ease_matrix(x, lam=1.0)
    assert np.allclose(np.diag(b), 0)
    assert b[0, 1] > 0.5 and b[1, 0] > 0.5 and b[0, 1] > 5 * abs(b[0, 2])


def test_ease_and_knn_rank_the_partner_first():
    split = temporal_split(co_occurrence_dataset())
    users = split.eval_users()
    for method in (EASE(lam=1.0), ItemKNN(neighbors=5)):
        method.fit(split.history)
        user = int(users[-1])  # history [0, n]: the partner 1 must come first
        scores = method.score(np.array([user]))[0]
        assert np.argmax(np.where(np.isin(np.arange(10), split.history.history(user)[0]), -np.inf, scores)) == 1


def test_generic_path_matches_fast_path():
    split = temporal_split(co_occurrence_dataset())
    users = split.eval_users()
    fast = EASE(lam=5.0)
    fast.fit(split.history)
    generic = FunctionRecommender("ease-generic", fast.recommend)
    ranked_fast, _ = rank_method(fast, split.history, users)
    ranked_generic, notes = rank_method(generic, split.history, users)
    assert notes == []
    np.testing.assert_array_equal(ranked_fast[:, :5], ranked_generic[:, :5])


def test_runner_filters_seen_and_reports_se():
    split = temporal_split(co_occurrence_dataset())

    def cheeky(user_id, history, timestamps, k):
        return list(history) + [9, 9, 8]  # seen items and a duplicate

    res = evaluate(FunctionRecommender("cheeky", cheeky), split, "validation", split.eval_users())
    assert res.notes and "already-seen" in res.notes[0]
    out = run(
        [Candidate(name="pop", factory=Popularity), Candidate(name="rand", factory=RandomScores, grid=[{"seed": 0}, {"seed": 1}])],
        split,
        EvalConfig(quick_users=10),
        log=lambda _: None,
    )
    assert [r.name for r in out.test] == ["pop", "rand"] and len(out.validation) == 3
    assert out.n_users == 10 and out.test[0].metrics["hr@10"].se is not None
