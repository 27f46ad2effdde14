"""Process-wide Prometheus metrics (the API exposes them at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

LLM_FALLBACKS = Counter(
    "ragrec_llm_fallbacks",
    "LLM stage results that fell back: rerank -> retrieval order; describe -> template",
    ["stage", "reason"],
)
