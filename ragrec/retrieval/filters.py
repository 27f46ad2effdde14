"""A small filter syntax, shared by the CLI, Python and the HTTP API, mapped onto Qdrant filters.

    genres=Comedy           equality; on a list field, any element equals it
    genres=Comedy,Drama     any of the values
    genres!=Horror          none of the values (negation)
    year>=1990  year<2000   ranges: >=, >, <=, <
    year=1995               numbers are numbers, `true`/`false` are booleans

Several expressions are ANDed. A value may be quoted ("Sci-Fi, Action" keeps its comma).
"""

from __future__ import annotations

import re

from ragrec.store import Filter, Match, MatchAny, Range

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


def _values(text: str) -> list:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return [text[1:-1]]
    return [_value(v.strip()) for v in text.split(",") if v.strip()]


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
        if op in (">=", ">", "<=", "<"):
            try:
                bound = float(raw)
            except ValueError:
                raise FilterSyntaxError(f"filter {expr!r}: {raw!r} is not a number") from None
            result.must.append(Range(key=key, **{{">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}[op]: bound}))
            continue
        values = _values(raw)
        if not values:
            raise FilterSyntaxError(f"filter {expr!r} has no value")
        if any(isinstance(v, float) for v in values):
            raise FilterSyntaxError(f"filter {expr!r}: match a decimal with a range (>=, <=) instead of =")
        if len(values) == 1:
            condition = Match(key=key, value=values[0])
        elif all(isinstance(v, str) for v in values) or all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            condition = MatchAny(key=key, any=values)
        else:
            raise FilterSyntaxError(f"filter {expr!r}: mix of text and numbers in one list")
        (result.must_not if op == "!=" else result.must).append(condition)
    return result
