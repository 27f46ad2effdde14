"""Reference methods the harness always runs: random, popularity, item-kNN (cosine), EASE, and two recency-aware
ones: EASE over a position-decayed history and the content neighbours of the last item.

They are ScoringMethods (dense score blocks), which keeps a full-ranking run over 9.7k items a few seconds.
"""

from __future__ import annotations

import weakref

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ragrec.evaluation.method import ScoringBase
from ragrec.evaluation.protocol import Interactions


class RandomScores(ScoringBase):
    """Uniform random ranking: the floor every method must clear (HR@10 ≈ 10 / n_items)."""

    def __init__(self, seed: int = 0):
        self.name, self.seed = "random", seed

    def score(self, users: np.ndarray) -> np.ndarray:
        # one stream per user: results do not depend on batching or on which users are evaluated
        return np.stack(
            [np.random.default_rng([self.seed, int(u)]).random(self.train.n_items, dtype=np.float32) for u in users]
        )


class Popularity(ScoringBase):
    """Most interacted items of the fit data, the same list for everyone."""

    name = "popularity"

    def fit(self, train: Interactions) -> None:
        super().fit(train)
        self.counts = train.item_counts().astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), self.train.n_items)).copy()


class ItemKNN(ScoringBase):
    """Item-item cosine similarity on the binary matrix, pruned to the `neighbors` most similar items per item."""

    def __init__(self, neighbors: int | None = 100):
        self.name, self.neighbors = "item-knn", neighbors

    def fit(self, train: Interactions) -> None:
        super().fit(train)
        self.x = train.matrix()
        norms = np.sqrt(np.asarray(self.x.sum(axis=0)).ravel())
        xn = self.x @ sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32)
        sim = (xn.T @ xn).toarray().astype(np.float32)
        np.fill_diagonal(sim, 0.0)
        if self.neighbors is not None and self.neighbors < sim.shape[0]:
            keep = np.argpartition(-sim, self.neighbors - 1, axis=1)[:, : self.neighbors]
            rows = np.repeat(np.arange(sim.shape[0]), self.neighbors)
            vals = sim[rows, keep.ravel()]
            # column i of S holds the neighbours of item i: score_u[i] = sum over history of sim(h, i)
            self.sim = sp.csr_matrix((vals, (keep.ravel(), rows)), shape=sim.shape)
        else:
            self.sim = sp.csr_matrix(sim)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.x[users] @ self.sim).todense(), dtype=np.float32)


def ease_matrix(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE (Steck 2019): B = I - P / diag(P), P = (XᵀX + λI)⁻¹, zero diagonal. Cholesky inverse in float32:
    ~20 s for 9.7k items on 2 cores, about 3x faster than a general inverse."""
    gram = (x.T @ x).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += lam
    chol, info = lapack.spotrf(gram, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky failed ({info})")
    p, info = lapack.spotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverse failed ({info})")
    p = np.triu(p) + np.triu(p, 1).T  # spotri fills the upper triangle only
    b = p / (-np.diag(p))[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def decay_matrix(train: Interactions, half_life_events: float | None = None,
                 half_life_days: float | None = None) -> sp.csr_matrix:
    """User x item weights of the history, decayed as ragrec decays a profile: an interaction's weight halves with
    every `half_life_events` later interactions of the user and every `half_life_days` before the user's latest one
    (None: no decay of that kind; both None: the binary matrix)."""
    if half_life_events is None and half_life_days is None:
        return train.matrix()
    n = np.diff(train.indptr)
    starts = np.repeat(train.indptr[:-1], n)
    exponent = np.zeros(len(train.items))
    if half_life_events is not None:
        later = np.repeat(n, n) - 1 - (np.arange(len(train.items)) - starts)
        exponent -= later / half_life_events
    if half_life_days is not None:
        latest = np.repeat(train.timestamps[np.maximum(train.indptr[1:] - 1, 0)], n)
        exponent -= (latest - train.timestamps) / (86400.0 * half_life_days)
    # copies: scipy sorts indices in place, which would destroy the time order of `items`
    m = sp.csr_matrix((np.exp2(exponent).astype(np.float32), train.items.copy(), train.indptr.copy()),
                      shape=(train.n_users, train.n_items))
    m.sum_duplicates()
    return m


# B per fit data and λ, so the plain and the decayed EASE share their λ grid and a grid over the decay inverts
# nothing again. Up to EASE_CACHE_PER_FIT matrices per fit data (380 MB each at 9.7k items), freed with the data.
EASE_CACHE_PER_FIT = 4
_EASE_CACHE: weakref.WeakKeyDictionary[Interactions, dict[float, np.ndarray]] = weakref.WeakKeyDictionary()


def _cached_ease(train: Interactions, lam: float) -> np.ndarray:
    cached = _EASE_CACHE.setdefault(train, {})
    if lam not in cached:
        while len(cached) >= EASE_CACHE_PER_FIT:
            del cached[next(iter(cached))]  # the oldest first
        cached[lam] = ease_matrix(train.matrix(), lam)
    return cached[lam]


class EASE(ScoringBase):
    """Linear item-item autoencoder, closed form; λ is tuned on validation by the runner. With a half-life, the
    user's row is the decayed history (`decay_matrix`) instead of the binary one: EASE that follows recent items."""

    def __init__(self, lam: float = 50.0, half_life_events: float | None = None, half_life_days: float | None = None):
        self.name, self.lam = "ease", lam
        self.half_life_events, self.half_life_days = half_life_events, half_life_days

    def fit(self, train: Interactions) -> None:
        super().fit(train)
        self.x = decay_matrix(train, self.half_life_events, self.half_life_days)
        self.b = _cached_ease(train, self.lam)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.x[users] @ self.b, dtype=np.float32)


class LastItemContent(ScoringBase):
    """The content neighbours of the user's last item: cosine of each item's content vector to the latest one."""

    name = "content-last-item"

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def score(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), self.train.n_items), dtype=np.float32)
        for row, u in enumerate(users):
            items = self.train.history(int(u))[0]
            if len(items):
                out[row] = self.vectors @ self.vectors[items[-1]]
        return out
