"""Fixed-size batches of a stream (itertools.batched arrives in Python 3.12, ragrec runs on 3.11)."""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], n: int) -> Iterator[list[T]]:
    """Lists of `n` items (the last may be shorter), read lazily."""
    if n < 1:
        raise ValueError(f"a batch holds at least one item, not {n}")
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch
