"""Which rows of a catalog one worker of a sharded ingestion takes (`ragrec ingest --shard I/N`).

A row belongs to shard `point id mod N`: the point id is UUIDv5 of the item id (`store.point_id`), so the split is
the same in every process, every run and every file format, and both copies of a duplicated id land in the same
shard, which reports the duplicate. A row without an id has no point: shard 0 reports it, so the N workers report
each bad row once.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, model_validator

from ragrec.store import point_id

_SPEC = re.compile(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*")


class Shard(BaseModel):
    index: int = Field(ge=0)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _index_below_count(self) -> Shard:
        if self.index >= self.count:
            raise ValueError(f"shard index {self.index} is not below the shard count {self.count} (indexes run "
                             f"0..{self.count - 1})")
        return self

    @classmethod
    def parse(cls, spec: str) -> Shard:
        """`I/N`: shard I (0-based, as Kubernetes' JOB_COMPLETION_INDEX) of N."""
        match = _SPEC.fullmatch(spec)
        if not match:
            raise ValueError(f"--shard {spec!r}: give I/N, this worker's index I (0-based) of N shards, e.g. 0/3")
        index, count = int(match[1]), int(match[2])
        if count < 1:
            raise ValueError(f"--shard {spec!r}: the shard count N must be at least 1")
        if not 0 <= index < count:
            raise ValueError(f"--shard {spec!r}: the index I must be 0..{count - 1} (0-based) for {count} shards")
        return cls(index=index, count=count)

    def owns(self, item_id: str | None) -> bool:
        if item_id is None:
            return self.index == 0
        return int(point_id(item_id).replace("-", ""), 16) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
