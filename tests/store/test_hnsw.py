"""HNSW, the default index of searched collections: recall against exact search on real MiniLM vectors, and no
graph for collections only read by id."""

import numpy as np

from ragrec.config import Settings
from ragrec.store import Nearest, PointIn, open_store, point_id


def test_default_store_indexes_the_catalog_and_keeps_recall(demo):
    settings, store, report = demo
    info = next(i for i in store.collections() if i.name == "items")
    assert info.indexed >= report.upserted  # optimize() built the graph (over collab vectors too, after a reindex)

    records = list(store.scroll("items", payload=["item_id"], vectors=["content"]))
    ids = np.array([r.id for r in records])
    matrix = np.stack([r.vectors["content"] for r in records])
    rng = np.random.default_rng(0)
    # user-like queries: the normalized mean of a few liked items, and single items
    queries = [matrix[rng.choice(len(matrix), 5)].mean(axis=0) for _ in range(25)] + \
              [matrix[i] for i in rng.choice(len(matrix), 25)]
    recalls = []
    for q in queries:
        q = q / np.linalg.norm(q)
        exact = set(ids[np.argsort(-(matrix @ q))[:50]])
        found = {h.id for h in store.query("items", Nearest(using="content", vector=q.tolist()), limit=50,
                                            payload=False)}
        recalls.append(len(exact & found) / 50)
    assert np.mean(recalls) >= 0.98


def test_new_points_are_found_before_the_next_optimize(tmp_path):
    store = open_store(Settings(data_dir=tmp_path / "data"))
    try:
        rng = np.random.default_rng(1)
        vectors = rng.standard_normal((7000, 384)).astype(np.float32)  # above Qdrant's indexing threshold
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.create_collection("items", {"content": 384})
        store.create_collection("users", {"content": 384}, searched=False)
        for name in ("items", "users"):
            for start in range(0, len(vectors), 1000):
                store.upsert(name, [PointIn(id=point_id(str(i)), vectors={"content": vectors[i]}) for i in
                                    range(start, start + 1000)])
            store.optimize(name)
        store.set_alias("i", "items")
        store.set_alias("u", "users")
        indexed = {c.name: c.indexed for c in store.collections()}
        assert indexed == {"i": 7000, "u": 0}

        fresh = rng.standard_normal(384).astype(np.float32)
        fresh /= np.linalg.norm(fresh)
        store.upsert("items", [PointIn(id=point_id("fresh"), vectors={"content": fresh})])
        hits = store.query("items", Nearest(using="content", vector=fresh.tolist()), limit=1, payload=False)
        assert hits[0].id == point_id("fresh")
    finally:
        store.close()
