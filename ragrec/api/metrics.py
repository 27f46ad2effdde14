"""The service's Prometheus metrics (`GET /metrics`): requests and latencies per route, ingest job progress; the
LLM fallback counter of the generation stage lives in `ragrec.metrics` and is exported beside them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("ragrec_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"])
LATENCY = Histogram("ragrec_http_request_seconds", "HTTP request latency by route", ["route", "method"],
                    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30))
JOB_ROWS = Gauge("ragrec_ingest_job_rows_read", "Rows read by the running ingest job")
JOBS = Counter("ragrec_jobs", "Background jobs by kind and outcome", ["kind", "status"])
DESCRIPTION_CACHE_HITS = Counter("ragrec_description_cache_hits", "Descriptions served from the cache")
