"""The `VectorStore` interface and the engine-neutral types it speaks.

Callers never touch an engine's own classes: they build these small pydantic models, and each engine
(Qdrant Edge in-process, qdrant-client for a server) translates them into Qdrant's filters, queries and fusion.
"""

from __future__ import annotations

import hashlib
import uuid
from abc import ABC, abstractmethod
from typing import Annotated, Any, Iterator, Literal, Union

import numpy as np
from pydantic import BaseModel, Field, PlainSerializer, PlainValidator

from ragrec.schema import MAX_COLLECTION_CHARS, collection_problem

# Point ids are UUIDv5 of the item id: the same item always lands on the same point, so re-runs are idempotent.
_NAMESPACE = uuid.UUID("6f1c3a52-3f0e-4b8e-9d6c-7a7a2b0e5c11")


def point_id(key: str) -> str:
    """`str(uuid.uuid5(_NAMESPACE, key))`, spelled out: the uuid module's objects cost 3x the hash, once per row
    of every re-ingestion (bench/RESULTS.md)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE.bytes + key.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


class StoreError(RuntimeError):
    """A vector store operation failed; the message says what to do about it."""


class StoreLockedError(StoreError):
    """Another process owns the embedded data dir."""


class CollectionNotFound(StoreError):
    pass


def check_new_collection(name: str) -> None:
    """The last guard before a collection is made: the embedded store makes a folder of its name. Names ragrec
    derives (`<alias>-g<N>`) may run a little past the limit for names given."""
    if problem := collection_problem(name, MAX_COLLECTION_CHARS + 16):
        raise StoreError(problem)


# --- points ------------------------------------------------------------------------------------------------


def _as_vector(value: Any) -> np.ndarray:
    vector = np.asarray(value, dtype=np.float32)
    if vector.ndim != 1:
        raise ValueError(f"a vector must be one-dimensional, got shape {vector.shape}")
    return vector


# A dense vector is a float32 array: validating 384 Python floats per point one by one cost more than the
# whole Qdrant Edge upsert (bench/RESULTS.md), and numpy is what callers compute with anyway.
Vector = Annotated[np.ndarray, PlainValidator(_as_vector), PlainSerializer(lambda v: v.tolist(), return_type=list[float])]


def plain_vectors(vectors: dict[str, Any]) -> dict[str, list[float]]:
    """Named vectors as lists of floats: what both Qdrant bindings take fastest."""
    return {name: np.asarray(v, dtype=np.float32).tolist() for name, v in vectors.items()}


class PointIn(BaseModel):
    id: str
    vectors: dict[str, Vector]
    payload: dict[str, Any] = Field(default_factory=dict)


class Record(BaseModel):
    id: str
    payload: dict[str, Any] = Field(default_factory=dict)
    vectors: dict[str, Vector] | None = None


class Hit(Record):
    score: float


# --- filters -------------------------------------------------------------------------------------------------


class Match(BaseModel):
    """`key` equals `value`; on a list field, any element equals it."""

    kind: Literal["match"] = "match"
    key: str
    value: str | int | bool


class MatchAny(BaseModel):
    kind: Literal["any"] = "any"
    key: str
    any: list[str] | list[int]


class Range(BaseModel):
    kind: Literal["range"] = "range"
    key: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None


class HasId(BaseModel):
    kind: Literal["has_id"] = "has_id"
    ids: list[str]


class IsEmpty(BaseModel):
    """`key` is missing, null or an empty list."""

    kind: Literal["is_empty"] = "is_empty"
    key: str


Condition = Union[Match, MatchAny, Range, HasId, IsEmpty, "Filter"]


class Filter(BaseModel):
    """Qdrant's boolean filter: every `must`, at least one `should` (if any), no `must_not`."""

    must: list[Condition] = Field(default_factory=list)
    should: list[Condition] = Field(default_factory=list)
    must_not: list[Condition] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.must or self.should or self.must_not)

    def and_(self, other: Filter | None) -> Filter:
        if other is None or other.is_empty():
            return self
        if self.is_empty():
            return other
        return Filter(must=[self, other])


Filter.model_rebuild()


# --- queries -------------------------------------------------------------------------------------------------


class Nearest(BaseModel):
    kind: Literal["nearest"] = "nearest"
    using: str
    vector: list[float]


class Recommend(BaseModel):
    """Qdrant's recommend query on example vectors (`average_vector` is a `Nearest` on their mean)."""

    kind: Literal["recommend"] = "recommend"
    using: str
    positive: list[list[float]]
    negative: list[list[float]] = Field(default_factory=list)
    strategy: Literal["best_score", "sum_scores"] = "best_score"


class Mmr(BaseModel):
    """Maximal marginal relevance: `diversity` 0 = pure relevance, 1 = pure diversity."""

    kind: Literal["mmr"] = "mmr"
    using: str
    vector: list[float]
    diversity: float = Field(0.3, ge=0.0, le=1.0)
    candidates: int = 100


class Fusion(BaseModel):
    """Fuse the prefetch stages' rankings (reciprocal rank fusion or distribution-based score fusion)."""

    kind: Literal["fusion"] = "fusion"
    method: Literal["rrf", "dbsf"] = "rrf"
    weights: list[float] | None = None
    k: int = 60


class OrderBy(BaseModel):
    """Points ordered by a numeric payload field (needs a payload index on it); score = the field's value."""

    kind: Literal["order_by"] = "order_by"
    key: str
    descending: bool = True


class Blend(BaseModel):
    """Qdrant's formula query over prefetch results:

        score = Σ weights[i] · $score[i] + Σ log_payload[key] · ln(1 + payload[key])

    A candidate missing from prefetch i scores 0 there; a missing payload value counts as 0.
    """

    kind: Literal["blend"] = "blend"
    weights: list[float]
    log_payload: dict[str, float] = Field(default_factory=dict)


Query = Union[Nearest, Recommend, Mmr, Fusion, OrderBy, Blend]


class Prefetch(BaseModel):
    """A candidate stage; with its own `prefetch`, its query re-scores the union of those stages' candidates."""

    query: Query
    limit: int
    filter: Filter | None = None
    prefetch: list["Prefetch"] = Field(default_factory=list)


Prefetch.model_rebuild()


# --- the interface -------------------------------------------------------------------------------------------


class CollectionInfo(BaseModel):
    name: str
    target: str  # the physical collection (or shard) behind the alias
    count: int
    indexed: int = 0  # vectors in HNSW-indexed segments (0: exact search only)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Hnsw(BaseModel):
    """An HNSW index for the collections that are searched by vector: graph degree `m`, build beam `ef_construct`,
    query beam `ef`; with `int8`, indexed segments also keep int8 copies of the vectors, which the graph walk
    scores, and the best `oversampling` × limit are rescored with the float vectors (bench/RESULTS.md)."""

    m: int
    ef_construct: int
    ef: int
    int8: bool = False
    oversampling: float = 1.0


class VectorStore(ABC):
    """What ragrec needs from Qdrant. `collection` arguments may be aliases or physical names."""

    name: str

    # collections and aliases
    @abstractmethod
    def create_collection(self, name: str, vectors: dict[str, int], metadata: dict[str, Any] | None = None, *,
                          searched: bool = True) -> None:
        """A physical collection with one DOT-distance named vector per entry. `searched=False` for collections
        only read by id (users): they get no HNSW graph to build."""

    @abstractmethod
    def drop_collection(self, name: str) -> None: ...

    @abstractmethod
    def set_alias(self, alias: str, collection: str) -> None:
        """Point `alias` at `collection` atomically (a rebuild switches with this)."""

    @abstractmethod
    def resolve(self, alias: str) -> str | None:
        """The physical collection behind `alias`, or None if there is no such alias."""

    @abstractmethod
    def collections(self) -> list[CollectionInfo]:
        """Every alias, with the collection behind it, its point count and metadata."""

    @abstractmethod
    def metadata(self, collection: str) -> dict[str, Any]: ...

    @abstractmethod
    def create_payload_index(self, collection: str, key: str, kind: Literal["keyword", "integer", "float"]) -> None: ...

    @abstractmethod
    def payload_indexes(self, collection: str) -> dict[str, str]:
        """The indexed payload keys and the kind of each index (`keyword`, `integer`, `float`; other kinds, which
        ragrec does not create, as `other`)."""

    @abstractmethod
    def update_payload(self, collection: str, ids: list[str], payload: dict[str, Any]) -> None:
        """Merge `payload` into the payload of every point in `ids` (other keys stay)."""

    # points
    @abstractmethod
    def upsert(self, collection: str, points: list[PointIn]) -> None: ...

    @abstractmethod
    def set_payload(self, collection: str, point_id: str, payload: dict[str, Any]) -> None:
        """Replace a point's whole payload, keeping its vectors."""

    @abstractmethod
    def update_vectors_many(self, collection: str, updates: dict[str, dict[str, Any]]) -> None:
        """Replace the named vectors given per point id; the point's other vectors and payload stay."""

    def update_vectors(self, collection: str, point_id: str, vectors: dict[str, Any]) -> None:
        self.update_vectors_many(collection, {point_id: vectors})

    @abstractmethod
    def delete_vectors(self, collection: str, names: list[str]) -> None:
        """Remove the named vectors from every point (the points and their other vectors stay)."""

    @abstractmethod
    def delete(self, collection: str, ids: list[str]) -> None: ...

    @abstractmethod
    def retrieve(
        self, collection: str, ids: list[str], *, payload: bool | list[str] = True, vectors: bool | list[str] = False
    ) -> list[Record]:
        """The points that exist among `ids` (missing ids are simply absent)."""

    @abstractmethod
    def query(
        self,
        collection: str,
        query: Query,
        *,
        limit: int,
        filter: Filter | None = None,
        prefetch: list[Prefetch] | None = None,
        payload: bool | list[str] = True,
        vectors: bool | list[str] = False,
    ) -> list[Hit]: ...

    @abstractmethod
    def scroll_page(
        self,
        collection: str,
        *,
        filter: Filter | None = None,
        limit: int = 1000,
        offset: str | None = None,
        payload: bool | list[str] = True,
        vectors: bool | list[str] = False,
    ) -> tuple[list[Record], str | None]: ...

    @abstractmethod
    def count(self, collection: str, filter: Filter | None = None) -> int: ...

    @abstractmethod
    def facet(self, collection: str, key: str, *, limit: int = 100) -> dict[str, int]:
        """The most common values of a payload field (it needs a keyword index), with how many points hold each."""

    def optimize(self, collection: str) -> None:
        """Merge segments / build indexes after a bulk load, where the engine benefits."""

    def flush(self, collection: str) -> None:
        """Make every acknowledged write durable."""

    def close(self) -> None: ...

    def clone_collection(self, source: str, target: str) -> None:
        """A new physical collection `target` with a copy of `source`'s points (for tests and benchmarks that need
        a private copy to change); engines with a faster way override it."""
        info = next((c for c in self.collections() if source in (c.name, c.target)), None)
        vectors = self.vector_sizes(source)
        self.create_collection(target, vectors, metadata=info.metadata if info else self.metadata(source))
        copy_points(self, source, self, target)

    @abstractmethod
    def vector_sizes(self, collection: str) -> dict[str, int]:
        """The collection's named vectors and their dimensions."""

    # shared helpers
    def scroll(self, collection: str, *, page: int = 1000, **kwargs: Any) -> Iterator[Record]:
        offset = None
        while True:
            records, offset = self.scroll_page(collection, limit=page, offset=offset, **kwargs)
            yield from records
            if offset is None:
                return


def copy_points(source: VectorStore, name: str, target: VectorStore, target_name: str, *, page: int = 1000) -> int:
    """Copy every point (vectors and payload) of one collection into another, possibly of another engine."""
    copied = 0
    for records in _pages(source, name, page):
        target.upsert(target_name, [PointIn(id=r.id, vectors=r.vectors or {}, payload=r.payload) for r in records])
        copied += len(records)
    return copied


def _pages(store: VectorStore, name: str, page: int) -> Iterator[list[Record]]:
    offset = None
    while True:
        records, offset = store.scroll_page(name, limit=page, offset=offset, vectors=True)
        if records:
            yield records
        if offset is None:
            return
