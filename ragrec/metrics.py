"""Process-wide Prometheus metrics (the API exposes them at /metrics), and the log line that goes with a fallback."""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import Counter

LLM_FALLBACKS = Counter(
    "ragrec_llm_fallbacks",
    "LLM stage results that fell back: rerank -> retrieval order; describe -> template",
    ["stage", "reason"],
)
DESCRIPTION_CACHE_HITS = Counter("ragrec_description_cache_hits", "Descriptions served from the cache")

log = logging.getLogger("ragrec.generation")
WARN_EVERY_SECONDS = 60.0
_last_warned: dict[tuple[str, str], float] = {}
_lock = threading.Lock()


def llm_fell_back(stage: str, reason: str, detail: str = "") -> None:
    """Count one fallback; log it as a warning the first time and then at most once a minute per stage and
    reason (a dead LLM server must be visible in the log, but not once per request)."""
    LLM_FALLBACKS.labels(stage, reason).inc()
    if reason in ("failed_check", "unsupported"):  # an answer the checks refused, or no LLM configured (llm=none):
        return  # counted, but nothing for an operator to fix
    now = time.monotonic()
    with _lock:
        if now - _last_warned.get((stage, reason), -WARN_EVERY_SECONDS) < WARN_EVERY_SECONDS:
            return
        _last_warned[(stage, reason)] = now
    log.warning("LLM %s fell back (%s): %s", stage, reason, detail[:300])
