"""The answer's words around the items (templates only) and what a chat message may hold."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ragrec.chat import ChatRequest, Constraints
from ragrec.chat.turn import answer_text
from ragrec.retrieval.models import Candidate


def candidate(item_id: str, title: str, popularity: int = 0, description: str | None = None) -> Candidate:
    return Candidate(item_id=item_id, score=1.0, path="popular", description=description,
                     payload={"title": title, "year": 1995, "popularity": popularity})


def test_popular_only_when_someone_rated_something():
    nothing = Constraints()
    fresh = answer_text(nothing, [candidate("1", "Heat (1995)"), candidate("2", "Balto (1995)")])
    assert fresh.startswith("Nothing in that named a genre, a year or a title I know, so here are 2 picks from the "
                            "catalog (nobody has rated anything yet):")
    rated = answer_text(nothing, [candidate("1", "Heat (1995)", popularity=12)])
    assert rated.startswith("Nothing in that named a genre, a year or a title I know, so here is one pick of the "
                            "most popular:")


def test_a_description_that_opens_with_the_title_does_not_repeat_it():
    text = answer_text(Constraints(genres=["Crime"]), [
        candidate("1", "Heat (1995)", description="Heat (1995), a crime movie."),
        candidate("2", "Balto (1995)", description="Because you liked Toy Story: Balto (1995), an adventure movie.")])
    assert text.splitlines()[1:] == ["1. Heat (1995), a crime movie.",
                                     "2. Balto (1995): Because you liked Toy Story: Balto (1995), an adventure movie."]


def test_terminal_colour_codes_are_not_part_of_a_message():
    assert ChatRequest(message="like \x1b[31mToy Story\x1b[0m").message == "like Toy Story"
    with pytest.raises(ValidationError, match="is blank"):
        ChatRequest(message="\x1b[2J\x01\x02")
