"""Fixed-size batches of a stream (itertools.batched arrives in Python 3.12, ragrec runs on 3.11)."""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

MAX_BATCH_SIZE = 1_000_000  # rows held in memory at once; beyond this a batch is a mistake, not a tuning


def batched(items: Iterable[T], n: int, *, first: int | None = None) -> Iterator[list[T]]:
    """Lists of `n` items (the last may be shorter), read lazily; the first holds `first` items if given (a small
    first batch shows progress early)."""
    if not 1 <= n <= MAX_BATCH_SIZE:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH_SIZE:,} items, not {n}")
    it = iter(items)
    size = min(first, n) if first else n
    while batch := list(islice(it, size)):
        yield batch
        size = n
