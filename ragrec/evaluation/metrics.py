"""Ranking metrics as pure numpy functions.

`ranked` is always an (n_users, K) int array of item indices, best first, padded with -1 when a method returns
fewer than K items. Per-user metrics return one value per row so the runner can report mean and standard error.
With one held-out item per user, Recall@k equals HR@k; `recall_at_k` also takes target sets for other protocols.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def target_rank(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based position of each user's target in their list, or -1 when absent."""
    hit = ranked == np.asarray(targets)[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)


def hit_rate_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """1.0 if the single held-out item is in the top k."""
    rank = target_rank(ranked, targets)
    return ((rank >= 0) & (rank < k)).astype(np.float64)


def ndcg_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """NDCG with one relevant item: 1/log2(rank+2) inside the top k (the ideal DCG is 1)."""
    rank = target_rank(ranked, targets)
    inside = (rank >= 0) & (rank < k)
    return np.where(inside, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0)


def recall_at_k(ranked: np.ndarray, targets: Sequence[Sequence[int]] | np.ndarray, k: int) -> np.ndarray:
    """|top-k ∩ relevant| / |relevant| per user (0 for users without relevant items)."""
    if isinstance(targets, np.ndarray) and targets.ndim == 1 and targets.dtype != object:
        return hit_rate_at_k(ranked, targets, k)  # one held-out item per user
    out = np.zeros(len(ranked))
    for u, rel in enumerate(targets):
        rel = np.unique(np.asarray(rel))
        if rel.size:
            out[u] = np.isin(rel, ranked[u, :k]).sum() / rel.size
    return out


def catalog_coverage_at_k(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one user's top k (a set metric: no per-user value)."""
    top = ranked[:, :k]
    return float(np.unique(top[top >= 0]).size / n_items)


def intra_list_diversity_at_k(ranked: np.ndarray, item_vectors: np.ndarray, k: int) -> np.ndarray:
    """Mean pairwise cosine distance (1 - cos) inside each top-k list; NaN for lists shorter than 2."""
    vecs = item_vectors / np.maximum(np.linalg.norm(item_vectors, axis=1, keepdims=True), 1e-12)
    out = np.full(len(ranked), np.nan)
    for u, row in enumerate(ranked[:, :k]):
        row = row[row >= 0]
        n = len(row)
        if n < 2:
            continue
        v = vecs[row]
        sims = v @ v.T
        out[u] = 1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return out


def self_information(item_counts: np.ndarray) -> np.ndarray:
    """-log2 of each item's share of interactions, add-one smoothed so never-seen items stay finite."""
    counts = np.asarray(item_counts, dtype=np.float64)
    return -np.log2((counts + 1.0) / (counts.sum() + counts.size))


def novelty_at_k(ranked: np.ndarray, item_counts: np.ndarray, k: int) -> np.ndarray:
    """Mean self-information of each user's top k (higher = less popular items); NaN for empty lists."""
    info = self_information(item_counts)
    top = ranked[:, :k]
    valid = top >= 0
    total = np.where(valid, info[np.where(valid, top, 0)], 0.0).sum(axis=1)
    n = valid.sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores per row, best first (ties: lower index first). -inf entries become -1."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part.sort(axis=1)  # lower index first among equal scores, via the stable sort below
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    out = np.take_along_axis(part, order, axis=1)
    out[np.take_along_axis(vals, order, axis=1) == -np.inf] = -1
    return out
