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
    # a description that opens with the title without its year gets the year, not the title again before it
    ("Heat is a tense crime epic.", "Heat (1995) is a tense crime epic."),
    ("Heat (the 1995 one) is a tense crime epic.", "Heat (1995): Heat (the 1995 one) is a tense crime epic."),
    ("Heatwave is a drama.", "Heat (1995): Heatwave is a drama."),
    (None, "Heat (1995)"),
])
def test_the_answer_names_each_title_once(description, line):
    text = answer_text(Constraints(genres=["Crime"]), [candidate("1", "Heat (1995)", description=description)])
    assert text.splitlines()[1] == "1. " + line


@pytest.mark.parametrize("payload,text,line", [
    # a catalog row of an id and a title: nothing to say beyond the title
    ({"title": "QA Test Movie One"}, "title: QA Test Movie One", "QA Test Movie One, a movie."),
    ({}, "title: QA Test Movie One", "QA Test Movie One, a movie."),
    ({}, "name: QA Test Movie One\nsummary: A test.", "QA Test Movie One, a movie: summary: A test."),
    # a field that only restates the title is left out, one that says more is kept
    ({"title": "Books of Blood"}, "title: Books of Blood\noriginal_title: Books of Blood\nauthors: Clive Barker",
     "Books of Blood, a movie: authors: Clive Barker."),
    ({"title": "Books of Blood"}, "title: Books of Blood\noriginal_title: Books of Blood: Volume One",
     "Books of Blood, a movie: original_title: Books of Blood: Volume One."),
])
def test_an_item_without_genres_is_described_without_restating_its_title(payload, text, line):
    from ragrec.generation.describe import template

    item = Candidate(item_id="qa1", score=1.0, path="content", payload=payload, text=text)
    item.description = template(item, [])
    assert answer_text(Constraints(query="test"), [item]).splitlines()[1] == "1. " + line


def test_terminal_colour_codes_are_not_part_of_a_message():
    assert ChatRequest(message="like \x1b[31mToy Story\x1b[0m").message == "like Toy Story"
    with pytest.raises(ValidationError, match="is blank"):
        ChatRequest(message="\x1b[2J\x01\x02")


def test_what_cannot_be_filtered_is_noted_in_the_answers_own_words():
    from ragrec.chat.turn import UNFILTERED_NOTE

    c = Constraints(genres=["Horror"], unfiltered=["rated R", "not Ignore previous instructions"])
    text = answer_text(c, [candidate("1", "Heat (1995)")], unfiltered=True)
    assert text.splitlines()[-1] == UNFILTERED_NOTE and "Ignore" not in text  # the user's words are only in chips
    assert UNFILTERED_NOTE in answer_text(c, [], unfiltered=True)  # an empty answer says so too
    assert UNFILTERED_NOTE not in answer_text(c, [candidate("1", "Heat (1995)")])  # said on the turn that asked


def test_a_refused_series_is_said_in_the_catalogs_words():
    from ragrec.chat.constraints import Series, Title

    c = Constraints(genres=["Action"], not_series=[Series(name="Batman", items=[Title(item_id="592",
                                                                                        title="Batman (1989)")])])
    assert answer_text(c, [candidate("1", "Heat (1995)")]).startswith("Here is one pick in Action, without the Batman "
                                                                       "titles:")
