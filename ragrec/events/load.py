"""Bulk-load feedback events from a CSV, JSON Lines or Parquet file into the event log.

Streamed in batches (one transaction each), with per-row rejects in a JSON Lines file and a summary, like catalog
ingestion. Idempotent: every event has an id (the file's, or a hash of what the row says), and the log ignores ids
it already holds, so loading the same file twice stores nothing the second time.

MovieLens `ratings.csv` (userId,movieId,rating,timestamp) loads with `EventMapping.movielens()`: every row is a
`rating` event whose value is the rating itself; turning ratings into likes and dislikes is the user-vector code's
decision, not the loader's, so nothing is lost here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from datetime import date, datetime, timedelta, timezone
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from ragrec.config import Settings
from ragrec.events.log import EPOCH, EventLog, to_us
from ragrec.events.models import Event, EventReject, EventType, event_problem
from ragrec.io import MAX_BATCH_SIZE, CatalogFileError, Format, RawRow, RejectsWriter, batched, detect_format, open_rows
from ragrec.schema import NotAnId, id_text

if TYPE_CHECKING:
    from ragrec.store import VectorStore

log = logging.getLogger("ragrec.events")
T = TypeVar("T")
TimestampFormat = Literal["auto", "epoch", "iso"]
_TYPES = ", ".join(t.value for t in EventType)


class EventLoadError(ValueError):
    """The load cannot start (bad mapping, unusable file, missing column); nothing was written."""


class EventMapping(BaseModel):
    """Which column holds what. A row's event type comes from `type_field`, or is the constant `type`."""

    format: Format | None = Field(None, description="csv, jsonl or parquet; None: from the file extension")
    user_field: str = "user_id"
    item_field: str = "item_id"
    type_field: str | None = "type"
    type: EventType | None = Field(None, description="one event type for every row (then type_field is unused)")
    value_field: str | None = Field(None, description="the rating (needed by rating events)")
    timestamp_field: str | None = Field(
        "timestamp", description="None: the file has no time column (goodbooks' ratings.csv): each event is timed "
        "at the load, a microsecond apart in the file's order, and its id comes from its line, not its time",
    )
    timestamp_format: TimestampFormat = Field(
        "auto", description="epoch: seconds since 1970 (UTC); iso: ISO 8601 (no offset = UTC); auto: a number is "
        "epoch seconds (milliseconds, µs or ns when it is too large for seconds; an 8-digit number YYYYMMDD), "
        "anything else ISO 8601",
    )
    event_id_field: str | None = Field(
        None, description="client event ids; None (or an empty cell): a hash of user, item, type, time and value",
    )

    @model_validator(mode="after")
    def _check(self) -> EventMapping:
        if self.type is not None:
            self.type_field = None
        elif not self.type_field:
            raise ValueError("map the event type: a type column (--type-field) or one type for all rows (--type)")
        return self

    @classmethod
    def movielens(cls) -> EventMapping:
        """MovieLens ratings.csv: userId, movieId, rating (0.5-5 stars), timestamp (epoch seconds)."""
        return cls(user_field="userId", item_field="movieId", type=EventType.rating, value_field="rating",
                   timestamp_field="timestamp", timestamp_format="epoch")

    def row_fields(self) -> list[str]:
        """Columns every row must carry (the user column first: JSON Lines files are checked on it)."""
        return [self.user_field, self.item_field, *([self.type_field] if self.type_field else []),
                *([self.timestamp_field] if self.timestamp_field else [])]

    def columns(self) -> list[str]:
        """Every mapped column: a CSV or Parquet file without one of them is refused as a whole."""
        optional = [c for c in (self.value_field, self.event_id_field) if c]
        return list(dict.fromkeys(self.row_fields() + optional))


class EventLoadInterrupted(KeyboardInterrupt):
    """Ctrl-C during a load: the batches stored so far stay (`stored` events); a re-run skips them as duplicates."""

    def __init__(self, stored: int):
        super().__init__(stored)
        self.stored = stored


class EventLoadReport(BaseModel):
    log: str
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_file: Path | None = None

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


def load_events(
    path: str | Path,
    mapping: EventMapping,
    log: EventLog,
    known_items: Callable[[list[str]], set[str]],
    *,
    batch_size: int = 5000,
    rejects_path: Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    on_stored: Callable[[list[Event]], None] | None = None,
    settings: Settings | None = None,
) -> EventLoadReport:
    """Load an events file into `log`; rows whose item is not in `known_items(ids)` are rejected.

    `on_progress(rows_read, rows_estimate)` and `on_stored(newly stored events)` are called after each batch, and
    `on_progress(0, rows_estimate)` once the load is past its checks (a refused load has reported no progress).
    Rejects go to `rejects_path` (default: `<data_dir>/rejects/<file name>.events.rejects.jsonl`).
    """
    started = time.perf_counter()
    path = Path(path)
    settings = settings or Settings()
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise EventLoadError(f"batch_size must be 1 to {MAX_BATCH_SIZE:,}, not {batch_size}")
    if rejects_path is None:
        rejects_path = settings.data_dir / "rejects" / f"{path.name}.events.rejects.jsonl"
    rejects = RejectsWriter(Path(rejects_path), path)  # checks the path before anything is read
    try:
        fmt = detect_format(path, mapping.format)
        rows, estimate = open_rows(path, fmt, mapping.columns() if fmt != "jsonl" else mapping.row_fields())
        if fmt == "jsonl":
            rows = _check_first_object(rows, mapping.row_fields(), path)
    except CatalogFileError as exc:
        hint = ""
        if mapping.timestamp_field and mapping.timestamp_field in exc.missing:
            hint = (" (a file without a time column loads with --no-timestamp; a time column of another name: "
                    "--timestamp-field)")
        raise EventLoadError(str(exc) + hint) from exc
    rejects.start()
    if on_progress:
        on_progress(0, estimate)

    report = EventLoadReport(log=log.url)
    parse = _RowParser(mapping, settings)
    try:
        for batch in batched(rows, batch_size):
            events: list[tuple[int, Event]] = []
            bad: list[EventReject] = []
            for raw in batch:
                report.read += 1
                result = parse(raw)
                if isinstance(result, EventReject):
                    bad.append(result)
                else:
                    events.append((raw.line, result))
            known = known_items(list(dict.fromkeys(e.item_id for _, e in events))) if events else set()
            fresh, lines = [], []
            for line, e in events:
                if e.item_id in known:
                    fresh.append(e)
                    lines.append(line)
                else:
                    bad.append(EventReject(line=line, event_id=e.event_id, reason=f"unknown item {e.item_id}"))
            # every item was checked above, with its line number; the log rejects an event_id reused for another event
            with log.writing():  # a reindex in another process reads where the log ends only between batches
                result = log.append(fresh, known_items=set, lines=lines)
            report.stored += len(result.accepted)
            report.duplicates += result.duplicates
            for reject in sorted(bad + result.rejected, key=lambda r: r.line or 0):  # in the file's line order
                rejects.add(reject)
            if on_stored and result.accepted:
                on_stored(result.accepted)
            if on_progress:
                on_progress(report.read, estimate)
    except KeyboardInterrupt:  # Ctrl-C: each batch is one transaction, in the log whole or not at all
        raise EventLoadInterrupted(report.stored) from None
    finally:
        rejects.close()
    report.rejected = rejects.count
    report.rejects_file = rejects.path if rejects.count else None
    report.seconds = time.perf_counter() - started
    return report


def catalog_items(store: VectorStore, collection: str, *, cache_size: int = 1_000_000) -> Callable[[list[str]], set[str]]:
    """`known_items` for the catalog in Qdrant: the ids among those asked that are points of `collection`.

    Answers are remembered (up to `cache_size` ids), so a bulk load asks Qdrant about each item once: make a new
    one per load, since an item deleted meanwhile would still count as known.
    """
    from ragrec.store import point_id

    seen: dict[str, bool] = {}

    def known(item_ids: list[str]) -> set[str]:
        wanted = list(dict.fromkeys(item_ids))
        result = {i for i in wanted if seen.get(i)}
        for chunk in batched([i for i in wanted if i not in seen], 1000):
            by_point = {point_id(i): i for i in chunk}
            found = {by_point[r.id] for r in store.retrieve(collection, list(by_point), payload=False)}
            result |= found
            if len(seen) < cache_size:
                seen.update((i, i in found) for i in chunk)
        return result

    return known


# --- one row -------------------------------------------------------------------------------------------------


class _Bad(Exception):
    """A row that cannot become an event; the message is the reason."""


class _RowParser:
    def __init__(self, mapping: EventMapping, settings: Settings):
        self.m, self.settings = mapping, settings
        self.ts = {"epoch": _epoch, "iso": _iso, "auto": _auto_time}[mapping.timestamp_format]
        self.ts_words = _TS_WORDS[mapping.timestamp_format]
        self.loaded_at = datetime.now(timezone.utc).replace(microsecond=0)  # the time of a file without one

    def __call__(self, raw: RawRow) -> Event | EventReject:
        data = raw.data or {}
        event_id = None
        try:
            event_id = _text(data.get(self.m.event_id_field)) if self.m.event_id_field else None
            if raw.error:
                return EventReject(line=raw.line, event_id=event_id, reason=raw.error)
            return self._event(data, event_id, raw.line)
        except _Bad as exc:
            return EventReject(line=raw.line, event_id=event_id, reason=str(exc))

    def _event(self, data: dict[str, Any], event_id: str | None, line: int) -> Event:
        m = self.m
        user, item = _text(data.get(m.user_field)), _text(data.get(m.item_field))
        if not user:
            raise _Bad(f"missing user (field {m.user_field!r})")
        if not item:
            raise _Bad(f"missing item (field {m.item_field!r})")
        kind = m.type or self._type(data)
        value = None
        if m.value_field:
            try:
                value = _number(data.get(m.value_field))
            except (ValueError, TypeError):  # a list or an object in a JSON or Parquet file too
                raise _Bad(f"value {data.get(m.value_field)!r} (field {m.value_field!r}) is not a finite number") from None
        if value is None and kind is EventType.rating:
            raise _Bad("a rating needs a value" + (f" (field {m.value_field!r} is empty)" if m.value_field
                                                   else ": map the rating column (--value-field)"))
        if m.timestamp_field is None:  # the file's order is the events' order; a reload names the same events
            ts = self.loaded_at + timedelta(microseconds=line)
            event_id = event_id or _hash_id(user, item, kind, f"line {line}", value)
        else:
            ts = self._time(data.get(m.timestamp_field))
        try:
            event = Event(event_id=event_id or _hash_id(user, item, kind, str(to_us(ts)), value), user_id=user,
                          item_id=item, type=kind, value=value, timestamp=ts)
        except ValidationError as exc:
            raise _Bad("; ".join(e["msg"] for e in exc.errors())) from None
        problem = event_problem(event, self.settings)
        if problem:
            raise _Bad(problem)
        return event

    def _time(self, raw_ts: Any) -> datetime:
        if raw_ts is None or raw_ts == "":
            raise _Bad(f"missing timestamp (field {self.m.timestamp_field!r})")
        try:  # a Parquet timestamp column is read as datetimes already (naive ones are UTC), a date column as dates
            if isinstance(raw_ts, datetime):
                ts = raw_ts
            elif isinstance(raw_ts, date):  # midnight UTC, as a CSV's 2024-01-01
                ts = datetime(raw_ts.year, raw_ts.month, raw_ts.day)
            else:
                ts = self.ts(raw_ts)
            return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
        except OverflowError:  # a number, too large (or small) for any date
            raise _Bad(f"timestamp {raw_ts!r} is out of range (not a date in the years 1-9999)") from None
        except (ValueError, OSError, TypeError):
            raise _Bad(f"timestamp {raw_ts!r} is not {self.ts_words}") from None

    def _type(self, data: dict[str, Any]) -> EventType:
        name = _text(data.get(self.m.type_field))
        if not name:
            raise _Bad(f"missing event type (field {self.m.type_field!r})")
        try:
            return EventType(name)
        except ValueError:
            raise _Bad(f"unknown event type {name!r}: use one of {_TYPES}") from None


_TS_WORDS = {"epoch": "epoch seconds", "iso": "an ISO 8601 time", "auto": "epoch seconds or an ISO 8601 time"}


def _hash_id(user: str, item: str, kind: EventType, when: str, value: float | None) -> str:
    # Only what the event says, in a fixed form (time in µs, value as repr): the same event loaded from another
    # file, or in another timestamp format, gets the same id and is a duplicate.
    key = "\x1f".join((user, item, kind.value, when, "" if value is None else repr(value)))
    # surrogatepass: an id that is not valid Unicode still gets an id here, for event_problem to reject its row
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _text(value: Any) -> str | None:
    try:
        return id_text(value)  # a float column's 12.0 is user "12"; NaN is none
    except NotAnId as exc:
        raise _Bad(f"{value!r} is not an id or a name: it {exc}") from None


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _seconds(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value.lstrip("-").isdigit() else float(value)
    return value


def _epoch(value: Any) -> datetime:
    seconds = _seconds(value)
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise ValueError("not finite")
    return EPOCH + timedelta(seconds=seconds)  # exact for whole seconds; float seconds rounded to the µs


def _iso(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a string")
    ts = datetime.fromisoformat(value.strip())
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


# auto: epoch times in finer units by their size (seconds that large would be after the year 5000)
_FINER_UNITS = ((10**17, 10**9), (10**14, 10**6), (10**11, 10**3))


def _auto_time(value: Any) -> datetime:
    """A number is epoch seconds, or milliseconds, µs or ns by its size, or an 8-digit YYYYMMDD date (epoch
    seconds that short would be 1970-1973); anything else ISO 8601."""
    try:
        number = _seconds(value)
    except (ValueError, TypeError):
        return _iso(value)
    if isinstance(number, int) and 19000101 <= number <= 21001231:
        with contextlib.suppress(ValueError):
            return datetime.strptime(str(number), "%Y%m%d").replace(tzinfo=timezone.utc)
    for size, per_second in _FINER_UNITS:
        if isinstance(number, (int, float)) and math.isfinite(number) and abs(number) >= size:
            if isinstance(number, int):  # exact: whole microseconds
                return EPOCH + timedelta(microseconds=number * 10**6 // per_second)
            return EPOCH + timedelta(seconds=number / per_second)
    return _epoch(number)


# --- plumbing ------------------------------------------------------------------------------------------------


def _check_first_object(rows: Iterator[RawRow], fields: list[str], path: Path) -> Iterator[RawRow]:
    """A JSON Lines file has no header: its first object must carry every per-row field (before anything loads)."""
    head: list[RawRow] = []
    for raw in rows:
        head.append(raw)
        if raw.data is not None and not raw.error:
            missing = [f for f in fields if f not in raw.data]
            if missing:
                raise CatalogFileError(
                    f"{path.name}: line {raw.line} has no field {', '.join(map(repr, missing))}; "
                    f"it has: {', '.join(list(raw.data)[:30])}", tuple(missing)
                )
            break
    return chain(head, rows)
