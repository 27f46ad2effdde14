"""The temporal split: tie-break, no leakage, partition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ragrec.evaluation.protocol import temporal_split

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
