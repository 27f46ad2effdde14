"""A small filter syntax, shared by the CLI, Python and the HTTP API, mapped onto Qdrant filters.

    genres=Comedy           equality; on a list field, any element equals it
    genres=Comedy,Drama     any of the values
    genres!=Horror          none of the values (negation)
    year>=1990  year<2000   ranges: >=, >, <=, <
    year=1995               unquoted digits match the number or the same text (item_id=1 finds the id "1");
                            `true`/`false` are booleans; a quoted value is text only

Several expressions are ANDed. A value may be quoted ("Sci-Fi, Action" keeps its comma). Numbers must be finite
(`year>=nan` is refused, not ignored) and every expression needs a value.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ragrec.schema import INT64_MAX, INT64_MIN
from ragrec.store import Filter, IsEmpty, Match, MatchAny, Range, StoreError, VectorStore

_EXPR = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")


class FilterSyntaxError(ValueError):
    pass


def _value(text: str) -> str | int | float | bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


_PART = re.compile(r'\s*(?:"(?P<quoted>[^"]*)"|(?P<plain>[^,"]*))\s*(?:,|$)')


def _values(text: str) -> list | None:
    """The values of `A,B`, `"A, B"` (one value: its comma is quoted), `"A","B"` or `A,"B, C"`; a whole value in
    single quotes is one value. A quoted value stays text. None: a double quote not closed, or inside a value."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return [text[1:-1]]
    values, pos = [], 0
    while pos < len(text):
        m = _PART.match(text, pos)
        if m is None:
            return None
        if m["quoted"] is not None:
            values.append(m["quoted"])
        elif m["plain"].strip():
            values.append(_value(m["plain"].strip()))
        pos = m.end()
    return values


def parse_filter(expressions: list[str] | str | None) -> Filter | None:
    if not expressions:
        return None
    if isinstance(expressions, str):
        expressions = [expressions]
    result = Filter()
    for expr in expressions:
        m = _EXPR.match(expr)
        if not m:
            raise FilterSyntaxError(
                f"cannot read filter {expr!r}: write field=value, field!=value or field>=number (also >, <=, <)"
            )
        key, op, raw = m.groups()
        if raw[0] in "=<>":  # `genres==Comedy`, `year=>1990`: a typo, not a value (quote it if it is one)
            raise FilterSyntaxError(f"filter {expr!r}: one operator please: field=value, field!=value or "
                                    "field>=number (also >, <=, <)")
        if op in (">=", ">", "<=", "<"):
            try:
                bound = float(raw)
            except ValueError:
                raise FilterSyntaxError(f"filter {expr!r}: {raw!r} is not a number") from None
            if not math.isfinite(bound):
                raise FilterSyntaxError(f"filter {expr!r}: {raw!r} is not a finite number")
            result.must.append(Range(key=key, **{{">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}[op]: bound}))
            continue
        # a double quote not closed hides a comma: the filter would match nothing (single quotes are left alone
        # inside a value: a title may begin with one, as 'Round Midnight does)
        values = _values(raw)
        if values is None:
            raise FilterSyntaxError(f"filter {expr!r}: a quote is not closed (quote each value that holds a comma: "
                                    f"{key}{op}\"A, B\",C)")
        if not values or "" in values:
            raise FilterSyntaxError(f"filter {expr!r} has no value")
        if any(isinstance(v, int) and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX for v in values):
            raise FilterSyntaxError(f"filter {expr!r}: the number is out of range (64-bit integers)")
        if any(isinstance(v, float) for v in values):
            raise FilterSyntaxError(f"filter {expr!r}: match a decimal with a range (>=, <=) instead of =")
        integers = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        if len(values) > 1 and not integers and not all(isinstance(v, str) for v in values):
            raise FilterSyntaxError(f"filter {expr!r}: mix of text and numbers in one list")
        condition = _match(key, values)
        if integers:  # unquoted digits may be a number or an id kept as text ("item_id=1"): match either
            condition = Filter(should=[condition, _match(key, [str(v) for v in values])])
        (result.must_not if op == "!=" else result.must).append(condition)
    return result


def _match(key: str, values: list) -> Match | MatchAny:
    return Match(key=key, value=values[0]) if len(values) == 1 else MatchAny(key=key, any=values)


def filter_keys(expressions: list[str] | str | None) -> list[str]:
    """The payload fields the filter expressions name (after they parsed), in order."""
    if isinstance(expressions, str):
        expressions = [expressions]
    return list(dict.fromkeys(m.group(1) for e in expressions or [] if (m := _EXPR.match(e))))


def leaves_nothing(ranges: list[Range]) -> bool:
    """Whether no number is within every one of the ranges."""
    # the tightest bound on each side as (value, strict); at one value a strict bound is the tighter
    low = max([(r.gte, False) for r in ranges if r.gte is not None] + [(r.gt, True) for r in ranges
                                                                      if r.gt is not None], default=None)
    high = min([(r.lte, False) for r in ranges if r.lte is not None] + [(r.lt, True) for r in ranges
                                                                       if r.lt is not None],
               key=lambda b: (b[0], not b[1]), default=None)
    return bool(low and high) and (low[0] > high[0] or low[0] == high[0] and (low[1] or high[1]))


def filter_warnings(store: VectorStore, collection: str, expressions: list[str],
                    where: Filter | None = None) -> list[str]:
    """Why the filters (the expressions and the structured filter) may leave a list short, which an empty list
    alone does not explain: a field no item of the collection has (a typo, or a field the catalog was not ingested
    with), ranges on one field with nothing between them or with no item in them, or a text value no item has
    ("genres=comedy": values are case-sensitive; the field's common values suggest the one meant). A count per
    field and value: call it only when the list came back short."""
    filters = [f for f in (parse_filter(expressions), where) if f]
    # a number-or-text pair ("item_id=1") is a nested filter: its fields count, its values are checked by neither
    conditions = [leaf for f in filters for c in f.must + f.must_not
                  for leaf in (c.should if isinstance(c, Filter) else [c])]
    wanted = [(c.key, v) for f in filters for c in f.must
              for v in ([c.value] if isinstance(c, Match) else c.any if isinstance(c, MatchAny) else [])
              if isinstance(v, str)]
    warnings, missing = [], set()
    for key in dict.fromkeys(c.key for c in conditions if getattr(c, "key", None)):
        if store.count(collection, Filter(must_not=[IsEmpty(key=key)])) == 0:
            missing.add(key)
            named = ", ".join(repr(e) for e in expressions if (m := _EXPR.match(e)) and m.group(1) == key)
            warnings.append(f"no item has a field {key!r}, so the filter {named or 'on it'} matches nothing "
                            "(a typo, or a field the catalog was not ingested with: --payload-fields)")
    bounds: dict[str, list[Range]] = {}
    for c in (c for f in filters for c in f.must if isinstance(c, Range)):
        bounds.setdefault(c.key, []).append(c)
    for key, ranges in bounds.items():  # "year>=1990" and "year<1980": each fine, together nothing
        if leaves_nothing(ranges):
            warnings.append(f"the filters on {key!r} leave no value between them")
        elif key not in missing and store.count(collection, Filter(must=ranges)) == 0:  # "year>=2030"
            asked = " and ".join(f"{op} {bound:g}" for r in ranges for op, bound in
                                 ((">=", r.gte), (">", r.gt), ("<=", r.lte), ("<", r.lt)) if bound is not None)
            warnings.append(f"no item has a {key} {asked}")
    for key, value in dict.fromkeys(wanted):
        if key in missing or store.count(collection, Filter(must=[Match(key=key, value=value)])):
            continue
        try:
            meant = [v for v in store.facet(collection, key) if isinstance(v, str) and v.casefold() == value.casefold()]
        except StoreError:  # no keyword index on the field: no suggestion
            meant = []
        warnings.append(f"no item has {key}={value!r}" + (f" (values are case-sensitive: did you mean {meant[0]!r}?)"
                                                           if meant else ""))
    return warnings


# --- the same filters as an object (the HTTP API's structured form) ----------------------------------------------

FIELD = re.compile(r"^[A-Za-z_][\w.\-]*$")
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Scalar = str | Int64 | bool


class FieldFilter(BaseModel):
    """Conditions on one payload field, ANDed: `{"any": ["Comedy", "Drama"]}`, `{"none": ["Horror"]}`,
    `{"gte": 1990, "lt": 2000}`, `{"eq": true}`."""

    model_config = ConfigDict(extra="forbid")

    eq: Scalar | None = None
    any: list[str] | list[Int64] | None = Field(None, min_length=1, max_length=100)
    none: list[str] | list[Int64] | None = Field(None, min_length=1, max_length=100)
    # strict: "2015" and true are not numbers here (the CLI's strings are parsed by parse_filter)
    gte: float | None = Field(None, allow_inf_nan=False, strict=True)
    gt: float | None = Field(None, allow_inf_nan=False, strict=True)
    lte: float | None = Field(None, allow_inf_nan=False, strict=True)
    lt: float | None = Field(None, allow_inf_nan=False, strict=True)

    @field_validator("any", "none", mode="before")
    @classmethod
    def _texts_or_integers(cls, values):
        # one message instead of pydantic's error per member of the union (list[str], list[constrained-int])
        if isinstance(values, list) and not (all(isinstance(v, str) for v in values) or all(
                isinstance(v, int) and not isinstance(v, bool) for v in values)):
            raise ValueError("a list of texts or a list of integers, not a mix or other values")
        return values

    @model_validator(mode="after")
    def _something(self) -> FieldFilter:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("a field filter needs at least one of eq, any, none, gte, gt, lte, lt")
        if isinstance(self.eq, str) and not self.eq:
            raise ValueError("eq: an empty value matches nothing")
        low = max((b for b in (self.gte, self.gt) if b is not None), default=None)
        high = min((b for b in (self.lte, self.lt) if b is not None), default=None)
        if low is not None and high is not None and (
                low > high or (low == high and (self.gt == low or self.lt == high))):
            raise ValueError("the range is empty: its lower bound is not below its upper bound")
        return self


def filter_from_fields(fields: dict[str, FieldFilter]) -> Filter | None:
    """`{"genres": {"none": ["Horror"]}, "year": {"gte": 1990}}` as a store filter."""
    result = Filter()
    for key, f in fields.items():
        if not FIELD.match(key):
            raise FilterSyntaxError(f"{key!r} is not a field name")
        if f.eq is not None:
            result.must.append(Match(key=key, value=f.eq))
        if f.any:
            result.must.append(MatchAny(key=key, any=f.any))
        if f.none:
            result.must_not.append(MatchAny(key=key, any=f.none))
        bounds = {k: getattr(f, k) for k in ("gte", "gt", "lte", "lt") if getattr(f, k) is not None}
        if bounds:
            result.must.append(Range(key=key, **bounds))
    return None if result.is_empty() else result
