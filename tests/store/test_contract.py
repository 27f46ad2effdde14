"""One contract, two engines: Qdrant Edge in-process and qdrant-client (local mode standing in for a server)."""

import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from qdrant_client import QdrantClient

from ragrec.store import (
    Blend, Filter, Fusion, HasId, Hnsw, IsEmpty, Match, MatchAny, Mmr, Nearest, OrderBy, PointIn, Prefetch, Range,
    Recommend, StoreError, point_id,
)
from ragrec.store.base import _NAMESPACE
from ragrec.store.edge import EdgeStore
from ragrec.store.server import ServerStore

DIM = 8


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


HNSW = Hnsw(m=16, ef_construct=100, ef=128, int8=True, oversampling=2.0)


@pytest.fixture(params=["edge", "server", "edge-hnsw", "server-hnsw"])
def store(request, tmp_path):
    """Each engine exact and with HNSW settings (search params on every query and prefetch)."""
    hnsw = HNSW if request.param.endswith("hnsw") else None
    s = EdgeStore(tmp_path / "data", hnsw=hnsw) if request.param.startswith("edge") \
        else ServerStore(client=QdrantClient(":memory:"), hnsw=hnsw)
    try:
        yield s
    finally:
        s.close()


def basis(i):
    """Item i points along axis i % DIM; items sharing an axis differ slightly."""
    v = np.full(DIM, 0.05)
    v[i % DIM] = 1.0
    v[(i + 1) % DIM] += 0.1 * (i // DIM)
    return unit(v)


@pytest.fixture
def filled(store):
    store.create_collection("items-v1", {"content": DIM}, metadata={"model": "test"})
    store.set_alias("items", "items-v1")
    store.create_payload_index("items", "item_id", "keyword")
    store.upsert("items", [
        PointIn(id=point_id(str(i)), vectors={"content": basis(i)},
                payload={"item_id": str(i), "genres": ["Comedy"] if i % 2 else ["Drama", "Horror"], "year": 1990 + i})
        for i in range(20)
    ])
    return store


def ids(hits):
    return [h.payload["item_id"] for h in hits]


def test_alias_count_metadata(filled):
    [info] = filled.collections()
    assert (info.name, info.target, info.count) == ("items", "items-v1", 20)
    assert filled.metadata("items") == {"model": "test"}
    assert filled.resolve("items") == "items-v1"
    assert filled.resolve("nope") is None


def test_alias_switch(filled):
    filled.create_collection("items-v2", {"content": DIM})
    filled.upsert("items-v2", [PointIn(id=point_id("x"), vectors={"content": basis(0)}, payload={"item_id": "x"})])
    filled.set_alias("items", "items-v2")
    assert filled.count("items") == 1
    filled.drop_collection("items-v1")
    assert [c.target for c in filled.collections()] == ["items-v2"]


def test_create_twice_is_an_error(filled):
    with pytest.raises(StoreError):
        filled.create_collection("items-v1", {"content": DIM})


@pytest.mark.parametrize("name", ["", "{tmp}/victim-g1", "../../esc", "a/b", ".hidden", "a b", "x" * 81])
def test_a_collection_name_is_never_a_path(store, tmp_path, name):
    """The embedded store makes a folder of the name: '/tmp/x-g1' once removed an existing folder there."""
    (tmp_path / "victim-g1").mkdir()
    with pytest.raises(StoreError, match="is not a collection name"):
        store.create_collection(name.format(tmp=tmp_path), {"v": 4})
    assert (tmp_path / "victim-g1").is_dir()
    store.create_collection("items-0123abcd-g2", {"v": 4})  # names ragrec makes are fine


def test_nearest_and_filters(filled):
    assert ids(filled.query("items", Nearest(using="content", vector=basis(3)), limit=1)) == ["3"]
    comedy = filled.query("items", Nearest(using="content", vector=basis(2)), limit=5,
                          filter=Filter(must=[Match(key="genres", value="Comedy")]))
    assert all("Comedy" in h.payload["genres"] for h in comedy) and len(comedy) == 5
    ranged = filled.query("items", Nearest(using="content", vector=basis(0)), limit=20,
                          filter=Filter(must=[Range(key="year", gte=2000)], must_not=[MatchAny(key="genres", any=["Horror"])]))
    assert ids(ranged) and all(h.payload["year"] >= 2000 and "Horror" not in h.payload["genres"] for h in ranged)
    excluded = filled.query("items", Nearest(using="content", vector=basis(3)), limit=20,
                            filter=Filter(must_not=[HasId(ids=[point_id("3"), point_id("11")])]))
    assert "3" not in ids(excluded) and "11" not in ids(excluded) and len(excluded) == 18


def test_scores_are_dot_products(filled):
    [hit] = filled.query("items", Nearest(using="content", vector=basis(5)), limit=1)
    assert hit.score == pytest.approx(1.0, abs=1e-5)


def test_recommend_mmr_fusion(filled):
    rec = filled.query("items", Recommend(using="content", positive=[basis(1)], negative=[basis(2)]), limit=3)
    assert ids(rec)[0] in {"1", "9", "17"}  # basis(i) repeats every DIM items
    plain = filled.query("items", Nearest(using="content", vector=basis(1)), limit=3)
    diverse = filled.query("items", Mmr(using="content", vector=basis(1), diversity=0.9, candidates=20), limit=3)
    assert len({h.payload["item_id"] for h in plain} & {"1", "9", "17"}) == 3
    assert len({h.payload["item_id"] for h in diverse} & {"1", "9", "17"}) < 3
    fused = filled.query(
        "items", Fusion(method="rrf"), limit=4,
        prefetch=[Prefetch(query=Nearest(using="content", vector=basis(1)), limit=2),
                  Prefetch(query=Nearest(using="content", vector=basis(4)), limit=2)],
    )
    assert {"1", "4"} <= set(ids(fused))


def test_retrieve_update_delete_scroll(filled):
    [rec] = filled.retrieve("items", [point_id("4"), point_id("missing")], payload=["item_id"], vectors=True)
    assert rec.payload == {"item_id": "4"} and len(rec.vectors["content"]) == DIM
    filled.set_payload("items", point_id("4"), {"item_id": "4", "year": 1})
    filled.update_vectors("items", point_id("4"), {"content": basis(7)})
    [rec] = filled.retrieve("items", [point_id("4")], vectors=True)
    assert rec.payload == {"item_id": "4", "year": 1}
    assert np.allclose(rec.vectors["content"], basis(7), atol=1e-5)
    filled.delete("items", [point_id("4"), point_id("5")])
    assert filled.count("items") == 18
    assert filled.count("items", Filter(must=[Match(key="genres", value="Comedy")])) == 9
    scrolled = list(filled.scroll("items", page=7, payload=["item_id"]))
    assert sorted(r.payload["item_id"] for r in scrolled) == sorted(str(i) for i in range(20) if i not in (4, 5))


def test_edge_second_process_gets_a_clear_error(tmp_path):
    store = EdgeStore(tmp_path / "data")
    store.create_collection("items-v1", {"content": DIM})
    store.set_alias("items", "items-v1")
    store.count("items")  # keeps the shard open in this process
    code = textwrap.dedent(f"""
        from ragrec.store.edge import EdgeStore
        from ragrec.store import StoreLockedError
        try:
            EdgeStore({str(tmp_path / 'data')!r}).count("items")
        except StoreLockedError as e:
            print("LOCKED", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "LOCKED" in out and "in use by another ragrec process" in out
    store.close()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "LOCKED" not in out


def test_order_by_and_payload_merge(filled):
    filled.create_payload_index("items", "popularity", "integer")
    filled.update_payload("items", [point_id("7"), point_id("8")], {"popularity": 50})
    filled.update_payload("items", [point_id("3")], {"popularity": 90})
    top = filled.query("items", OrderBy(key="popularity"), limit=3)
    assert ids(top)[0] == "3" and set(ids(top)[1:]) == {"7", "8"} and top[0].score == 90
    [rec] = filled.retrieve("items", [point_id("3")])
    assert rec.payload["year"] == 1993 and rec.payload["popularity"] == 90  # merged, not replaced


def test_blend_formula_over_prefetches(filled):
    filled.update_payload("items", [point_id("4")], {"popularity": 1000})
    prefetch = [Prefetch(query=Nearest(using="content", vector=basis(1)), limit=3),
                Prefetch(query=Nearest(using="content", vector=basis(4)), limit=3)]
    first = filled.query("items", Blend(weights=[1.0, 0.1]), limit=6, prefetch=prefetch)
    assert ids(first)[0] == "1" and "4" in ids(first)
    [one] = [h for h in first if h.payload["item_id"] == "1"]
    assert one.score == pytest.approx(1.0, abs=1e-4)  # not among prefetch 2's candidates: $score[1] = 0
    popular = filled.query("items", Blend(weights=[0.1, 1.0], log_payload={"popularity": 1.0}), limit=1, prefetch=prefetch)
    assert ids(popular) == ["4"] and popular[0].score == pytest.approx(1.0 + np.log(1001), abs=1e-3)


def test_named_vectors_can_be_emptied_on_every_point(store):
    store.create_collection("two", {"a": DIM, "b": DIM})
    store.upsert("two", [PointIn(id=point_id(str(i)), vectors={"a": basis(i), "b": basis(i + 1)},
                                 payload={"item_id": str(i)}) for i in range(5)])
    store.delete_vectors("two", ["b"])
    records = store.retrieve("two", [point_id(str(i)) for i in range(5)], vectors=True)
    assert len(records) == 5 and all(set(r.vectors) == {"a"} for r in records)  # the points and `a` stay
    assert ids(store.query("two", Nearest(using="b", vector=basis(1)), limit=3)) == []


def test_payload_indexes_and_is_empty(filled):
    filled.create_payload_index("items", "year", "integer")
    filled.create_payload_index("items", "genres", "keyword")
    indexes = filled.payload_indexes("items")
    if filled.name == "edge":  # qdrant-client's local mode keeps no payload indexes
        assert indexes == {"item_id": "keyword", "year": "integer", "genres": "keyword"}
    filled.update_payload("items", [point_id("3")], {"tags": ["x"]})
    assert filled.count("items", Filter(must_not=[IsEmpty(key="tags")])) == 1
    assert filled.count("items", Filter(must_not=[IsEmpty(key="no-such-field")])) == 0


def test_qdrant_edge_errors_are_store_errors_that_say_where(tmp_path):
    store = EdgeStore(tmp_path / "data")
    try:
        store.create_collection("c", {"content": DIM})
        with pytest.raises(StoreError, match="Qdrant Edge refused the request on 'c': No range index"):
            store.query("c", OrderBy(key="year"), limit=3)  # the binding raises a bare Exception
    finally:
        store.close()


@pytest.mark.parametrize("url", ["not a url", "ftp://example.org", "::::"])
def test_an_unusable_server_url_is_a_clear_error(url):
    with pytest.raises(StoreError, match="cannot use the Qdrant URL"):
        ServerStore(url)


@given(st.text())
def test_point_id_is_uuid5_of_the_item_id(key):
    assert point_id(key) == str(uuid.uuid5(_NAMESPACE, key))


def test_facet_counts_the_values_of_a_keyword_field(filled):
    filled.create_payload_index("items", "genres", "keyword")
    counts = filled.facet("items", "genres")
    n = filled.count("items")
    assert counts["Comedy"] == n // 2 and counts["Drama"] == counts["Horror"] == n - n // 2
    [(value, count)] = filled.facet("items", "genres", limit=1).items()
    assert counts[value] == count and set(counts) == {"Comedy", "Drama", "Horror"}
