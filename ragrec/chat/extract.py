"""Constraints read by the LLM, where the backend enforces a JSON schema (vLLM's `response_format`); the rule-based
parser is the default everywhere and the fallback here: an LLM that fails, or answers with nothing usable, changes
nothing. What the LLM returns is checked against the catalog: unknown genres are dropped, titles are resolved to
catalog items or dropped."""

from __future__ import annotations

import json
import logging
import re

from pydantic import BaseModel, Field, ValidationError

from ragrec.chat.constraints import _FILLER, _RATED, Constraints, Title, parse
from ragrec.chat.vocabulary import Vocabulary

log = logging.getLogger("ragrec.chat")


class Extracted(BaseModel):
    """What the LLM fills in (its JSON schema is sent as the response format)."""

    genres: list[str] = Field(default_factory=list, max_length=10)
    not_genres: list[str] = Field(default_factory=list, max_length=10)
    year_min: int | None = Field(None, ge=1800, le=2100)
    year_max: int | None = Field(None, ge=1800, le=2100)
    like_titles: list[str] = Field(default_factory=list, max_length=5)
    not_like_titles: list[str] = Field(default_factory=list, max_length=5)
    query: str | None = Field(None, max_length=300)


def read_constraints(message: str, vocab: Vocabulary, llm=None) -> Constraints:
    """The rules' reading of the message, or the LLM's where the backend enforces the schema and its answer holds
    up against the catalog."""
    rules = parse(message, vocab)
    if llm is None or not getattr(llm, "supports_schema", False):
        return rules
    try:
        from ragrec.generation.prompts import CONSTRAINTS

        genres = sorted(set(vocab.genres.values()))
        messages = CONSTRAINTS.format_messages(genres=", ".join(genres), message=message)
        raw = llm.complete(messages, max_tokens=200, schema=Extracted.model_json_schema())
        extracted = Extracted.model_validate(json.loads(raw))
    except (ValueError, ValidationError, json.JSONDecodeError) as exc:
        log.info("LLM constraint extraction fell back to the rules: %s", exc)
        return rules
    except Exception as exc:  # noqa: BLE001 - an LLM that errors or times out never fails the turn
        log.info("LLM constraint extraction failed, rules used: %s", exc)
        return rules
    return _checked(extracted, vocab, rules)


def _checked(e: Extracted, vocab: Vocabulary, rules: Constraints) -> Constraints:
    """The LLM's reading, checked against the catalog; starting over, lifting years or genres ("any year", "horror
    is fine", "the 90s are fine"), genres that correct ("actually dramas") or narrow ("but funny") earlier ones and
    years relative to earlier turns ("or the 80s", "something newer"), titles to forget, series left out ("not batman")
    and what the catalog cannot filter by ("rated R", "no Hugh Grant") come from the rules (the schema has no words
    for them)."""
    known = {g.lower(): g for g in vocab.genres.values()}

    def genres(names: list[str]) -> list[str]:
        return list(dict.fromkeys(known[n.lower()] for n in names if n.lower() in known))

    def titles(names: list[str]) -> list[Title]:
        refs = [vocab.find_title(n) for n in names]
        return list({r.item_id: Title(item_id=r.item_id, title=r.title) for r in refs if r}.values())

    not_genres = genres(e.not_genres)
    allowed = rules.allow_genres  # "horror is fine" lifts an exclusion; it does not ask for horror
    years = (e.year_min, e.year_max)
    if rules.allow_years and years == rules.allow_years:  # "the 90s are fine": nor does it ask for the 90s
        years = (None, None)
    return Constraints(genres=[g for g in genres(e.genres) if g not in not_genres and g not in allowed],
                       not_genres=not_genres, allow_genres=allowed, allow_years=rules.allow_years,
                       year_min=years[0], year_max=years[1], like=titles(e.like_titles),
                       not_like=titles(e.not_like_titles), forget_like=rules.forget_like,
                       query=_unfiltered_out(e.query or "", rules) or None, reset=rules.reset,
                       unfiltered=rules.unfiltered, not_series=rules.not_series,
                       any_year=rules.any_year, any_genre=rules.any_genre, adds_years=rules.adds_years,
                       replaces_genres=rules.replaces_genres, refines_genres=rules.refines_genres,
                       shift_years=rules.shift_years)


def _unfiltered_out(query: str, rules: Constraints) -> str:
    """The LLM's query without what the rules found the catalog cannot filter by, which is never searched for:
    content ratings ("rated R") and the words of a refusal ("no Hugh Grant" is no search for Hugh Grant); nothing if
    only everyday words are left."""
    refused = {w.lower() for u in rules.unfiltered if u.startswith("not ") for w in u.split()[1:]}
    words = [w for w in re.sub(_RATED.pattern, " ", query, flags=re.IGNORECASE).split()
             if w.lower().strip(",.;:!?") not in refused]
    return " ".join(words) if any(w.lower().strip(",.;:!?") not in _FILLER for w in words) else ""
