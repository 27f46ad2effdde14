"""Reference methods the harness always runs: random, popularity, item-kNN (cosine) and EASE.

They are ScoringMethods (dense score blocks), which keeps a full-ranking run over 9.7k items a few seconds.
"""

from __future__ import annotations

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


class EASE(ScoringBase):
    """Linear item-item autoencoder, closed form; λ is tuned on validation by the runner."""

    def __init__(self, lam: float = 50.0):
        self.name, self.lam = "ease", lam

    def fit(self, train: Interactions) -> None:
        super().fit(train)
        self.x = train.matrix()
        self.b = ease_matrix(self.x, self.lam)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.x[users] @ self.b, dtype=np.float32)
