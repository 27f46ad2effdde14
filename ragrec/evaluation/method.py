"""What the runner can evaluate.

Two shapes, one runner:

* `Recommender` (the generic contract, what ragrec's Qdrant pipeline implements): `fit(train)` once per phase, then
  `recommend(user_id, history, timestamps, k)` per user with *raw* MovieLens ids in time order; it returns up to k
  raw movieIds, best first, without items of the history. A plain function with that signature also works:
  wrap it in `FunctionRecommender`.
* `ScoringMethod` (a fast path for matrix baselines): `fit(train)` then `score(users)` returns a dense
  (len(users), n_items) score block; the runner masks seen items and ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ragrec.evaluation.metrics import top_k
from ragrec.evaluation.protocol import Interactions

RecommendFn = Callable[[int, Sequence[int], Sequence[int], int], Sequence[int]]


@runtime_checkable
class Recommender(Protocol):
    name: str

    def fit(self, train: Interactions) -> None:
        """Learn from (or ingest) the phase's fit data; `train.user_ids` / `train.item_ids` map indices to raw ids."""
        ...

    def recommend(self, user_id: int, history: Sequence[int], timestamps: Sequence[int], k: int) -> Sequence[int]:
        """Up to k raw movieIds, best first, none of them in `history` (raw movieIds, oldest first)."""
        ...


@runtime_checkable
class ScoringMethod(Protocol):
    name: str

    def fit(self, train: Interactions) -> None: ...

    def score(self, users: np.ndarray) -> np.ndarray:
        """Dense float scores (len(users), n_items) for user indices; higher is better, seen items need no care."""
        ...


class FunctionRecommender:
    """A bare `recommend`-style function as a Recommender (its state, if any, is its own business)."""

    def __init__(self, name: str, fn: RecommendFn, fit: Callable[[Interactions], None] | None = None):
        self.name, self._fn, self._fit = name, fn, fit

    def fit(self, train: Interactions) -> None:
        if self._fit is not None:
            self._fit(train)

    def recommend(self, user_id: int, history: Sequence[int], timestamps: Sequence[int], k: int) -> Sequence[int]:
        return self._fn(user_id, history, timestamps, k)


class ScoringBase:
    """Shared plumbing for ScoringMethods; also gives them a `recommend`, so each is a Recommender too
    (handy to check that the generic path and the fast path agree)."""

    name = "scoring"
    train: Interactions

    def fit(self, train: Interactions) -> None:
        self.train = train

    def score(self, users: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def recommend(self, user_id: int, history: Sequence[int], timestamps: Sequence[int], k: int) -> Sequence[int]:
        u = int(np.searchsorted(self.train.user_ids, user_id))
        scores = self.score(np.array([u])).astype(np.float64)
        seen = np.searchsorted(self.train.item_ids, np.asarray(history, dtype=np.int64))
        scores[0, seen] = -np.inf
        return [int(self.train.item_ids[i]) for i in top_k(scores, k)[0] if i >= 0]
