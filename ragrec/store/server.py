"""A Qdrant server or cluster through qdrant-client (`query_points`), with timeouts and retries.

qdrant-client's local mode (`QdrantClient(":memory:")`) runs the same client code against an in-process
implementation of the API; the tests use it to stand in for a server.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, TypeVar

from pydantic import BaseModel, Field
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragrec.retry import retrying
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
    VectorStore,
    check_new_collection,
    plain_vectors,
)

T = TypeVar("T")


class Placement(BaseModel):
    """How each collection ragrec creates is spread over a Qdrant cluster (Settings.qdrant_shard_number, ...);
    None leaves a parameter to the server's default. Fixed at creation: a rebuild or reindex creates the next
    generation with the current settings, so changing them takes effect there."""

    shard_number: int | None = Field(None, ge=1)
    replication_factor: int | None = Field(None, ge=1)
    write_consistency_factor: int | None = Field(None, ge=1)


def _transient(exc: BaseException) -> bool:
    """Worth another try: no answer, a timeout, a 5xx, or 429 (a rate limit): the LLM client's rule too."""
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, (ResponseHandlingException, ConnectionError, TimeoutError))


def _condition(c) -> Any:
    if isinstance(c, Filter):
        return _filter(c)
    if isinstance(c, Match):
        return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.value))
    if isinstance(c, MatchAny):
        return models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.any)))
    if isinstance(c, Range):
        return models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, gt=c.gt, lte=c.lte, lt=c.lt))
    if isinstance(c, HasId):
        return models.HasIdCondition(has_id=list(c.ids))
    if isinstance(c, IsEmpty):
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=c.key))
    raise TypeError(f"unsupported condition {c!r}")


def _filter(f: Filter | None) -> models.Filter | None:
    if f is None or f.is_empty():
        return None
    return models.Filter(
        must=[_condition(c) for c in f.must] or None,
        should=[_condition(c) for c in f.should] or None,
        must_not=[_condition(c) for c in f.must_not] or None,
    )


def _query(q: Query) -> tuple[Any, str | None]:
    """The query object and the named vector it uses."""
    if isinstance(q, Nearest):
        return models.NearestQuery(nearest=q.vector), q.using
    if isinstance(q, Recommend):
        strategy = models.RecommendStrategy.SUM_SCORES if q.strategy == "sum_scores" else models.RecommendStrategy.BEST_SCORE
        return (
            models.RecommendQuery(
                recommend=models.RecommendInput(positive=q.positive, negative=q.negative, strategy=strategy)
            ),
            q.using,
        )
    if isinstance(q, Mmr):
        mmr = models.Mmr(diversity=q.diversity, candidates_limit=q.candidates)
        return models.NearestQuery(nearest=q.vector, mmr=mmr), q.using
    if isinstance(q, Fusion):
        if q.method == "dbsf":
            return models.FusionQuery(fusion=models.Fusion.DBSF), None
        return models.RrfQuery(rrf=models.Rrf(k=q.k, weights=q.weights)), None
    if isinstance(q, Blend):
        terms: list[Any] = [models.MultExpression(mult=[w, f"$score[{i}]"]) for i, w in enumerate(q.weights) if w]
        terms += [models.MultExpression(mult=[w, models.LnExpression(ln=models.SumExpression(sum=[1.0, key]))])
                  for key, w in q.log_payload.items() if w]
        defaults = {f"$score[{i}]": 0.0 for i in range(len(q.weights))} | {key: 0 for key in q.log_payload}
        return models.FormulaQuery(formula=models.SumExpression(sum=terms or [0.0]), defaults=defaults), None
    if isinstance(q, OrderBy):
        direction = models.Direction.DESC if q.descending else models.Direction.ASC
        return models.OrderByQuery(order_by=models.OrderBy(key=q.key, direction=direction)), None
    raise TypeError(f"unsupported query {q!r}")


def _prefetch(p: Prefetch, params: models.SearchParams | None) -> models.Prefetch:
    query, using = _query(p.query)
    return models.Prefetch(query=query, using=using, limit=p.limit, filter=_filter(p.filter), params=params,
                           prefetch=[_prefetch(inner, params) for inner in p.prefetch] or None)


def _vectors(v) -> dict[str, list[float]] | None:
    return dict(v) if isinstance(v, dict) and v else None


class ServerStore(VectorStore):
    name = "server"

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        client: QdrantClient | None = None,
        hnsw: Hnsw | None = None,
        placement: Placement | None = None,
    ):
        """`hnsw=None`: no HNSW graph, exact search (as on Qdrant Edge). `placement`: shards and replicas of the
        collections it creates (None: the server's defaults)."""
        # qdrant-client rounds a fractional timeout up to whole seconds itself (0.5 s -> 1 s; int() made it 0).
        # No version check at start-up: it is one more request, and a warning when the server is down.
        try:
            self.client = client or QdrantClient(url=url, api_key=api_key, timeout=timeout,  # type: ignore[arg-type]
                                                 check_compatibility=False)
        except Exception as exc:  # urllib3's LocationParseError, ValueError("Unknown scheme"), ...
            raise StoreError(f"cannot use the Qdrant URL {url!r} ({exc}): give http(s)://host:port "
                             "(RAGREC_QDRANT_URL)") from exc
        self.retries = retries
        self.hnsw = hnsw
        self.placement = placement or Placement()
        self._params = None
        if hnsw:
            rescore = models.QuantizationSearchParams(rescore=True, oversampling=hnsw.oversampling) if hnsw.int8 \
                else None
            self._params = models.SearchParams(hnsw_ef=hnsw.ef, quantization=rescore)

    def _call(self, fn: Callable[[], T]) -> T:
        """Retry transient failures (connection errors, timeouts, 5xx) with ragrec's one retry policy; a 4xx fails
        at once."""
        try:
            for attempt in retrying(self.retries, _transient):
                with attempt:
                    return fn()
        except UnexpectedResponse as exc:
            if exc.status_code == 404:
                raise CollectionNotFound(str(exc)) from exc
            raise StoreError(f"Qdrant refused the request: {exc}") from exc
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise StoreError(f"Qdrant server unreachable after {self.retries + 1} tries: {exc}") from exc
        raise AssertionError("unreachable")

    def _exists(self, name: str) -> bool:
        return self._call(lambda: self.client.collection_exists(name))

    def _physical(self, name: str) -> str:
        target = self.resolve(name) or name
        if not self._exists(target):
            raise CollectionNotFound(f"no collection {name!r} on the Qdrant server")
        return target

    def create_collection(self, name: str, vectors: dict[str, int], metadata: dict[str, Any] | None = None, *,
                          searched: bool = True) -> None:
        check_new_collection(name)
        if self._exists(name) or self.resolve(name):
            raise StoreError(f"collection {name!r} already exists")
        config = {n: models.VectorParams(size=d, distance=models.Distance.DOT) for n, d in vectors.items()}
        # m=0: no graph (exact search), for collections only read by id or when HNSW is off
        hnsw = models.HnswConfigDiff(m=self.hnsw.m, ef_construct=self.hnsw.ef_construct) if self.hnsw and searched \
            else models.HnswConfigDiff(m=0)
        int8 = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=0.99, always_ram=True)) if self.hnsw and self.hnsw.int8 and searched \
            else None
        self._call(lambda: self.client.create_collection(name, vectors_config=config, hnsw_config=hnsw,
                                                         quantization_config=int8, metadata=metadata or {},
                                                         **self.placement.model_dump()))

    def drop_collection(self, name: str) -> None:
        target = self.resolve(name) or name
        self._call(lambda: self.client.delete_collection(target))

    def set_alias(self, alias: str, collection: str) -> None:
        ops: list[Any] = []
        if self.resolve(alias):
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        ops.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection, alias_name=alias))
        )
        self._call(lambda: self.client.update_collection_aliases(change_aliases_operations=ops))

    def resolve(self, alias: str) -> str | None:
        aliases = self._call(self.client.get_aliases).aliases
        return next((a.collection_name for a in aliases if a.alias_name == alias), None)

    def _indexed(self, name: str) -> int:
        return self._call(lambda: self.client.get_collection(name)).indexed_vectors_count or 0

    def collections(self) -> list[CollectionInfo]:
        aliases = self._call(self.client.get_aliases).aliases
        return [
            CollectionInfo(name=a.alias_name, target=a.collection_name, count=self.count(a.collection_name),
                           indexed=self._indexed(a.collection_name), metadata=self.metadata(a.collection_name))
            for a in sorted(aliases, key=lambda a: a.alias_name)
        ]

    def metadata(self, collection: str) -> dict[str, Any]:
        info = self._call(lambda: self.client.get_collection(self._physical(collection)))
        return dict(info.config.metadata or {})

    def vector_sizes(self, collection: str) -> dict[str, int]:
        params = self._call(lambda: self.client.get_collection(self._physical(collection))).config.params.vectors
        return {name: p.size for name, p in (params or {}).items()}

    def create_payload_index(self, collection: str, key: str, kind: Literal["keyword", "integer", "float"]) -> None:
        schema = {
            "keyword": models.PayloadSchemaType.KEYWORD,
            "integer": models.PayloadSchemaType.INTEGER,
            "float": models.PayloadSchemaType.FLOAT,
        }[kind]
        self._call(lambda: self.client.create_payload_index(collection, key, field_schema=schema))

    def payload_indexes(self, collection: str) -> dict[str, str]:
        schema = self._call(lambda: self.client.get_collection(self._physical(collection))).payload_schema or {}
        kinds = {key: str(getattr(info.data_type, "value", info.data_type)) for key, info in schema.items()}
        return {key: kind if kind in ("keyword", "integer", "float") else "other" for key, kind in kinds.items()}

    def upsert(self, collection: str, points: list[PointIn]) -> None:
        if points:
            structs = [models.PointStruct(id=p.id, vector=plain_vectors(p.vectors), payload=p.payload) for p in points]
            self._call(lambda: self.client.upsert(collection, points=structs, wait=True))

    def set_payload(self, collection: str, point_id: str, payload: dict[str, Any]) -> None:
        self._call(lambda: self.client.overwrite_payload(collection, payload=payload, points=[point_id], wait=True))

    def update_payload(self, collection: str, ids: list[str], payload: dict[str, Any]) -> None:
        if ids:
            self._call(lambda: self.client.set_payload(collection, payload=payload, points=ids, wait=True))

    def update_vectors_many(self, collection: str, updates: dict[str, dict[str, Any]]) -> None:
        if updates:
            points = [models.PointVectors(id=pid, vector=plain_vectors(vectors)) for pid, vectors in updates.items()]
            self._call(lambda: self.client.update_vectors(collection, points=points, wait=True))

    def delete_vectors(self, collection: str, names: list[str]) -> None:
        if names:
            everything = models.FilterSelector(filter=models.Filter())
            self._call(lambda: self.client.delete_vectors(collection, vectors=list(names), points=everything,
                                                          wait=True))

    def delete(self, collection: str, ids: list[str]) -> None:
        if ids:
            self._call(
                lambda: self.client.delete(collection, points_selector=models.PointIdsList(points=ids), wait=True)
            )

    def retrieve(self, collection, ids, *, payload=True, vectors=False) -> list[Record]:
        if not ids:
            return []
        found = self._call(lambda: self.client.retrieve(collection, ids=ids, with_payload=payload, with_vectors=vectors))
        return [Record(id=str(p.id), payload=p.payload or {}, vectors=_vectors(p.vector)) for p in found]

    def query(self, collection, query, *, limit, filter=None, prefetch=None, payload=True, vectors=False) -> list[Hit]:
        q, using = _query(query)
        response = self._call(
            lambda: self.client.query_points(
                collection,
                query=q,
                using=using,
                prefetch=[_prefetch(p, self._params) for p in prefetch] if prefetch else None,
                query_filter=_filter(filter),
                search_params=self._params,
                limit=limit,
                with_payload=payload,
                with_vectors=vectors,
            )
        )
        return [
            Hit(id=str(p.id), score=p.order_value if p.order_value is not None else p.score,
                payload=p.payload or {}, vectors=_vectors(p.vector))
            for p in response.points
        ]

    def scroll_page(self, collection, *, filter=None, limit=1000, offset=None, payload=True, vectors=False):
        records, next_offset = self._call(
            lambda: self.client.scroll(
                collection,
                scroll_filter=_filter(filter),
                limit=limit,
                offset=offset,
                with_payload=payload,
                with_vectors=vectors,
            )
        )
        out = [Record(id=str(p.id), payload=p.payload or {}, vectors=_vectors(p.vector)) for p in records]
        return out, (str(next_offset) if next_offset is not None else None)

    def count(self, collection: str, filter: Filter | None = None) -> int:
        return self._call(lambda: self.client.count(collection, count_filter=_filter(filter), exact=True)).count

    def facet(self, collection: str, key: str, *, limit: int = 100) -> dict[str, int]:
        response = self._call(lambda: self.client.facet(collection, key, limit=limit, exact=True))
        return {hit.value: hit.count for hit in response.hits}

    def close(self) -> None:
        self.client.close()
