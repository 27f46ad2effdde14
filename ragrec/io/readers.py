"""Stream rows out of CSV, JSON Lines and Parquet files (catalogs and event logs), one at a time, each with its
line number.

A row that cannot be decoded comes out as an error instead of data, so the job can reject it and go on;
a file that cannot be read at all raises `CatalogFileError` before anything is written.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator, Literal, NamedTuple

Format = Literal["csv", "jsonl", "parquet"]
_EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}

csv.field_size_limit(sys.maxsize)  # long descriptions are the job's to truncate or reject, not csv's


class CatalogFileError(ValueError):
    """The whole file is unusable (missing, unreadable, wrong format, no id column)."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()):
        super().__init__(message)
        self.missing = missing  # the columns asked for that the file lacks, when that is why: a caller may hint


def printable(text: str, limit: int = 2000) -> str:
    """`text` safe for a terminal and a log line: control characters and undecodable bytes (lone surrogates)
    as escapes, and at most `limit` characters."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def check_file(path: Path) -> None:
    """A file ragrec can read rows from: it exists and is not a folder."""
    if path.is_dir():
        raise CatalogFileError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise CatalogFileError(f"{path}: no such file")


class RawRow(NamedTuple):
    line: int
    data: dict[str, Any] | None
    error: str | None = None


def detect_format(path: Path, fmt: str | None) -> Format:
    check_file(path)  # "no such file" says more than "cannot tell the format" of a mistyped name
    if fmt:
        if fmt not in ("csv", "jsonl", "parquet"):
            raise CatalogFileError(f"unknown format {fmt!r}: use csv, jsonl or parquet")
        return fmt  # type: ignore[return-value]
    try:
        return _EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise CatalogFileError(f"cannot tell the format of {path.name!r} from its extension; pass --format") from None


def open_rows(path: Path, fmt: Format, required: list[str]) -> tuple[Iterator[RawRow], int | None]:
    """Check the file up front (readable; a CSV or Parquet file has each of the `required` columns, a CSV file once;
    JSON Lines objects have the first, the id) and return its rows and a row estimate."""
    path = Path(path)
    check_file(path)
    try:
        if fmt == "parquet":
            return _parquet_rows(path, required)
        if fmt == "csv":
            return _csv_rows(path, required), _count_lines(path) - 1
        return _jsonl_rows(path, required), _count_lines(path)
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read: {exc}") from exc


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _missing(columns: list[str], required: list[str], path: Path) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise CatalogFileError(printable(
            f"{path.name}: no column {', '.join(map(repr, missing))}; the file has: {', '.join(columns[:30])}"
        ), tuple(missing))


# surrogateescape maps each undecodable byte to a lone surrogate U+DC80..U+DCFF
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _csv_rows(path: Path, required: list[str]) -> Iterator[RawRow]:
    f = open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(f)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        f.close()
        raise CatalogFileError(f"{path.name}: no CSV header ({str(exc) or 'empty file'})") from None
    header = [h.strip() for h in header]
    first_line = ",".join(header)
    if _UNDECODABLE.search(first_line) or any(not c.isprintable() and c != "\t" for c in first_line):
        f.close()  # an image, an archive, a UTF-16 file: say so rather than list its "columns"
        raise CatalogFileError(printable(f"{path.name}: not CSV text: its first line holds control characters or "
                                         f"bytes that are not UTF-8 ({first_line[:40]}...)"))
    _missing(header, required, path)
    twice = [c for c in dict.fromkeys(required) if header.count(c) > 1]
    if twice:  # dict(zip()) would keep the last one: which one was meant is a guess
        f.close()
        raise CatalogFileError(printable(f"{path.name}: the header names {', '.join(map(repr, twice))} more than once"))

    def rows() -> Iterator[RawRow]:
        with f:
            while True:
                start = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield RawRow(reader.line_num, None, f"malformed CSV: {exc}")
                    continue
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue  # a blank line, or one of spaces: no row (not a broken one that would block --sync)
                if len(values) != len(header):  # no id either: which field is which is a guess
                    reason = f"has {len(values)} fields, the header has {len(header)}"
                    if reader.line_num > start and any("\n" in v for v in values):
                        reason += f" (a quote opened on line {start} is not closed: lines {start}-{reader.line_num} " \
                                  "were read as one row)"
                    yield RawRow(reader.line_num, None, reason)
                    continue
                if _UNDECODABLE.search("".join(values)):
                    yield RawRow(reader.line_num, dict(zip(header, values)), "undecodable bytes (not UTF-8)")
                    continue
                yield RawRow(reader.line_num, dict(zip(header, values)))

    return rows()


_ID_CHECK_OBJECTS = 100


def _fields_without_id(path: Path, id_field: str) -> list[str] | None:
    """The first object's fields when none of the file's first objects has `id_field` (the field is wrong for the
    whole file); None when one has it, or there is no object to tell (each bad line is a reject of its own)."""
    first, seen = None, 0
    with open(path, "rb") as f:
        for raw in f:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if not isinstance(data, dict):
                continue
            if id_field in data:
                return None
            first = list(data) if first is None else first
            seen += 1
            if seen == _ID_CHECK_OBJECTS:
                break
    return first


def _jsonl_rows(path: Path, required: list[str]) -> Iterator[RawRow]:
    # A JSON Lines file has no header: one object without the id field is a row to reject, all of the first ones
    # without it a wrong field
    fields = _fields_without_id(path, required[0])
    if fields is not None:
        _missing(fields, required[:1], path)

    def rows() -> Iterator[RawRow]:
        with open(path, "rb") as f:
            for line, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8-sig" if line == 1 else "utf-8")  # a BOM may open the file, as in CSV
                except UnicodeDecodeError as exc:
                    yield RawRow(line, None, f"undecodable bytes (not UTF-8): {exc.reason} at byte {exc.start}")
                    continue
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as exc:  # its own "line 1 column 5" would contradict the file's line
                    at = "" if exc.msg.endswith(" at") else " at"  # "Unterminated string starting at"
                    yield RawRow(line, None, f"malformed JSON: {exc.msg}{at} character {exc.pos + 1}")
                    continue
                except ValueError as exc:
                    yield RawRow(line, None, f"malformed JSON: {exc}")
                    continue
                except RecursionError:
                    yield RawRow(line, None, "JSON nested too deeply to read")
                    continue
                if not isinstance(data, dict):
                    yield RawRow(line, None, f"a JSON line must be an object, got {type(data).__name__}")
                    continue
                yield RawRow(line, data)

    return rows()


def _parquet_rows(path: Path, required: list[str]) -> tuple[Iterator[RawRow], int]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError variants
        raise CatalogFileError(f"{path.name}: not a readable Parquet file: {exc}") from exc
    _missing(pf.schema_arrow.names, required, path)

    def rows() -> Iterator[RawRow]:
        line = 0
        with pf:
            for batch in pf.iter_batches(batch_size=4096):
                for data in batch.to_pylist():
                    line += 1
                    yield RawRow(line, data)

    return rows(), pf.metadata.num_rows
