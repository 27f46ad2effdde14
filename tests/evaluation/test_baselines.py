"""Baselines on synthetic data, and the generic Recommender path against the fast path."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ragrec.evaluation import baselines
from ragrec.evaluation.baselines import EASE, ItemKNN, LastItemContent, Popularity, RandomScores, decay_matrix, ease_matrix
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


# --- recency-aware baselines ------------------------------------------------------------------------------------


histories = st.lists(
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 400)), min_size=1, max_size=12, unique_by=lambda r: r[0]),
    min_size=1, max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(histories, st.sampled_from([0.5, 1.0, 3.0]), st.sampled_from([None, 1.0, 30.0]))
def test_decay_matrix_halves_per_later_event_and_per_day(users, half_life_events, half_life_days):
    rows = [(u, m, t * 3600) for u, hist in enumerate(users) for m, t in hist]
    split = temporal_split(make_dataset(rows, 10))
    train = split.validation  # every user keeps at least one interaction
    w = decay_matrix(train, half_life_events, half_life_days).toarray()
    for u in range(train.n_users):
        items, stamps = train.history(u)
        n = len(items)
        for pos, (i, t) in enumerate(zip(items, stamps)):
            expected = 0.5 ** ((n - 1 - pos) / half_life_events)
            if half_life_days is not None:
                expected *= 0.5 ** ((stamps[-1] - t) / 86400 / half_life_days)
            assert np.isclose(w[u, i], expected, rtol=1e-5)
        assert np.isclose(w[u, items[-1]], 1.0) and (w[u] > 0).sum() == n  # the latest item weighs 1
    np.testing.assert_array_equal(decay_matrix(train).toarray(), train.matrix().toarray())


def test_ease_recency_follows_the_last_item():
    """Pairs (0,1), (2,3) always co-occur; a user who saw 0 long ago and 2 last gets 3 first only with decay."""
    rng = np.random.default_rng(1)
    rows = []
    for u in range(60):
        pair = [0, 1] if u % 3 else [2, 3]
        noise = rng.choice(np.arange(4, 12), size=3, replace=False)
        rows += [(u, int(m), t) for t, m in enumerate([*noise, *pair] if u % 2 else [*pair, *noise])]
    rows += [(99, 0, 0), (99, 5, 1), (99, 6, 2), (99, 2, 3), (99, 7, 4), (99, 8, 5)]  # 8, 7 become the targets
    split = temporal_split(make_dataset(rows, 12))
    user = int(np.searchsorted(split.history.user_ids, 99))
    seen = split.history.history(user)[0]

    def first(method):
        method.fit(split.history)
        scores = method.score(np.array([user]))[0]
        scores[seen] = -np.inf
        return int(np.argmax(scores))

    assert first(EASE(lam=1.0)) == 1  # the pair of 0 is the more common one
    assert first(EASE(lam=1.0, half_life_events=0.5)) == 3  # the pair of the last item, 2


def test_ease_cache_reuses_the_matrix_per_fit_data_and_lambda():
    split = temporal_split(co_occurrence_dataset())
    a, b, c = EASE(lam=5.0), EASE(lam=5.0, half_life_events=1.0), EASE(lam=7.0)
    a.fit(split.history)
    b.fit(split.history)
    assert b.b is a.b  # a decay grid over one λ inverts once
    c.fit(split.history)
    assert c.b is not a.b and not np.allclose(c.b, a.b)
    b.fit(split.history)
    assert b.b is a.b  # both λ stay cached
    a.fit(split.validation)
    assert a.b is not c.b
    np.testing.assert_allclose(a.b, ease_matrix(split.validation.matrix(), 5.0), rtol=1e-4, atol=1e-6)
    for lam in range(10, 10 + baselines.EASE_CACHE_PER_FIT + 2):
        EASE(lam=float(lam)).fit(split.history)
    assert len(baselines._EASE_CACHE[split.history]) == baselines.EASE_CACHE_PER_FIT


def test_last_item_content_ranks_neighbours_of_the_latest_item():
    rows = [(1, 0, 1), (1, 4, 2), (1, 5, 3), (1, 6, 4)]  # history 0, 4; targets 5, 6
    split = temporal_split(make_dataset(rows, 8))
    vectors = np.eye(8, dtype=np.float32)
    vectors[1] = vectors[0] + 0.1 * vectors[1]  # 1 is next to 0, 3 next to 4
    vectors[3] = vectors[4] + 0.1 * vectors[3]
    method = LastItemContent(vectors)
    method.fit(split.history)
    scores = method.score(np.array([0]))[0]
    scores[[0, 4]] = -np.inf
    assert int(np.argmax(scores)) == 3
    method.fit(split.validation)  # last item is now 5: its own neighbour list
    assert np.isclose(method.score(np.array([0]))[0][5], 1.0)
