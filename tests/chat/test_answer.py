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


@pytest.mark.parametrize("description,line", [
    ("Heat (1995), a crime movie.", "Heat (1995), a crime movie."),  # a template that opens with the title
    # the template's reason before the title goes after it, as for an item without a description
    ("Popular with 5 users: Heat (1995), a drama and sci-fi movie.",
     "Heat (1995), a drama and sci-fi movie (popular with 5 users)."),
    ("Because you liked Toy Story: Heat (1995), an adventure movie.",
     "Heat (1995), an adventure movie (because you liked Toy Story)."),
    ("Because you liked Star Wars: Episode IV - A New Hope: Heat (1995), a crime movie.",
     "Heat (1995), a crime movie (because you liked Star Wars: Episode IV - A New Hope)."),
    ("If you liked Ronin, Heat (1995) is a tense crime epic.",  # names its item itself
     "If you liked Ronin, Heat (1995) is a tense crime epic."),
    ("A tense crime epic with a famous shoot-out.", "Heat (1995): A tense crime epic with a famous shoot-out."),
    (None, "Heat (1995)"),
])
def test_the_answer_names_each_title_once(description, line):
    text = answer_text(Constraints(genres=["Crime"]), [candidate("1", "Heat (1995)", description=description)])
    assert text.splitlines()[1] == "1. " + line


def test_terminal_colour_codes_are_not_part_of_a_message():
    assert ChatRequest(message="like \x1b[31mToy Story\x1b[0m").message == "like Toy Story"
    with pytest.raises(ValidationError, match="is blank"):
        ChatRequest(message="\x1b[2J\x01\x02")
