"""Qdrant Edge in a long-lived process: one owner per data dir (a file lock), stores of one process sharing it,
an atomic in-memory catalog, and index builds that neither stall queries nor lose the writes made meanwhile."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from ragrec.store import Hnsw, Nearest, PointIn, StoreError, point_id
from ragrec.store.edge import EdgeStore

DIM = 384  # Qdrant Edge indexes a segment once it holds more than 10 MB of vectors: 20k × 384 floats do
HNSW = Hnsw(m=16, ef_construct=64, ef=64, int8=True, oversampling=2.0)


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fill(store: EdgeStore, name: str, n: int, start: int = 0, seed: int = 0) -> None:
    vs = vectors(n, seed)
    for s in range(0, n, 1000):
        store.upsert(name, [PointIn(id=point_id(str(start + i)), vectors={"content": vs[i]},
                                    payload={"item_id": str(start + i)}) for i in range(s, min(n, s + 1000))])


def holds_lock(data_dir) -> str:
    code = textwrap.dedent(f"""
        from ragrec.store.edge import EdgeStore
        from ragrec.store import StoreError, StoreLockedError
        try:
            EdgeStore({str(data_dir)!r}).collections()
            print("FREE")
        except StoreLockedError as e:
            print("LOCKED", e)
        except StoreError as e:  # got past the lock
            print("FREE", e)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout


def test_the_lock_is_taken_on_first_use_and_decides_ownership(tmp_path):
    data = tmp_path / "data"
    store = EdgeStore(data)
    assert "FREE" in holds_lock(data)  # constructing a store opens nothing
    store.resolve("items")  # first use, even a read of an empty dir, takes the lock
    out = holds_lock(data)
    assert "LOCKED" in out and "in use by another ragrec process" in out
    store.close()
    assert "FREE" in holds_lock(data)


def test_stores_of_one_process_share_the_dir_and_close_only_their_share(tmp_path):
    a, b = EdgeStore(tmp_path / "data"), EdgeStore(tmp_path / "data")
    a.create_collection("items-g1", {"content": DIM})
    a.set_alias("items", "items-g1")
    fill(a, "items", 10)
    assert b.count("items") == 10 and b.resolve("items") == "items-g1"  # b sees a's catalog and shard
    a.close()
    assert b.count("items") == 10  # a's close did not close the shard b uses
    fill(b, "items", 5, start=10)
    assert "LOCKED" in holds_lock(tmp_path / "data")
    b.close()
    assert "FREE" in holds_lock(tmp_path / "data")
    reopened = EdgeStore(tmp_path / "data")
    try:
        assert reopened.count("items") == 15
    finally:
        reopened.close()


def test_a_broken_catalog_file_is_a_clear_error(tmp_path):
    data = tmp_path / "data"
    store = EdgeStore(data)
    store.create_collection("items-g1", {"content": DIM})
    store.close()
    catalog = data / "collections.json"
    catalog.write_text(catalog.read_text()[:20])  # truncated, as by a full disk
    with pytest.raises(StoreError, match="collections.json is unreadable"):
        EdgeStore(data).resolve("items")
    assert "FREE" in holds_lock(data)  # the failed open released the lock


def test_index_build_keeps_writes_made_meanwhile_and_answers_queries(tmp_path):
    store = EdgeStore(tmp_path / "data", hnsw=HNSW)
    try:
        store.create_collection("items-g1", {"content": DIM})
        store.set_alias("items", "items-g1")
        store.create_payload_index("items", "item_id", "keyword")
        fill(store, "items", 20_000)
        query = Nearest(using="content", vector=vectors(1, seed=9)[0].tolist())
        errors, answered = [], []
        done = threading.Event()

        def build():
            try:
                store.optimize("items")
            except Exception as exc:  # noqa: BLE001 - the test reports it
                errors.append(exc)
            finally:
                done.set()

        def write():
            for n in range(20):  # 2,000 new points and 100 deletions while the index is built
                fill(store, "items", 100, start=20_000 + 100 * n, seed=100 + n)
                store.delete("items", [point_id(str(i)) for i in range(5 * n, 5 * n + 5)])

        builder, writer = threading.Thread(target=build), threading.Thread(target=write)
        builder.start()
        writer.start()
        while not done.is_set():  # queries keep being answered while the child process builds
            started = time.perf_counter()
            answered.append((len(store.query("items", query, limit=10)), time.perf_counter() - started))
        builder.join()
        writer.join()
        assert not errors, errors
        assert all(n == 10 for n, _ in answered) and len(answered) > 20
        assert store.count("items") == 20_000 + 2_000 - 100
        assert not store.retrieve("items", [point_id("0"), point_id("99")])
        assert len(store.retrieve("items", [point_id("21999"), point_id("100")])) == 2
        info = store.collections()[0]
        assert info.indexed >= 20_000  # the swapped-in shard carries the index
        shards = [p.name for p in (tmp_path / "data" / "shards").iterdir()]
        assert shards == ["items-g1~1"]  # the pre-build shard is gone
    finally:
        store.close()
    reopened = EdgeStore(tmp_path / "data", hnsw=HNSW)  # the swap survives a restart
    try:
        assert reopened.count("items") == 21_900 and reopened.collections()[0].indexed >= 20_000
    finally:
        reopened.close()


def test_clone_is_a_private_copy(tmp_path):
    store = EdgeStore(tmp_path / "data")
    try:
        store.create_collection("items-g1", {"content": DIM}, metadata={"model": "m"})
        fill(store, "items-g1", 50)
        store.clone_collection("items-g1", "copy")
        store.delete("copy", [point_id("1")])
        assert store.count("items-g1") == 50 and store.count("copy") == 49
        assert store.metadata("copy") == {"model": "m"} and store.vector_sizes("copy") == {"content": DIM}
    finally:
        store.close()


def test_the_search_pool_size_is_applied_to_new_and_existing_shards(tmp_path):
    """`search_threads` (Settings.edge_search_threads) reaches the engine on create and on every later load, and a
    store opened without it leaves the shard's setting as it is."""
    import json

    def pool(name: str) -> int | None:
        config = tmp_path / "data" / "shards" / name / "edge_config.json"
        return json.loads(config.read_text()).get("max_search_threads")

    store = EdgeStore(tmp_path / "data")  # the engine's default
    store.create_collection("items-g1", {"content": DIM, "collab": 8})
    fill(store, "items-g1", 20)
    store.close()
    assert pool("items-g1") is None
    one = EdgeStore(tmp_path / "data", search_threads=1)
    hits = one.query("items-g1", Nearest(using="content", vector=vectors(1, seed=0)[0].tolist()), limit=3)
    assert hits[0].payload["item_id"] == "0" and one.count("items-g1") == 20  # the shard's data as it was
    one.create_collection("users-g1", {"content": DIM})
    one.close()
    assert pool("items-g1") == 1 and pool("users-g1") == 1
    again = EdgeStore(tmp_path / "data")
    assert again.count("items-g1") == 20
    again.close()
    assert pool("items-g1") == 1
