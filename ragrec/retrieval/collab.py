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
from array import array

import numpy as np
from pydantic import BaseModel

from ragrec.config import Settings
from ragrec.devices import collab_on_gpu
from ragrec.schema import COLLAB, COLLAB_SLOTS, ITEM_ID, POPULARITY
from ragrec.store import StoreError, VectorStore, point_id
from ragrec.store.base import CollectionNotFound, copy_points


class CollabReport(BaseModel):
    users: int = 0
    items: int = 0
    seconds: float = 0.0


def train_item_factors(log, settings: Settings, *, where=None) -> tuple[dict[str, np.ndarray], CollabReport]:
    """ALS item factors for every item with at least one positive event."""
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    on_gpu = collab_on_gpu(settings.collab_device)  # a GPU asked for and absent fails before the event scan
    started = time.perf_counter()
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    # plain int arrays, not a (user, item) tuple per event: at 100k users the garbage collector walked 16.6M live
    # tuples again and again (this scan took 137 s, 59 s with arrays: bench/RESULTS.md)
    rows, cols = array("q"), array("q")  # int64 on every platform, as numpy reads them
    for user_id, item_id in log.positive_pairs(where=where):
        rows.append(users.setdefault(user_id, len(users)))
        cols.append(items.setdefault(item_id, len(items)))
    report = CollabReport(users=len(users), items=len(items))
    if not rows:
        return {}, report
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (np.frombuffer(rows, dtype=np.int64),
                            np.frombuffer(cols, dtype=np.int64))), shape=(len(users), len(items)))
    matrix.data[:] = 1.0  # an item a user engaged with twice (summed above) is one positive cell
    with threadpool_limits(1, "blas"):  # implicit parallelises itself; nested BLAS threads thrash
        y = _als_item_factors(matrix, settings, on_gpu)
    y = y.astype(np.float64)[:, : settings.collab_dim]
    # ALS folds a user in as u = M·Σ Y[h] with M = (YᵀY + λI)⁻¹ (up to a scale). With M = L·Lᵀ (Cholesky) and
    # items stored as Z = Y·L, the plain sum of Z over the history scores exactly like the fold-in:
    # (Σ Z[h])·Z[i] = (Σ Y[h])ᵀ M Y[i]. So the user vector stays a decayed sum of item vectors.
    m = np.linalg.inv(y.T @ y + settings.collab_regularization * np.eye(y.shape[1]))
    z = (y @ np.linalg.cholesky(m)).astype(np.float32)
    report.seconds = time.perf_counter() - started
    return {item: z[i] for item, i in items.items()}, report


def _als_item_factors(matrix, settings: Settings, on_gpu: bool) -> np.ndarray:
    """implicit's ALS item factors as a numpy array, trained on the GPU (implicit.gpu) or the CPU."""
    options = dict(factors=settings.collab_dim, regularization=settings.collab_regularization,
                   alpha=settings.collab_alpha, iterations=settings.collab_iterations, random_state=0)
    if on_gpu:
        from implicit.gpu.als import AlternatingLeastSquares as GpuALS

        gpu = GpuALS(**options)
        gpu.fit(matrix, show_progress=False)
        return np.asarray(gpu.to_cpu().item_factors)  # from the GPU's memory into numpy
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(**options)
    model.fit(matrix, show_progress=False)
    return np.asarray(model.item_factors)


def store_item_factors(store: VectorStore, items: str, factors: dict[str, np.ndarray], slot: str) -> None:
    """Write the factors into the items' collab `slot`, emptied first: an item that got no factor this time
    (nobody engages with it any more, or only a forgotten user did) keeps none from an earlier training."""
    store.delete_vectors(items, [slot])
    ids = list(factors)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        store.update_vectors_many(items, {point_id(i): {slot: factors[i]} for i in chunk})


def ensure_collab_slots(store: VectorStore, items: str) -> None:
    """Give an items collection made before there were two collab slots (one `collab` vector) the second one.

    Neither engine adds a named vector to an existing collection, so the points (vectors, payload, payload
    indexes) are copied into the next generation behind the alias, which then switches. `collab` is copied as it
    is, so the users generation built on it keeps serving until the reindex switches to the new slot."""
    sizes = store.vector_sizes(items)
    if all(slot in sizes for slot in COLLAB_SLOTS):
        return
    current = store.resolve(items)
    if current is None or "-g" not in current:
        raise StoreError(f"the items collection {items!r} has one collab vector (made by an older ragrec) and is "
                         "not an alias that ragrec can move to a new generation: re-ingest the catalog into a new "
                         "items collection")
    target = f"{items}-g{int(current.rsplit('-g', 1)[1]) + 1}"
    try:
        store.drop_collection(target)  # left by a migration (or a rebuild) that was killed
    except CollectionNotFound:
        pass
    dim = sizes.get(COLLAB) or store.metadata(current)["collab_dim"]
    store.create_collection(target, {**sizes, **{slot: dim for slot in COLLAB_SLOTS}}, metadata=store.metadata(current))
    indexes = {ITEM_ID: "keyword", POPULARITY: "integer"} | store.payload_indexes(current)
    for key, kind in indexes.items():
        if kind != "other":
            store.create_payload_index(target, key, kind)
    copy_points(store, current, store, target)
    store.optimize(target)
    store.set_alias(items, target)
    store.drop_collection(current)

