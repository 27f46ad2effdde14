"""The rejects file: one JSON object per rejected row (its line, its id, the reason), written as it happens."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel

log = logging.getLogger("ragrec.rejects")


class RejectsPathError(ValueError):
    """The rejects file cannot be written where it was asked for (a folder, or under a file)."""


class RejectsWriter:
    """Appends rejects to `path` as JSON Lines; the file (and its folder) appear with the first reject, so a clean
    run leaves no file behind. Each line is flushed, so a killed job's rejects are on disk.

    The path is checked up front: a job must not fail at its first bad row because of where rejects go, nor
    overwrite the `source` file it reads (opened for writing at the first reject, it would be cut short mid-read).
    `path=None` counts the rejects and writes nothing (an ingest --dry-run without --rejects)."""

    def __init__(self, path: Path | None, source: Path | None = None):
        self.path, self.count, self._file = (None if path is None else Path(path)), 0, None
        if self.path is None:
            return
        if source is not None and _same_file(self.path, Path(source)):
            raise RejectsPathError(f"--rejects {self.path}: is the input file itself; writing rejects there would "
                                   "destroy it while it is read: name another file")
        if self.path.is_dir():
            raise RejectsPathError(f"{self.path}: is a folder; the rejects file needs a file name (--rejects FILE)")
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:  # the nearest existing ancestor must be a folder
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise RejectsPathError(f"{self.path}: cannot write the rejects file there ({folder} is not a writable "
                                   "folder)")

    def start(self) -> None:
        """The run begins (its file was found readable): an earlier run's rejects at this path are removed, so the
        file holds this run's rejects only, and a run without any leaves none."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def add(self, reject: BaseModel) -> None:
        if self.path is not None and self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a lone surrogate in a rejected row (JSON's "\ud800") is written as that escape: still JSON, still UTF-8
            self._file = open(self.path, "w", encoding="utf-8", errors="backslashreplace")
        if self._file is not None:
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


def _same_file(a: Path, b: Path) -> bool:
    """The same file, by any path to it (a symlink, a hard link, ../): by inode when both exist."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()
