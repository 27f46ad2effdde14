"""Against a Qdrant server or cluster: the collections ragrec creates carry the shard, replica and write-consistency
settings, beside HNSW and int8 quantization; transient failures are retried with the one policy (ragrec.retry).

qdrant-client's local mode stands in for the server, but it keeps no sharding parameters
(`get_collection().config.params.shard_number` reads None whatever was asked), so the tests record what the store
hands the client: the real call's arguments, which the remote client turns into its CreateCollection request."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from ragrec.config import Settings
from ragrec.store import Hnsw, StoreError, open_store
from ragrec.store.server import Placement, ServerStore, _transient


class RecordingClient(QdrantClient):
    """Local mode that keeps the arguments of every create_collection call (and still creates the collection)."""

    def __init__(self):
        super().__init__(":memory:")
        self.created: dict[str, dict] = {}

    def create_collection(self, collection_name, **kwargs):
        self.created[collection_name] = kwargs
        return super().create_collection(collection_name, **kwargs)


def test_settings_reach_the_server_store():
    settings = Settings(qdrant_url="http://qdrant:6333", qdrant_shard_number=6, qdrant_replication_factor=2,
                        qdrant_write_consistency_factor=1)
    store = open_store(settings)  # no request is made before the first call
    try:
        assert isinstance(store, ServerStore)
        assert store.placement == Placement(shard_number=6, replication_factor=2, write_consistency_factor=1)
    finally:
        store.close()


def test_created_collections_carry_sharding_replication_hnsw_and_int8():
    client = RecordingClient()
    hnsw = Hnsw(m=16, ef_construct=100, ef=128, int8=True, oversampling=2.0)
    store = ServerStore(client=client, hnsw=hnsw,
                        placement=Placement(shard_number=6, replication_factor=2, write_consistency_factor=2))
    store.create_collection("items-g1", {"content": 4, "collab": 3}, metadata={"model": "m"})
    store.create_collection("users-g1", {"content": 4}, searched=False)

    sent = client.created["items-g1"]
    assert (sent["shard_number"], sent["replication_factor"], sent["write_consistency_factor"]) == (6, 2, 2)
    assert sent["hnsw_config"] == models.HnswConfigDiff(m=16, ef_construct=100)
    assert sent["quantization_config"].scalar.type == models.ScalarType.INT8
    assert sent["vectors_config"]["content"] == models.VectorParams(size=4, distance=models.Distance.DOT)
    # users are read by id only: no graph, no quantization, but spread and replicated like the items
    users = client.created["users-g1"]
    assert users["hnsw_config"].m == 0 and users["quantization_config"] is None
    assert (users["shard_number"], users["replication_factor"]) == (6, 2)
    # the collection itself is real and usable
    assert store.metadata("items-g1") == {"model": "m"} and store.vector_sizes("items-g1") == {"content": 4, "collab": 3}


def test_without_settings_the_server_decides():
    client = RecordingClient()
    ServerStore(client=client).create_collection("items-g1", {"content": 4})
    sent = client.created["items-g1"]
    assert sent["shard_number"] is sent["replication_factor"] is sent["write_consistency_factor"] is None


@given(st.integers(max_value=0))
def test_placement_counts_are_positive(n):
    with pytest.raises(ValueError):
        Settings(qdrant_shard_number=n)
    with pytest.raises(ValueError):
        Placement(replication_factor=n)


def _response(status: int) -> UnexpectedResponse:
    import httpx

    return UnexpectedResponse(status_code=status, reason_phrase="", content=b"{}", headers=httpx.Headers())


def test_transient_failures_are_retried_and_others_fail_at_once():
    store = ServerStore(client=QdrantClient(":memory:"), retries=2)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _response(503)
        return "ok"

    assert store._call(flaky) == "ok" and len(calls) == 3  # two retries, with the policy's backoff
    assert _transient(_response(429)) and _transient(_response(502)) and _transient(ConnectionError())
    assert not _transient(_response(400)) and not _transient(_response(409))

    def refused():
        calls.append(1)
        raise _response(400)

    calls.clear()
    with pytest.raises(StoreError, match="refused"):
        store._call(refused)
    assert len(calls) == 1
