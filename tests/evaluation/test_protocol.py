"""The splits: temporal (tie-break, no leakage, partition) and random holdout (seeded, one target each, partition)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ragrec.evaluation.protocol import make_split, random_split, temporal_split

from .conftest import make_dataset


def test_tie_break_by_movie_id(tiny):
    s = temporal_split(tiny)
    # user 1: movies 2 and 3 both at t=30 -> movieId decides: 3 is last
    assert s.test_item[0] == 3 and s.validation_item[0] == 2
    assert s.history.history(0)[0].tolist() == [0, 1]
    assert s.validation.history(0)[0].tolist() == [0, 1, 2]
    # user 2 is ordered by time, not by movieId
    assert s.test_item[1] == 1 and s.validation_item[1] == 0 and s.history.history(1)[0].tolist() == [4]


def test_short_users_are_not_evaluated():
    ds = make_dataset([(1, 0, 1), (1, 1, 2), (2, 0, 1), (2, 1, 2), (2, 2, 3)])
    s = temporal_split(ds)
    assert s.eval_users().tolist() == [1]
    assert s.test_item[0] == -1 and s.history.history(0)[0].tolist() == [0, 1]


rows = st.lists(
    st.tuples(st.integers(1, 6), st.integers(0, 40), st.integers(0, 5)), min_size=1, max_size=80, unique_by=lambda r: r[:2]
)


@settings(max_examples=80, deadline=None)
@given(rows)
def test_split_partitions_without_leakage(rows):
    ds = make_dataset(rows, 41)
    s = temporal_split(ds)
    for u in range(ds.n_users):
        mine = sorted((t, m) for uid, m, t in rows if uid == ds.user_ids[u])
        hist = s.history.history(u)[0].tolist()
        fit_val = s.validation.history(u)[0].tolist()
        if len(mine) < 3:
            assert s.test_item[u] == -1 and hist == [m for _, m in mine]
            continue
        assert s.test_item[u] == mine[-1][1] and s.validation_item[u] == mine[-2][1]
        assert hist == [m for _, m in mine[:-2]] and fit_val == hist + [mine[-2][1]]
        assert s.test_item[u] not in fit_val and s.validation_item[u] not in hist
        assert np.all(np.diff(s.validation.history(u)[1]) >= 0)


def test_matrix_keeps_time_order(tiny):
    s = temporal_split(tiny)
    before = s.validation.items.copy()
    x = s.validation.matrix()
    np.testing.assert_array_equal(s.validation.items, before)  # scipy must not sort our arrays in place
    assert x.shape == (2, 6) and x.sum() == 5


# --- random holdout ------------------------------------------------------------------------------------------


def _positions(ds, user):
    """(timestamp, movieId) of a user's interactions in time order."""
    return sorted((int(t), int(ds.item_ids[i])) for i, t in zip(ds.items[ds.users == user], ds.timestamps[ds.users == user]))


@settings(max_examples=80, deadline=None)
@given(rows, st.integers(0, 3))
def test_random_split_partitions_without_leakage(rows, seed):
    ds = make_dataset(rows, 41)
    s = random_split(ds, seed=seed)
    for u in range(ds.n_users):
        mine = _positions(ds, u)
        items = [m for _, m in mine]
        hist = s.history.history(u)[0].tolist()
        fit_val = s.validation.history(u)[0].tolist()
        if len(set(items)) < 3:
            assert s.test_item[u] == s.validation_item[u] == -1 and hist == items
            continue
        test, val = int(s.test_item[u]), int(s.validation_item[u])
        assert test != val and {test, val} <= set(items)  # exactly one target each, distinct, from the user
        assert hist == [m for m in items if m not in (test, val)]  # the rest, in time order
        assert fit_val == [m for m in items if m != test]  # validation fit = history + the validation item
        assert test not in fit_val and val not in hist
        assert np.all(np.diff(s.validation.history(u)[1]) >= 0)
    assert set(s.eval_users().tolist()) == {u for u in range(ds.n_users) if len(set(ds.items[ds.users == u])) >= 3}


def test_random_split_is_seeded_and_per_user():
    rng = np.random.default_rng(0)
    rows = [(u, int(m), t) for u in range(1, 41) for t, m in enumerate(rng.choice(60, size=12, replace=False))]
    a, b = random_split(make_dataset(rows, 60), seed=7), random_split(make_dataset(rows, 60), seed=7)
    np.testing.assert_array_equal(a.test_item, b.test_item)
    np.testing.assert_array_equal(a.validation_item, b.validation_item)
    other = random_split(make_dataset(rows, 60), seed=8)
    assert (other.test_item != a.test_item).sum() > 20  # a different seed draws different targets
    # a user's targets depend on the seed and their own data only: removing other users changes nothing
    alone = random_split(make_dataset([r for r in rows if r[0] == 5], 60), seed=7)
    assert (alone.test_item[0], alone.validation_item[0]) == (a.test_item[4], a.validation_item[4])
    # targets are spread over the history, not the last items (about 1 in 12 for the last position)
    last = np.array([a.history.history(u)[0].size for u in range(40)])
    assert (last == 10).all()
    assert (a.test_timestamp == 11).sum() < 15 and len(np.unique(a.test_timestamp)) > 6


def test_random_split_drops_repeated_target_items():
    ds = make_dataset([(1, 0, 1), (1, 1, 2), (1, 0, 3), (1, 2, 4), (1, 3, 5)])
    for seed in range(10):
        s = random_split(ds, seed=seed)
        assert s.test_item[0] not in s.validation.history(0)[0]
        assert s.validation_item[0] not in s.history.history(0)[0]
        assert len(s.validation.history(0)[0]) == 5 - (2 if s.test_item[0] == 0 else 1)


def test_protocol_descriptions():
    ds = make_dataset([(1, 0, 1), (1, 1, 2), (1, 2, 3)])
    assert make_split(ds, "temporal").description.startswith("temporal leave-last-two")
    assert "seed 3" in make_split(ds, "random", seed=3).description
