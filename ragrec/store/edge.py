"""Qdrant Edge: the real Qdrant engine in-process, one `EdgeShard` directory per physical collection.

Layout under the data dir::

    .lock                    held by the one process that owns the data dir
    shards/<dir>/            an EdgeShard (segments + WAL); <dir> is the collection's name, or name~N after N
                             index builds
    collections.json         {"aliases": {alias: physical}, "collections": {physical: {vectors, metadata, dir}}}

One process owns a data dir: the first store to touch it takes a file lock (`filelock`), and a second process gets
`StoreLockedError`. Within the process every `EdgeStore` of that dir shares one `_DataDir`: the lock, the catalog
(held in memory, written atomically), and the open shards (a shard can be opened once per process). Each store
counts as one user of the dir; the last `close()` flushes the shards and releases the lock.

Index builds never stall the process: `EdgeShard.optimize()` holds the GIL for its whole run (2-3 s per 10k
vectors, about a minute at 100k), so `optimize()` copies the flushed shard, builds the index on the copy in a child
process, replays the writes that arrived meanwhile, and swaps the copy in; queries keep being served from the old
shard until the swap (bench/RESULTS.md, "Serving while the catalog changes").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal

import qdrant_edge as qe
from filelock import FileLock, Timeout

from ragrec.store.base import (
    Blend,
    CollectionInfo,
    CollectionNotFound,
    Filter,
    Fusion,
    HasId,
    Hit,
    Hnsw,
    IsEmpty,
    Match,
    MatchAny,
    Mmr,
    Nearest,
    OrderBy,
    PointIn,
    Prefetch,
    Query,
    Range,
    Recommend,
    Record,
    StoreError,
    StoreLockedError,
    VectorStore,
    check_new_collection,
    plain_vectors,
)

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
    if isinstance(c, IsEmpty):
        return qe.IsEmptyCondition(key=c.key)
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


class _Prefetches:
    """Translates a prefetch tree, converting each query and filter object once: the hybrid plan shares them
    between stages, and a filter excluding a heavy user's thousands of seen items costs real time to convert."""

    def __init__(self, params: qe.SearchParams | None):
        self.params = params
        self._queries: dict[int, Any] = {}
        self._filters: dict[int, Any] = {}

    def __call__(self, p: Prefetch) -> qe.Prefetch:
        if id(p.query) not in self._queries:
            self._queries[id(p.query)] = _query(p.query)
        if id(p.filter) not in self._filters:
            self._filters[id(p.filter)] = _filter(p.filter)
        return qe.Prefetch(limit=p.limit, query=self._queries[id(p.query)], filter=self._filters[id(p.filter)],
                           params=self.params, prefetches=[self(inner) for inner in p.prefetch] or None)


def _selector(x: bool | list[str]) -> bool | list[str]:
    return list(x) if isinstance(x, list) else bool(x)


def _record(p, cls=Record, **extra) -> Record:
    vectors = p.vector  # read once: each read converts every float of every vector again (~5 us a vector)
    vectors = vectors if isinstance(vectors, dict) and vectors else None
    return cls(id=str(p.id), payload=p.payload or {}, vectors=vectors, **extra)


_SCHEMAS = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer,
            "float": qe.PayloadSchemaType.Float}


def _vector_params(vectors: dict[str, int]) -> dict[str, qe.EdgeVectorParams]:
    return {n: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Dot) for n, dim in vectors.items()}


def _load_shard(path: Path, vectors: dict[str, int], search_threads: int | None) -> qe.EdgeShard:
    """Open a shard; `search_threads` sizes its search pool (None: the shard's own setting, by default one thread
    per CPU). The engine needs the vectors' config beside it; everything else stays as the shard has it."""
    config = None
    if search_threads is not None:
        config = qe.EdgeConfig(vectors=_vector_params(vectors), max_search_threads=search_threads)
    try:
        return qe.EdgeShard.load(str(path), config)
    except Exception as exc:  # the binding raises a bare Exception
        raise StoreError(f"cannot open the Qdrant Edge shard {path}: {exc}") from exc


def _service_hint(path: Path) -> str:
    """Name the API to use when the owner is a `ragrec serve` (it leaves service.json in the data dir)."""
    try:
        info = json.loads((path / "service.json").read_text())
        return (f"; it is the ragrec service at {info['url']} (pid {info['pid']}): send catalogs to "
                f"{info['url']}/v1/ingest-jobs, feedback to {info['url']}/v1/feedback")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


# --- process-wide state of a data dir ---------------------------------------------------------------------------


class _Shard:
    """An open shard and the calls in flight on it, so a shard swapped out by an index build (or dropped) is
    closed only once the last call using it has returned."""

    def __init__(self, shard: qe.EdgeShard, path: Path):
        self.shard, self.path = shard, path
        self.in_use = 0
        self.retired = False
        self.remove_files = False


class _Collection:
    """One physical collection: its open shard, a lock that orders its writes, and, while an index is being built
    on a copy, the journal of writes to replay on that copy."""

    def __init__(self):
        self.ref: _Shard | None = None
        self.write_lock = threading.Lock()
        self.build_lock = threading.Lock()
        self.journal: list[Any] | None = None


class _DataDir:
    def __init__(self, path: Path):
        self.path = path
        self.shards_dir = path / "shards"
        self.catalog_path = path / "collections.json"
        self.lock = threading.RLock()  # the catalog and the shard registry
        self.users = 0
        path.mkdir(parents=True, exist_ok=True)
        self.file_lock = FileLock(str(path / ".lock"), thread_local=False)
        try:
            self.file_lock.acquire(timeout=0)
        except Timeout:
            raise StoreLockedError(LOCKED_MESSAGE.format(dir=path) + _service_hint(path)) from None
        try:
            self.catalog = self._read_catalog()
        except StoreError:
            self.file_lock.release()
            raise
        self.collections: dict[str, _Collection] = {}
        self._remove_orphans()

    def _read_catalog(self) -> dict[str, Any]:
        if not self.catalog_path.exists():
            return {"aliases": {}, "collections": {}}
        try:
            catalog = json.loads(self.catalog_path.read_text(encoding="utf-8"))
            if not isinstance(catalog.get("aliases"), dict) or not isinstance(catalog.get("collections"), dict):
                raise ValueError("no 'aliases' and 'collections' objects")
            return catalog
        except (OSError, ValueError) as exc:
            raise StoreError(f"the collection catalog {self.catalog_path} is unreadable ({exc}); restore it from a "
                             "backup, or remove the data dir to start again") from exc

    def write_catalog(self) -> None:
        # write, fsync, rename: an alias switch is atomic even if the process dies mid-write
        tmp = self.catalog_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.catalog, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.catalog_path)

    def dir_of(self, physical: str) -> Path:
        return self.shards_dir / self.catalog["collections"][physical].get("dir", physical)

    def _remove_orphans(self) -> None:
        """Shard copies left by an index build that died before its swap."""
        if not self.shards_dir.is_dir():
            return
        live = {self.dir_of(name).name for name in self.catalog["collections"]}
        for path in self.shards_dir.iterdir():
            if "~" in path.name and path.name not in live:
                shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        for coll in self.collections.values():
            if coll.ref is not None:
                coll.ref.shard.flush()
                coll.ref.shard.close()
                coll.ref = None
        self.file_lock.release()


_dirs: dict[Path, _DataDir] = {}
_dirs_lock = threading.Lock()


class EdgeStore(VectorStore):
    name = "edge"

    def __init__(self, data_dir: Path, *, hnsw: Hnsw | None = None, search_threads: int | None = None):
        """`hnsw=None`: exact search on plain segments, for every collection. `search_threads`: each shard's search
        pool (Settings.edge_search_threads says why 1). Nothing is opened until first use."""
        self.data_dir = Path(data_dir)
        self.hnsw = hnsw
        self.search_threads = search_threads
        self._params = None
        if hnsw:
            rescore = qe.QuantizationSearchParams(rescore=True, oversampling=hnsw.oversampling) if hnsw.int8 else None
            self._params = qe.SearchParams(hnsw_ef=hnsw.ef, quantization=rescore)
        self._dir: _DataDir | None = None
        self._attach_lock = threading.Lock()

    # --- the data dir, its catalog and shards -------------------------------------------------------------------

    @property
    def _d(self) -> _DataDir:
        """This store's share of the process-wide data dir state, taken (and the dir locked) on first use."""
        if self._dir is None:
            with self._attach_lock, _dirs_lock:
                if self._dir is None:
                    key = self.data_dir.resolve()
                    state = _dirs.get(key)
                    if state is None:
                        state = _dirs[key] = _DataDir(key)
                    state.users += 1
                    self._dir = state
        return self._dir

    def _physical(self, name: str) -> str:
        d = self._d
        with d.lock:
            target = d.catalog["aliases"].get(name, name)
            if target not in d.catalog["collections"]:
                raise CollectionNotFound(f"no collection {name!r} in {self.data_dir}")
            return target

    def _collection(self, physical: str) -> _Collection:
        d = self._d
        with d.lock:
            return d.collections.setdefault(physical, _Collection())

    @contextmanager
    def _using(self, name: str) -> Iterator[qe.EdgeShard]:
        """The collection's open shard, held open for the duration of the call."""
        d = self._d
        with d.lock:
            physical = self._physical(name)
            coll = d.collections.setdefault(physical, _Collection())
            if coll.ref is None:
                path = d.dir_of(physical)
                vectors = d.catalog["collections"][physical]["vectors"]
                coll.ref = _Shard(_load_shard(path, vectors, self.search_threads), path)
            ref = coll.ref
            ref.in_use += 1
        try:
            yield ref.shard
        except Exception as exc:
            if type(exc) is Exception:  # the binding's own errors are bare Exceptions: say where they came from
                raise StoreError(f"Qdrant Edge refused the request on {name!r}: {exc}") from exc
            raise
        finally:
            with d.lock:
                ref.in_use -= 1
                if ref.retired and ref.in_use == 0:
                    self._close_ref(ref)

    @staticmethod
    def _close_ref(ref: _Shard) -> None:
        ref.shard.close()
        if ref.remove_files:
            shutil.rmtree(ref.path, ignore_errors=True)

    def _retire(self, coll: _Collection, remove_files: bool) -> None:
        """Close the collection's shard once unused (caller holds the dir lock)."""
        ref, coll.ref = coll.ref, None
        if ref is None:
            return
        ref.retired, ref.remove_files = True, remove_files
        if ref.in_use == 0:
            self._close_ref(ref)

    def _update(self, name: str, operation: Any) -> None:
        coll = self._collection(self._physical(name))
        with coll.write_lock, self._using(name) as shard:
            shard.update(operation)
            if coll.journal is not None:  # an index build is under way on a copy: replay it there too
                coll.journal.append(operation)

    # --- collections ---------------------------------------------------------------------------------------

    def create_collection(self, name: str, vectors: dict[str, int], metadata: dict[str, Any] | None = None, *,
                          searched: bool = True) -> None:
        check_new_collection(name)
        d = self._d
        with d.lock:
            if name in d.catalog["collections"] or name in d.catalog["aliases"]:
                raise StoreError(f"collection {name!r} already exists")
            path = d.shards_dir / name
            if path.exists():  # left over by a crash before the catalog was written
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            vector_params = _vector_params(vectors)
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
                    max_search_threads=self.search_threads,
                )
            else:  # indexing_threshold=0: plain segments only, exact search, nothing to build
                config = qe.EdgeConfig(vectors=vector_params, optimizers=qe.EdgeOptimizersConfig(indexing_threshold=0),
                                       max_search_threads=self.search_threads)
            shard = qe.EdgeShard.create(str(path), config)
            d.collections[name] = coll = _Collection()
            coll.ref = _Shard(shard, path)
            d.catalog["collections"][name] = {"vectors": vectors, "metadata": metadata or {}}
            d.write_catalog()

    def drop_collection(self, name: str) -> None:
        d = self._d
        with d.lock:
            target = d.catalog["aliases"].get(name, name)
            if target not in d.catalog["collections"]:
                return
            path = d.dir_of(target)
            del d.catalog["collections"][target]
            d.catalog["aliases"] = {a: t for a, t in d.catalog["aliases"].items() if t != target and a != name}
            d.write_catalog()
            coll = d.collections.pop(target, None)
            if coll is not None and coll.ref is not None:
                self._retire(coll, remove_files=True)
            else:
                shutil.rmtree(path, ignore_errors=True)

    def set_alias(self, alias: str, collection: str) -> None:
        d = self._d
        with d.lock:
            if collection not in d.catalog["collections"]:
                raise CollectionNotFound(f"no collection {collection!r}")
            d.catalog["aliases"][alias] = collection
            d.write_catalog()

    def resolve(self, alias: str) -> str | None:
        d = self._d
        with d.lock:
            return d.catalog["aliases"].get(alias)

    def collections(self) -> list[CollectionInfo]:
        d = self._d
        with d.lock:
            aliases = sorted(d.catalog["aliases"].items())
        infos = []
        for alias, target in aliases:
            with self._using(target) as shard:
                info = shard.info()
            infos.append(CollectionInfo(name=alias, target=target, count=info.points_count,
                                        indexed=info.indexed_vectors_count, metadata=self.metadata(target)))
        return infos

    def metadata(self, collection: str) -> dict[str, Any]:
        d = self._d
        with d.lock:
            return dict(d.catalog["collections"][self._physical(collection)]["metadata"])

    def vector_sizes(self, collection: str) -> dict[str, int]:
        d = self._d
        with d.lock:
            return dict(d.catalog["collections"][self._physical(collection)]["vectors"])

    def create_payload_index(self, collection: str, key: str, kind: Literal["keyword", "integer", "float"]) -> None:
        self._update(collection, qe.UpdateOperation.create_field_index(key, _SCHEMAS[kind]))

    def payload_indexes(self, collection: str) -> dict[str, str]:
        with self._using(collection) as shard:
            schema = shard.info().payload_schema
        return {key: next((kind for kind, t in _SCHEMAS.items() if t == info.data_type), "other")
                for key, info in schema.items()}

    def clone_collection(self, source: str, target: str) -> None:
        """A new physical collection `target` holding a copy of `source` (index included), made by copying the
        flushed shard's files: fast, for tests and benchmarks that need a private copy to change."""
        check_new_collection(target)
        d = self._d
        physical = self._physical(source)
        coll = self._collection(physical)
        with coll.write_lock, self._using(physical) as shard:
            shard.flush()
            with d.lock:
                if target in d.catalog["collections"] or target in d.catalog["aliases"]:
                    raise StoreError(f"collection {target!r} already exists")
                entry = d.catalog["collections"][physical]
                src = d.dir_of(physical)
            shutil.rmtree(d.shards_dir / target, ignore_errors=True)
            shutil.copytree(src, d.shards_dir / target)
        with d.lock:
            d.catalog["collections"][target] = {"vectors": entry["vectors"], "metadata": dict(entry["metadata"])}
            d.write_catalog()

    # --- points --------------------------------------------------------------------------------------------

    def upsert(self, collection: str, points: list[PointIn]) -> None:
        if points:
            self._update(collection, qe.UpdateOperation.upsert_points(
                [qe.Point(id=p.id, vector=plain_vectors(p.vectors), payload=p.payload) for p in points]))

    def set_payload(self, collection: str, point_id: str, payload: dict[str, Any]) -> None:
        self._update(collection, qe.UpdateOperation.overwrite_payload([point_id], payload))

    def update_payload(self, collection: str, ids: list[str], payload: dict[str, Any]) -> None:
        if ids:
            self._update(collection, qe.UpdateOperation.set_payload(list(ids), payload))

    def update_vectors_many(self, collection: str, updates: dict[str, dict[str, Any]]) -> None:
        if updates:
            self._update(collection, qe.UpdateOperation.update_vectors(
                [qe.PointVectors(id=pid, vector=plain_vectors(vectors)) for pid, vectors in updates.items()]))

    def delete_vectors(self, collection: str, names: list[str]) -> None:
        if names:  # an empty filter matches every point
            self._update(collection, qe.UpdateOperation.delete_vectors_by_filter(qe.Filter(), list(names)))

    def delete(self, collection: str, ids: list[str]) -> None:
        if ids:
            self._update(collection, qe.UpdateOperation.delete_points(list(ids)))

    def retrieve(self, collection, ids, *, payload=True, vectors=False) -> list[Record]:
        if not ids:
            return []
        with self._using(collection) as shard:
            found = shard.retrieve(list(ids), with_payload=_selector(payload), with_vector=_selector(vectors))
        return [_record(p) for p in found]

    def query(self, collection, query, *, limit, filter=None, prefetch=None, payload=True, vectors=False) -> list[Hit]:
        translate = _Prefetches(self._params)
        request = qe.QueryRequest(
            limit=limit,
            query=_query(query),
            prefetches=[translate(p) for p in prefetch] if prefetch else None,
            filter=_filter(filter),
            params=self._params,
            with_payload=_selector(payload),
            with_vector=_selector(vectors),
        )
        with self._using(collection) as shard:
            points = shard.query(request)
        return [_record(p, Hit, score=p.order_value if p.order_value is not None else p.score) for p in points]

    def scroll_page(self, collection, *, filter=None, limit=1000, offset=None, payload=True, vectors=False):
        request = qe.ScrollRequest(offset=offset, limit=limit, filter=_filter(filter),
                                   with_payload=_selector(payload), with_vector=_selector(vectors))
        with self._using(collection) as shard:
            records, next_offset = shard.scroll(request)
        return [_record(p) for p in records], (str(next_offset) if next_offset is not None else None)

    def count(self, collection: str, filter: Filter | None = None) -> int:
        with self._using(collection) as shard:
            return shard.count(qe.CountRequest(exact=True, filter=_filter(filter)))

    def facet(self, collection: str, key: str, *, limit: int = 100) -> dict[str, int]:
        with self._using(collection) as shard:
            response = shard.facet(qe.FacetRequest(key=key, limit=limit, exact=True))
        return {hit.value: hit.count for hit in response.hits}

    def flush(self, collection: str) -> None:
        with self._using(collection) as shard:
            shard.flush()

    def optimize(self, collection: str) -> None:
        """Build the index out of process: copy the flushed shard, optimize the copy in a child process (the
        binding holds the GIL while it builds), replay the writes made meanwhile, and swap it in."""
        d = self._d
        physical = self._physical(collection)
        coll = self._collection(physical)
        with coll.build_lock:
            with coll.write_lock:
                with self._using(physical) as shard:
                    shard.flush()
                with d.lock:
                    src = d.dir_of(physical)
                    generation = int(src.name.rsplit("~", 1)[1]) + 1 if "~" in src.name else 1
                    dst = d.shards_dir / f"{physical}~{generation}"
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst)
                coll.journal = []
            try:
                _build_in_child(dst)
                built = _load_shard(dst, d.catalog["collections"][physical]["vectors"], self.search_threads)
            except BaseException:
                coll.journal = None
                shutil.rmtree(dst, ignore_errors=True)
                raise
            with coll.write_lock:
                for operation in coll.journal:
                    built.update(operation)
                coll.journal = None
                built.flush()
                with d.lock:
                    if physical not in d.catalog["collections"]:  # dropped while we built
                        built.close()
                        shutil.rmtree(dst, ignore_errors=True)
                        return
                    d.catalog["collections"][physical]["dir"] = dst.name
                    d.write_catalog()
                    self._retire(coll, remove_files=True)
                    coll.ref = _Shard(built, dst)

    def close(self) -> None:
        """Stop using the data dir; the process's last store of it flushes and closes the shards and releases the
        lock, so another process may open it."""
        with self._attach_lock, _dirs_lock:
            state, self._dir = self._dir, None
            if state is None:
                return
            state.users -= 1
            if state.users == 0:
                _dirs.pop(state.path, None)
                with state.lock:
                    state.close()


def _build_in_child(path: Path) -> None:
    """Optimize the shard at `path` in a child process at low priority; raise StoreError if it fails."""
    code = ("import os, sys, qdrant_edge as qe\n"
            "os.nice(10)\n"
            "shard = qe.EdgeShard.load(sys.argv[1]); shard.optimize(); shard.flush(); shard.close()\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StoreError(f"building the index of {path.name} failed: {detail}")
