"""Turn one raw catalog row into an `ItemDoc` (id, text to embed, typed payload, hashes) or a `Reject`."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import re
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, Field

from ragrec.schema import CONTENT_HASH, INT64_MAX, INT64_MIN, ITEM_ID, TEXT, TEXT_HASH, NotAnId, id_problem, id_text

FieldType = Literal["auto", "str", "int", "float", "bool", "list"]

_INT = re.compile(r"-?(0|[1-9]\d{0,17})")  # no leading zeros: "007" and ISBNs stay strings
_FLOAT = re.compile(r"-?\d+\.\d+([eE][-+]?\d+)?")
_TRUE, _FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f"}


class FieldSpec(BaseModel):
    name: str
    type: FieldType = "auto"

    @classmethod
    def parse(cls, spec: str) -> FieldSpec:
        """`year:int`, `genres:list`, or a bare `title` (typed by its value)."""
        name, _, kind = spec.strip().partition(":")
        if not name.strip():
            raise ValueError(f"{spec!r} names no field: give name or name:type")
        if kind and kind not in FieldType.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"unknown field type {kind!r} in {spec!r}: use one of {', '.join(FieldType.__args__)}")  # type: ignore[attr-defined]
        return cls(name=name.strip(), type=kind or "auto")


class RowRules(BaseModel):
    """How rows become items: which fields, which types, how long a text may be."""

    id_field: str
    text_fields: list[str]
    payload_fields: list[FieldSpec] = Field(default_factory=list)
    list_separator: str = "|"
    max_text_chars: int = 2000
    long_text: Literal["truncate", "reject"] = "truncate"
    store_text: bool = True  # keep the embedded text in the payload (for display and the LLM stage)
    max_payload_chars: int = 10_000  # longer payload strings are cut: every query returns the payload
    model: str = ""  # part of the text hash: a new model means new vectors

    @cached_property
    def source_fields(self) -> tuple[str, ...]:
        """The row fields an item is built from; the other columns of the file change nothing."""
        return tuple(dict.fromkeys([self.id_field, *self.text_fields, *(f.name for f in self.payload_fields)]))

    @cached_property
    def fingerprint(self) -> bytes:
        return self.model_dump_json().encode()


class ItemDoc(BaseModel):
    line: int
    item_id: str
    text: str
    payload: dict[str, Any]
    truncated: bool = False  # the text was cut to max_text_chars
    payload_truncated: bool = False  # a payload string was cut to max_payload_chars


class Reject(BaseModel):
    line: int
    id: str | None = None
    reason: str


class BadValue(ValueError):
    pass


def _convert(value: Any, kind: FieldType, sep: str, field: str) -> Any:
    """A payload value in its proper type; None for a missing value."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise BadValue(f"undecodable bytes in {field!r}") from None
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if value is None or (isinstance(value, str) and not value.strip()) or value == []:
        return None
    if isinstance(value, float) and math.isnan(value):  # pandas' missing value (Parquet, JSON); an infinity is not
        return None
    if kind == "list":  # an empty list is a missing value, as an empty CSV cell is
        if isinstance(value, str):
            value = [v.strip() for v in value.split(sep) if v.strip()]
        return (value if isinstance(value, list) else [value]) or None
    if kind == "str":
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    if kind == "int":
        try:
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, bool) or not float(number).is_integer():
                raise ValueError
            return int(number)
        except (TypeError, ValueError, OverflowError):
            raise BadValue(f"unparsable number in {field!r}: {value!r} is not an integer") from None
    if kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise BadValue(f"unparsable number in {field!r}: {value!r}") from None
        if not math.isfinite(number):
            raise BadValue(f"unparsable number in {field!r}: {value!r}")
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise BadValue(f"{field!r}: {value!r} is not a boolean")
    # auto: typed formats keep their types; CSV strings that are plainly numbers become numbers
    if isinstance(value, str):
        text = value.strip()
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        return text
    return value


def _as_text(value: Any) -> str:
    """A value as the words it holds: bytes decoded, nested objects as JSON rather than Python's repr."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _text_value(value: Any, sep: str, is_list: bool) -> str:
    if isinstance(value, list):
        return ", ".join(_as_text(v) for v in value if v not in (None, ""))
    if value is None:
        return ""
    text = _as_text(value).strip()
    if is_list:
        return ", ".join(v.strip() for v in text.split(sep) if v.strip())
    return " ".join(text.split())


# Qdrant reads a payload back with a recursion limit of 128 levels, and a point it accepted deeper than that can
# leave its write-ahead log unreadable (Qdrant Edge 0.9 then refuses to open the shard): nested values stay far
# below it.
MAX_PAYLOAD_DEPTH = 32


def _capped(value: Any, limit: int, field: str, depth: int = 0) -> tuple[Any, bool]:
    """`value` with every string in it cut to `limit` characters, and whether anything was cut; a value Qdrant
    cannot store faithfully (too deeply nested, an integer beyond 64 bits, a non-finite number) is a `BadValue`."""
    if isinstance(value, str):
        return (value[:limit], True) if len(value) > limit else (value, False)
    if isinstance(value, bool) or value is None:
        return value, False
    if isinstance(value, (dt.date, dt.datetime)):  # inside a Parquet list or struct
        return value.isoformat(), False
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise BadValue(f"{field!r} holds an integer that does not fit in 64 bits")
        return value, False
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue(f"{field!r} holds a number that is not finite ({value})")
        return value, False
    if isinstance(value, (list, dict)):
        if depth >= MAX_PAYLOAD_DEPTH:
            raise BadValue(f"{field!r} is nested more than {MAX_PAYLOAD_DEPTH} levels deep")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        pairs = [(k, _capped(v, limit, field, depth + 1)) for k, v in items]
        cut = any(c for _, (_, c) in pairs)
        if isinstance(value, dict):
            return {str(k): v for k, (v, _) in pairs}, cut
        return [v for _, (v, _) in pairs], cut
    raise BadValue(f"{field!r} holds a value of type {type(value).__name__}, which a payload cannot store")


def item_id_of(data: dict[str, Any] | None, id_field: str) -> str | None:
    try:
        return id_text((data or {}).get(id_field))
    except NotAnId:  # to_doc says why
        return None


def content_hash(data: dict[str, Any], rules: RowRules) -> str:
    """The hash of a row's source fields as read, under these rules: an equal hash means nothing to redo.

    Hashing the raw values (not the built document) lets a re-run skip an unchanged row before any parsing."""
    values = repr(tuple(data.get(name) for name in rules.source_fields))
    return hashlib.sha1(rules.fingerprint + b"\0" + values.encode()).hexdigest()


def to_doc(line: int, data: dict[str, Any], rules: RowRules) -> ItemDoc | Reject:
    try:
        item_id = id_text(data.get(rules.id_field))
    except NotAnId as exc:
        return Reject(line=line, reason=f"the id (field {rules.id_field!r}) {exc}")
    if item_id is None:
        return Reject(line=line, reason=f"missing id (field {rules.id_field!r})")
    problem = id_problem(item_id)
    if problem:  # feedback could never name it
        return Reject(line=line, id=item_id[:80], reason=f"the id (field {rules.id_field!r}) {problem}")

    list_fields = {f.name for f in rules.payload_fields if f.type == "list"}
    parts = []
    for name in rules.text_fields:
        value = _text_value(data.get(name), rules.list_separator, name in list_fields)
        if value:
            parts.append(f"{name}: {value}")
    text = "\n".join(parts)
    if not text:
        return Reject(line=line, id=item_id, reason=f"empty text: no value in {', '.join(rules.text_fields)}")
    truncated = len(text) > rules.max_text_chars
    if truncated:
        if rules.long_text == "reject":
            return Reject(line=line, id=item_id,
                          reason=f"text too long: {len(text)} characters > max_text_chars={rules.max_text_chars}")
        text = text[: rules.max_text_chars]

    payload: dict[str, Any] = {}
    payload_truncated = False
    try:
        for spec in rules.payload_fields:
            value = _convert(data.get(spec.name), spec.type, rules.list_separator, spec.name)
            if value is not None:
                payload[spec.name], cut = _capped(value, rules.max_payload_chars, spec.name)
                payload_truncated |= cut
    except BadValue as exc:
        return Reject(line=line, id=item_id, reason=str(exc))

    payload[ITEM_ID] = item_id
    if rules.store_text:
        payload[TEXT] = text
    payload[TEXT_HASH] = hashlib.sha1(f"{rules.model}\0{text}".encode()).hexdigest()
    payload[CONTENT_HASH] = content_hash(data, rules)
    return ItemDoc(line=line, item_id=item_id, text=text, payload=payload, truncated=truncated,
                   payload_truncated=payload_truncated)
