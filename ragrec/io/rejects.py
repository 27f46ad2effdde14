"""The rejects file: one JSON object per rejected row (its line, its id, the reason), written as it happens."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import BaseModel

log = logging.getLogger("ragrec.rejects")


class RejectsWriter:
    """Appends rejects to `path` as JSON Lines; the file (and its folder) appear with the first reject, so a clean
    run leaves no file behind. Each line is flushed, so a killed job's rejects are on disk."""

    def __init__(self, path: Path):
        self.path, self.count, self._file = Path(path), 0, None

    def add(self, reject: BaseModel) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")
        self._file.write(json.dumps(reject.model_dump(), ensure_ascii=False) + "\n")
        self._file.flush()
        self.count += 1
        log.info("rejected: %s", reject.model_dump())

    def close(self) -> None:
        if self._file:
            self._file.close()

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
