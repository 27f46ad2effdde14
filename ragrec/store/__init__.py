"""Vector stores: Qdrant Edge embedded in the process (default) or a Qdrant server/cluster by URL."""

from __future__ import annotations

from ragrec.config import Settings
from ragrec.store.base import (
    Blend,
    CollectionInfo,
    CollectionNotFound,
    Filter,
    Fusion,
    HasId,
    Hit,
    IsEmpty,
    Hnsw,
    Match,
    MatchAny,
    Mmr,
    Nearest,
    OrderBy,
    PointIn,
    Prefetch,
    Range,
    Recommend,
    Record,
    StoreError,
    StoreLockedError,
    VectorStore,
    point_id,
)


def open_store(settings: Settings) -> VectorStore:
    """The engine Settings name: a server when `qdrant_url` is set, else Qdrant Edge in the data dir."""
    hnsw = Hnsw(m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct, ef=settings.hnsw_ef,
                int8=settings.quantization == "int8", oversampling=settings.quantization_oversampling) \
        if settings.hnsw else None
    if settings.qdrant_url:
        from ragrec.store.server import Placement, ServerStore

        placement = Placement(shard_number=settings.qdrant_shard_number,
                              replication_factor=settings.qdrant_replication_factor,
                              write_consistency_factor=settings.qdrant_write_consistency_factor)
        return ServerStore(
            settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            timeout=settings.qdrant_timeout,
            retries=settings.qdrant_retries,
            hnsw=hnsw,
            placement=placement,
        )
    from ragrec.store.edge import EdgeStore

    return EdgeStore(settings.data_dir, hnsw=hnsw, search_threads=settings.edge_search_threads or None)


__all__ = [
    "Blend",
    "CollectionInfo",
    "CollectionNotFound",
    "Filter",
    "Fusion",
    "HasId",
    "Hit",
    "IsEmpty",
    "Hnsw",
    "Match",
    "MatchAny",
    "Mmr",
    "Nearest",
    "OrderBy",
    "PointIn",
    "Prefetch",
    "Range",
    "Recommend",
    "Record",
    "StoreError",
    "StoreLockedError",
    "VectorStore",
    "open_store",
    "point_id",
]
