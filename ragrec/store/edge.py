"""Qdrant Edge: the real Qdrant engine in-process, one `EdgeShard` directory per physical collection.

Layout under the data dir::

    shards/<physical>/       an EdgeShard (segments + WAL)
    collections.json         {alias: {"target": physical}} and each physical collection's metadata

A shard may be opened once per process (its WAL is locked), so open shards are shared through a
process-wide registry; a second *process* gets a clear `StoreLockedError`. Point ids stay strings: the binding
parses UUID strings itself, faster than `uuid.UUID` in Python.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Literal

import qdrant_edge as qe

from ragrec.store.base import (
    CollectionInfo,
    CollectionNotFound,
    Filter,
    Fusion,
    HasId,
    Hit,
    Hnsw,
    Match,
    MatchAny,
    Mmr,
    Nearest,
    OrderBy,
    Blend,
    PointIn,
    Prefetch,
    Query,
    Range,
    Recommend,
    Record,
    StoreError,
    StoreLockedError,
    VectorStore,
    plain_vectors,
)

_open_shards: dict[Path, qe.EdgeShard] = {}
_registry_lock = threading.Lock()

LOCKED_MESSAGE = (
    "the data dir {dir} is in use by another ragrec process; use the API of that process or stop it "
    "(or point RAGREC_DATA_DIR elsewhere)"
)


def _condition(c) -> Any:
    if isinstance(c, Filter):
        return _filter(c)
    if isinstance(c, Match):
        return qe.FieldCondition(key=c.key, match=qe.MatchValue(value=c.value))
    if isinstance(c, MatchAny):
        return qe.FieldCondition(key=c.key, match=qe.MatchAny(any=list(c.any)))
    if isinstance(c, Range):
        return qe.FieldCondition(key=c.key, range=qe.RangeFloat(gte=c.gte, gt=c.gt, lte=c.lte, lt=c.lt))
    if isinstance(c, HasId):
        return qe.HasIdCondition(point_ids=set(c.ids))
    raise TypeError(f"unsupported condition {c!r}")


def _filter(f: Filter | None) -> qe.Filter | None:
    if f is None or f.is_empty():
        return None
    return qe.Filter(
        must=[_condition(c) for c in f.must] or None,
        should=[_condition(c) for c in f.should] or None,
        must_not=[_condition(c) for c in f.must_not] or None,
    )


def _query(q: Query) -> Any:
    if isinstance(q, Nearest):
        return qe.Query.Nearest(q.vector, using=q.using)
    if isinstance(q, Recommend):
        rq = qe.RecommendQuery(positives=q.positive, negatives=q.negative)
        if q.strategy == "sum_scores":
            return qe.Query.RecommendSumScores(rq, using=q.using)
        return qe.Query.RecommendBestScore(rq, using=q.using)
    if isinstance(q, Mmr):
        return qe.Mmr(vector=q.vector, lambda_=1.0 - q.diversity, candidates_limit=q.candidates, using=q.using)
    if isinstance(q, Fusion):
        return qe.Fusion.Rrf(k=q.k, weights=q.weights) if q.method == "rrf" else qe.Fusion.Dbsf()
    if isinstance(q, Blend):
        E = qe.Expression
        terms = [E.Mult([E.Constant(w), E.Variable(f"$score[{i}]")]) for i, w in enumerate(q.weights) if w]
        terms += [E.Mult([E.Constant(w), E.Ln(E.Sum([E.Constant(1.0), E.Variable(key)]))]) for key, w in q.log_payload.items() if w]
        defaults = {f"$score[{i}]": 0.0 for i in range(len(q.weights))} | {key: 0 for key in q.log_payload}
        return qe.Formula(E.Sum(terms or [E.Constant(0.0)]), defaults=defaults)
    if isinstance(q, OrderBy):
        return qe.OrderBy(key=q.key, direction=qe.Direction.Desc if q.descending else qe.Direction.Asc)
    raise TypeError(f"unsupported query {q!r}")


def _prefetch(p: Prefetch, params: qe.SearchParams | None) -> qe.Prefetch:
    return qe.Prefetch(limit=p.limit, query=_query(p.query), filter=_filter(p.filter), params=params,
                       prefetches=[_prefetch(inner, params) for inner in p.prefetch] or None)


def _selector(x: bool | list[str]) -> bool | list[str]:
    return list(x) if isinstance(x, list) else bool(x)


def _record(p, cls=Record, **extra) -> Record:
    vectors = p.vector if isinstance(p.vector, dict) and p.vector else None
    return cls(id=str(p.id), payload=p.payload or {}, vectors=vectors, **extra)


class EdgeStore(VectorStore):
    name = "edge"

    def __init__(self, data_dir: Path, *, hnsw: Hnsw | None = None):
        """`hnsw=None`: exact search on plain segments, for every collection."""
        self.data_dir = Path(data_dir)
        self.shards_dir = self.data_dir / "shards"
        self.catalog_path = self.data_dir / "collections.json"
        self.hnsw = hnsw
        self._params = None
        if hnsw:
            rescore = qe.QuantizationSearchParams(rescore=True, oversampling=hnsw.oversampling) if hnsw.int8 else None
            self._params = qe.SearchParams(hnsw_ef=hnsw.ef, quantization=rescore)
        self._lock = threading.Lock()

    # --- the catalog file: aliases and metadata ----------------------------------------------------------

    def _catalog(self) -> dict[str, Any]:
        if self.catalog_path.exists():
            return json.loads(self.catalog_path.read_text())
        return {"aliases": {}, "collections": {}}

    def _write_catalog(self, catalog: dict[str, Any]) -> None:
        # write-then-rename: an alias switch is atomic even if the process dies mid-write
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.catalog_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(catalog, indent=1, sort_keys=True))
        os.replace(tmp, self.catalog_path)

    def _physical(self, name: str) -> str:
        catalog = self._catalog()
        target = catalog["aliases"].get(name, name)
        if target not in catalog["collections"]:
            raise CollectionNotFound(f"no collection {name!r} in {self.data_dir}")
        return target

    def _shard(self, name: str) -> qe.EdgeShard:
        path = (self.shards_dir / self._physical(name)).resolve()
        with _registry_lock:
            shard = _open_shards.get(path)
            if shard is None:
                try:
                    shard = qe.EdgeShard.load(str(path))
                except Exception as exc:  # the binding raises a bare Exception
                    if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
                        raise StoreLockedError(LOCKED_MESSAGE.format(dir=self.data_dir)) from exc
                    raise StoreError(f"cannot open shard {path}: {exc}") from exc
                _open_shards[path] = shard
            return shard

    # --- collections ---------------------------------------------------------------------------------------

    def create_collection(self, name: str, vectors: dict[str, int], metadata: dict[str, Any] | None = None, *,
                          searched: bool = True) -> None:
        with self._lock:
            catalog = self._catalog()
            if name in catalog["collections"] or name in catalog["aliases"]:
                raise StoreError(f"collection {name!r} already exists")
            path = self.shards_dir / name
            if path.exists():  # left over by a crash before the catalog was written
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            vector_params = {n: qe.EdgeVectorParams(size=d, distance=qe.Distance.Dot) for n, d in vectors.items()}
            if self.hnsw and searched:
                # the graph is built by optimize() after a bulk load; until then new points are searched exactly.
                # full_scan_threshold is Qdrant's own default (KB): smaller filtered subsets are scanned exactly.
                config = qe.EdgeConfig(
                    vectors=vector_params,
                    hnsw_config=qe.HnswIndexConfig(m=self.hnsw.m, ef_construct=self.hnsw.ef_construct,
                                                   full_scan_threshold=10_000),
                    # quantile 0.99: the int8 range ignores the most extreme 1 % of components
                    quantization_config=qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99,
                                                                    always_ram=True) if self.hnsw.int8 else None,
                )
            else:  # indexing_threshold=0: plain segments only, exact search, nothing to build
                config = qe.EdgeConfig(vectors=vector_params, optimizers=qe.EdgeOptimizersConfig(indexing_threshold=0))
            shard = qe.EdgeShard.create(str(path), config)
            with _registry_lock:
                _open_shards[path.resolve()] = shard
            catalog["collections"][name] = {"vectors": vectors, "metadata": metadata or {}}
            self._write_catalog(catalog)

    def drop_collection(self, name: str) -> None:
        with self._lock:
            catalog = self._catalog()
            target = catalog["aliases"].get(name, name)
            catalog["collections"].pop(target, None)
            catalog["aliases"] = {a: t for a, t in catalog["aliases"].items() if t != target and a != name}
            self._write_catalog(catalog)
            path = (self.shards_dir / target).resolve()
            with _registry_lock:
                shard = _open_shards.pop(path, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(path, ignore_errors=True)

    def set_alias(self, alias: str, collection: str) -> None:
        with self._lock:
            catalog = self._catalog()
            if collection not in catalog["collections"]:
                raise CollectionNotFound(f"no collection {collection!r}")
            catalog["aliases"][alias] = collection
            self._write_catalog(catalog)

    def resolve(self, alias: str) -> str | None:
        return self._catalog()["aliases"].get(alias)

    def collections(self) -> list[CollectionInfo]:
        catalog = self._catalog()
        return [
            CollectionInfo(
                name=alias,
                target=target,
                count=self.count(target),
                indexed=self._shard(target).info().indexed_vectors_count,
                metadata=catalog["collections"][target]["metadata"],
            )
            for alias, target in sorted(catalog["aliases"].items())
        ]

    def metadata(self, collection: str) -> dict[str, Any]:
        return self._catalog()["collections"][self._physical(collection)]["metadata"]

    def create_payload_index(self, collection: str, key: str, kind: Literal["keyword", "integer", "float"]) -> None:
        schema = {
            "keyword": qe.PayloadSchemaType.Keyword,
            "integer": qe.PayloadSchemaType.Integer,
            "float": qe.PayloadSchemaType.Float,
        }[kind]
        self._shard(collection).update(qe.UpdateOperation.create_field_index(key, schema))

    # --- points --------------------------------------------------------------------------------------------

    def upsert(self, collection: str, points: list[PointIn]) -> None:
        if points:
            self._shard(collection).update(
                qe.UpdateOperation.upsert_points(
                    [qe.Point(id=p.id, vector=plain_vectors(p.vectors), payload=p.payload) for p in points]
                )
            )

    def set_payload(self, collection: str, point_id: str, payload: dict[str, Any]) -> None:
        self._shard(collection).update(qe.UpdateOperation.overwrite_payload([point_id], payload))

    def update_payload(self, collection: str, ids: list[str], payload: dict[str, Any]) -> None:
        if ids:
            self._shard(collection).update(qe.UpdateOperation.set_payload(list(ids), payload))

    def update_vectors_many(self, collection: str, updates: dict[str, dict[str, Any]]) -> None:
        if updates:
            self._shard(collection).update(qe.UpdateOperation.update_vectors(
                [qe.PointVectors(id=pid, vector=plain_vectors(vectors)) for pid, vectors in updates.items()]))

    def delete(self, collection: str, ids: list[str]) -> None:
        if ids:
            self._shard(collection).update(qe.UpdateOperation.delete_points(list(ids)))

    def retrieve(self, collection, ids, *, payload=True, vectors=False) -> list[Record]:
        if not ids:
            return []
        found = self._shard(collection).retrieve(
            list(ids), with_payload=_selector(payload), with_vector=_selector(vectors)
        )
        return [_record(p) for p in found]

    def query(self, collection, query, *, limit, filter=None, prefetch=None, payload=True, vectors=False) -> list[Hit]:
        request = qe.QueryRequest(
            limit=limit,
            query=_query(query),
            prefetches=[_prefetch(p, self._params) for p in prefetch] if prefetch else None,
            filter=_filter(filter),
            params=self._params,
            with_payload=_selector(payload),
            with_vector=_selector(vectors),
        )
        points = self._shard(collection).query(request)
        return [_record(p, Hit, score=p.order_value if p.order_value is not None else p.score) for p in points]

    def scroll_page(self, collection, *, filter=None, limit=1000, offset=None, payload=True, vectors=False):
        records, next_offset = self._shard(collection).scroll(
            qe.ScrollRequest(
                offset=offset,
                limit=limit,
                filter=_filter(filter),
                with_payload=_selector(payload),
                with_vector=_selector(vectors),
            )
        )
        return [_record(p) for p in records], (str(next_offset) if next_offset is not None else None)

    def count(self, collection: str, filter: Filter | None = None) -> int:
        return self._shard(collection).count(qe.CountRequest(exact=True, filter=_filter(filter)))

    def optimize(self, collection: str) -> None:
        self._shard(collection).optimize()

    def flush(self, collection: str) -> None:
        self._shard(collection).flush()

    def close(self) -> None:
        """Flush and release every shard of this data dir, so another process may open it."""
        prefix = self.shards_dir.resolve()
        with _registry_lock:
            for path in [p for p in _open_shards if p.is_relative_to(prefix)]:
                shard = _open_shards.pop(path)
                shard.flush()
                shard.close()
