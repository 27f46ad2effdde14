"""The two evaluation protocols: temporal leave-last-two and random holdout.

Temporal: per user, interactions are sorted by (timestamp, movieId): the last one is the test target, the one
before it the validation target, the rest is history. The movieId tie-break matters: in ml-latest-small 94 users
have their last two interactions at the same second, and without a fixed rule the split (and every number) would
depend on file order.

Random holdout: per user, one random interaction is the test target and another one the validation target (seeded
per user, so a user's targets depend only on the seed and their own data); the rest, still in time order, is
history. It asks for what a user has liked all along rather than for what comes next.

In both, methods are tuned on the validation phase (fit on history) and reported on the test phase (fit on
history + validation), so the test item is never seen while fitting or tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from ragrec.evaluation.data import Dataset

Phase = Literal["validation", "test"]
ProtocolName = Literal["temporal", "random"]

DESCRIPTIONS: dict[str, str] = {
    "temporal": "temporal leave-last-two: per user sort by (timestamp, movieId); test = last, validation = "
    "second-to-last, history = rest.",
    "random": "random holdout (seed {seed}): per user one random interaction is the test target, another the "
    "validation target, history = rest (time order kept).",
}
COMMON = (
    " Tuning on validation (fit = history); final numbers on test (fit = history + validation). Candidates: every "
    "catalog item the user has not interacted with (full ranking)."
)


@dataclass(frozen=True, eq=False)
class Interactions:
    """Fit data: per user a time-ordered slice `items[indptr[u]:indptr[u+1]]` (CSR layout, all users present)."""

    indptr: np.ndarray  # int64, n_users + 1
    items: np.ndarray  # int32 item index, time order within each user
    timestamps: np.ndarray  # int64
    n_items: int
    user_ids: np.ndarray  # raw ids, so generic methods can talk to real systems
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    @property
    def users(self) -> np.ndarray:
        """User index per interaction (COO view)."""
        return np.repeat(np.arange(self.n_users, dtype=np.int32), np.diff(self.indptr))

    def history(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, timestamps) of one user, oldest first."""
        lo, hi = self.indptr[user], self.indptr[user + 1]
        return self.items[lo:hi], self.timestamps[lo:hi]

    def matrix(self, dtype: type = np.float32) -> sp.csr_matrix:
        """Binary user x item matrix (duplicates collapse to 1)."""
        # copies: scipy sorts indices in place, which would destroy the time order of `items`
        x = sp.csr_matrix(
            (np.ones(len(self.items), dtype=dtype), self.items.copy(), self.indptr.copy()),
            shape=(self.n_users, self.n_items),
        )
        x.sum_duplicates()
        x.data[:] = 1
        return x

    def item_counts(self) -> np.ndarray:
        """Interactions per item (popularity in the fit data)."""
        return np.bincount(self.items, minlength=self.n_items)


@dataclass(frozen=True, eq=False)
class Split:
    """The protocol's output. Users with fewer than 3 interactions have no targets (-1) and are not evaluated."""

    dataset: Dataset
    history: Interactions
    validation: Interactions  # history + validation target: the test phase's fit data
    validation_item: np.ndarray  # int32 per user, -1 if none
    test_item: np.ndarray
    validation_timestamp: np.ndarray  # int64 per user, -1 if none
    test_timestamp: np.ndarray
    protocol: ProtocolName = "temporal"
    seed: int | None = None  # random holdout only

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.protocol].format(seed=self.seed) + COMMON

    def fit_data(self, phase: Phase) -> Interactions:
        """What a method may learn from in this phase."""
        return self.history if phase == "validation" else self.validation

    def targets(self, phase: Phase) -> np.ndarray:
        return self.validation_item if phase == "validation" else self.test_item

    def eval_users(self) -> np.ndarray:
        """Users that have both targets, by index (= ascending userId)."""
        return np.flatnonzero(self.test_item >= 0).astype(np.int32)


def _interactions(ds: Dataset, order: np.ndarray, keep: np.ndarray) -> Interactions:
    sel = order[keep[order]]
    counts = np.bincount(ds.users[sel], minlength=ds.n_users)
    return Interactions(
        indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        items=ds.items[sel],
        timestamps=ds.timestamps[sel],
        n_items=ds.n_items,
        user_ids=ds.user_ids,
        item_ids=ds.item_ids,
    )


def _build(ds: Dataset, order: np.ndarray, val_pos: np.ndarray, test_pos: np.ndarray, evaluated: np.ndarray,
           **meta) -> Split:
    """A Split from the positions (into ds arrays) of each evaluated user's validation and test interaction.

    Every interaction of a user with their target item leaves the fit data with it (MovieLens has one rating per
    user and movie; other logs may repeat an item, and a target seen in the history would be excluded as seen)."""
    validation_item = np.full(ds.n_users, -1, dtype=np.int32)
    test_item = np.full(ds.n_users, -1, dtype=np.int32)
    val_ts = np.full(ds.n_users, -1, dtype=np.int64)
    test_ts = np.full(ds.n_users, -1, dtype=np.int64)
    validation_item[evaluated] = ds.items[val_pos]
    test_item[evaluated] = ds.items[test_pos]
    val_ts[evaluated] = ds.timestamps[val_pos]
    test_ts[evaluated] = ds.timestamps[test_pos]

    in_validation = ds.items != test_item[ds.users]
    in_history = in_validation & (ds.items != validation_item[ds.users])
    return Split(
        dataset=ds,
        history=_interactions(ds, order, in_history),
        validation=_interactions(ds, order, in_validation),
        validation_item=validation_item,
        test_item=test_item,
        validation_timestamp=val_ts,
        test_timestamp=test_ts,
        **meta,
    )


def _time_order(ds: Dataset) -> np.ndarray:
    # lexsort: last key is primary -> user, then timestamp, then movieId (= item index order)
    return np.lexsort((ds.items, ds.timestamps, ds.users))


def temporal_split(ds: Dataset, min_interactions: int = 3) -> Split:
    """Leave-last-two per user by (timestamp, movieId); see module docstring."""
    order = _time_order(ds)
    counts = np.bincount(ds.users, minlength=ds.n_users)
    ends = np.cumsum(counts)
    evaluated = counts >= min_interactions
    return _build(ds, order, order[ends[evaluated] - 2], order[ends[evaluated] - 1], evaluated, protocol="temporal")


def random_split(ds: Dataset, seed: int = 0, min_interactions: int = 3) -> Split:
    """Random holdout: per user two distinct random items (test, validation), drawn from a generator seeded by
    (seed, userId); users with fewer than `min_interactions` distinct items have no targets."""
    order = _time_order(ds)
    counts = np.bincount(ds.users, minlength=ds.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)])
    evaluated = np.zeros(ds.n_users, dtype=bool)
    val_pos, test_pos = [], []
    for u in range(ds.n_users):
        positions = order[starts[u]:starts[u + 1]]
        _, first = np.unique(ds.items[positions], return_index=True)  # one candidate position per distinct item
        if len(first) < min_interactions:
            continue
        rng = np.random.default_rng([seed, int(ds.user_ids[u])])
        test, val = rng.choice(np.sort(first), size=2, replace=False)
        evaluated[u] = True
        test_pos.append(positions[test])
        val_pos.append(positions[val])
    return _build(ds, order, np.asarray(val_pos, dtype=np.int64), np.asarray(test_pos, dtype=np.int64), evaluated,
                  protocol="random", seed=seed)


def make_split(ds: Dataset, protocol: ProtocolName, seed: int = 0) -> Split:
    """The split of a protocol by name (the seed only matters for random holdout)."""
    return temporal_split(ds) if protocol == "temporal" else random_split(ds, seed)
