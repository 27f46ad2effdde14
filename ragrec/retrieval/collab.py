"""The collaborative signal: item factors learned from the event log, stored on items as the `collab` vector.

Implicit-feedback ALS (the `implicit` library) on the user × item matrix of non-negative events. Each item's
factor vector goes into Qdrant; a user's collaborative vector is folded in exactly like the content one, as the
decayed sum of the factors of the items they interacted with (`profiles.py`), so one new event moves it at once and
the score dot(user, item) stays a Qdrant nearest-neighbour query (the ALS fold-in matrix is baked into the stored
item vectors, see below). ALS, not EASE, because it trains in seconds and
its memory grows with items × factors, not items² (EASE inverts an items × items matrix); on MovieLens both gave
the same validation NDCG@10 in the research run (bench/RESULTS.md).
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
from pydantic import BaseModel

from ragrec.config import Settings
from ragrec.events.log import POSITIVE_TYPES
from ragrec.schema import COLLAB
from ragrec.store import VectorStore, point_id


class CollabReport(BaseModel):
    users: int = 0
    items: int = 0
    seconds: float = 0.0


def train_item_factors(log, settings: Settings) -> tuple[dict[str, np.ndarray], CollabReport]:
    """ALS item factors for every item with at least one positive event."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    positive = {t.value for t in POSITIVE_TYPES}
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    cells: dict[tuple[int, int], float] = defaultdict(float)
    for e in log.iter_events():
        if e.type.value in positive:
            cells[users.setdefault(e.user_id, len(users)), items.setdefault(e.item_id, len(items))] = 1.0
    report = CollabReport(users=len(users), items=len(items))
    if not cells:
        return {}, report
    rows, cols = zip(*cells)
    matrix = sp.csr_matrix((np.ones(len(cells), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
    with threadpool_limits(1, "blas"):  # implicit parallelises itself; nested BLAS threads thrash
        model = AlternatingLeastSquares(factors=settings.collab_dim, regularization=settings.collab_regularization,
                                        alpha=settings.collab_alpha, iterations=settings.collab_iterations,
                                        random_state=0)
        model.fit(matrix, show_progress=False)
    y = np.asarray(model.item_factors, dtype=np.float64)[:, : settings.collab_dim]
    # ALS folds a user in as u = M·Σ Y[h] with M = (YᵀY + λI)⁻¹ (up to a scale). With M = L·Lᵀ (Cholesky) and
    # items stored as Z = Y·L, the plain sum of Z over the history scores exactly like the fold-in:
    # (Σ Z[h])·Z[i] = (Σ Y[h])ᵀ M Y[i]. So the user vector stays a decayed sum of item vectors.
    m = np.linalg.inv(y.T @ y + settings.collab_regularization * np.eye(y.shape[1]))
    z = (y @ np.linalg.cholesky(m)).astype(np.float32)
    report.seconds = time.perf_counter() - started
    return {item: z[i] for item, i in items.items()}, report


def store_item_factors(store: VectorStore, items: str, factors: dict[str, np.ndarray]) -> None:
    ids = list(factors)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        store.update_vectors_many(items, {point_id(i): {COLLAB: factors[i]} for i in chunk})
