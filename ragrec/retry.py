"""One retry policy for every remote call ragrec makes (a Qdrant server, an LLM server): a few tries with
exponential backoff and jitter, on transient failures only. A caller says what is transient; everything else
fails at once.

    for attempt in retrying(settings.qdrant_retries, is_transient):
        with attempt:
            return client.query_points(...)
"""

from __future__ import annotations

from typing import Callable

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter


def retrying(retries: int, transient: Callable[[BaseException], bool], *, initial: float = 0.2,
             max_wait: float = 5.0) -> Retrying:
    """Up to `retries` more tries after the first, waiting ~initial·2ⁿ (capped at `max_wait`) between them;
    the last exception is re-raised as itself."""
    return Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential_jitter(initial=initial, max=max_wait),
        retry=retry_if_exception(transient),
        reraise=True,
    )
