"""LLM constraint extraction (vLLM's JSON schema) and its fallback to the rules. The LLM here is a test double that
answers with fixed text: these are control-flow tests of what ragrec does with an answer, not of a model."""

from __future__ import annotations

import json

from ragrec.chat.extract import Extracted, read_constraints
from ragrec.generation.base import LLM, LLMError
from tests.chat.test_constraints import vocab  # noqa: F401  (the fixture)


class Scripted(LLM):
    name = "scripted"
    supports_schema = True

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def label_probs(self, messages, labels):
        raise LLMError("unsupported", "no logprobs")

    def complete(self, messages, *, max_tokens, schema=None):
        self.calls.append((messages, schema))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def stream_many(self, prompts, *, max_tokens, head=0):
        yield 0, ""


def test_the_llm_reading_is_checked_against_the_catalog(vocab):  # noqa: F811
    llm = Scripted(json.dumps({"genres": ["comedy", "Cyberpunk"], "not_genres": ["Animation"], "year_min": 1990,
                               "like_titles": ["Toy Story", "Pwned Movie"], "query": "with talking toys"}))
    c = read_constraints("funny like toy story, not animated, 90s on", vocab, llm)
    assert c.genres == ["Comedy"] and c.not_genres == ["Animation"] and c.year_min == 1990
    assert [t.item_id for t in c.like] == ["1"] and c.query == "with talking toys"  # unknown genre and title dropped
    messages, schema = llm.calls[0]
    assert schema == Extracted.model_json_schema()
    assert "Comedy" in messages[0].content and "<data>\nfunny like toy story" in messages[1].content


def test_a_failing_or_garbled_llm_falls_back_to_the_rules(vocab):  # noqa: F811
    rules = read_constraints("something like Toy Story", vocab)
    for answer in ("not json", json.dumps({"year_min": "soon"}), LLMError("timeout", "slow"), RuntimeError("boom")):
        assert read_constraints("something like Toy Story", vocab, Scripted(answer)) == rules


def test_backends_without_a_schema_leave_it_to_the_rules(vocab):  # noqa: F811
    llm = Scripted("{}")
    llm.supports_schema = False
    assert read_constraints("comedies", vocab, llm).genres == ["Comedy"] and llm.calls == []


def test_starting_over_and_lifting_years_come_from_the_rules(vocab):  # noqa: F811
    llm = Scripted(json.dumps({"genres": ["Drama"]}))
    c = read_constraints("start over, any year, any genre: dramas", vocab, llm)
    assert c.genres == ["Drama"] and c.reset and c.any_year and c.any_genre


def test_a_lifted_exclusion_comes_from_the_rules(vocab):  # noqa: F811
    llm = Scripted(json.dumps({"genres": ["Horror"]}))  # an LLM may read "horror is fine" as asking for horror
    c = read_constraints("horror is fine", vocab, llm)
    assert c.allow_genres == ["Horror"] and c.genres == []
    llm = Scripted(json.dumps({"year_min": 1990, "year_max": 1999}))  # and "the 90s are fine" as asking for them
    c = read_constraints("the 90s are fine", vocab, llm)
    assert c.allow_years == (1990, 1999) and c.year_min is None and c.year_max is None


def test_years_relative_to_earlier_turns_come_from_the_rules(vocab):  # noqa: F811
    c = read_constraints("or the 80s", vocab, Scripted(json.dumps({"year_min": 1980, "year_max": 1989})))
    assert c.adds_years and (c.year_min, c.year_max) == (1980, 1989)
    assert read_constraints("something newer", vocab, Scripted("{}")).shift_years == "newer"


def test_a_correction_or_a_narrowing_of_the_genres_comes_from_the_rules(vocab):  # noqa: F811
    c = read_constraints("actually dramas", vocab, Scripted(json.dumps({"genres": ["Drama"]})))
    assert c.genres == ["Drama"] and c.replaces_genres
    c = read_constraints("but funny", vocab, Scripted(json.dumps({"genres": ["Comedy"]})))
    assert c.genres == ["Comedy"] and c.refines_genres and not c.replaces_genres


def test_what_the_catalog_cannot_filter_by_comes_from_the_rules(vocab):  # noqa: F811
    c = read_constraints("rated R horror", vocab, Scripted(json.dumps({"genres": ["Horror"], "query": "rated R"})))
    assert c.genres == ["Horror"] and c.unfiltered == ["rated R"] and c.query is None  # the rating is not searched


def test_a_refusal_the_catalog_cannot_filter_is_not_searched_by_the_llm_either(vocab):  # noqa: F811
    llm = Scripted(json.dumps({"genres": ["Comedy"], "query": "Hugh Grant and Julia Roberts"}))
    c = read_constraints("comedies, no Hugh Grant or Julia Roberts", vocab, llm)
    assert c.unfiltered == ["not Hugh Grant or Julia Roberts"] and c.query is None
