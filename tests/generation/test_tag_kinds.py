"""What descriptions state of an item's tags: MovieLens users' verdicts ("boring", "great acting") and people's
names ("Robin Williams"), on the bundled demo catalog's real tags and on ml-latest-small's tags.csv."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ragrec.config import Settings
from ragrec.generation import Describer, get_llm
from ragrec.generation import prompts as P
from ragrec.generation.describe import template
from tests.generation import tag_labels
from tests.generation.conftest import make_candidate

TAGS_CSV = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "movielens-latest-small" / "tags.csv"


def prompt_text(describer: Describer, candidate, liked=()) -> str:
    return "\n".join(m.content for m in describer._prompt(candidate, list(liked)))


# --- the rule, on labeled examples ------------------------------------------------------------------------------
@pytest.mark.parametrize("tag, kind", [
    ("boring", "negative"), ("overrated", "negative"), ("bad acting", "negative"), ("not funny", "negative"),
    ("stupid", "negative"), ("HORRIBLE ACTING", "negative"), ("way too long", "negative"), ("plot holes", "negative"),
    ("It was melodramatic and kind of dumb", "negative"), ("first was much better", "negative"),
    ("great acting", "praise"), ("masterpiece", "praise"), ("Visually stunning", "praise"), ("Well Done", "praise"),
    # tones, topics, quotes and awards that only share a word with a verdict
    ("dark", None), ("disturbing", None), ("funny", None), ("feel-good", None), ("good and evil", None),
    ("stupid is as stupid does", None), ("Oscar (Best Actress)", None), ("pixar", None),
])
def test_verdict_tags_are_told_from_facts(tag, kind):
    assert P.opinion(tag) == kind


@pytest.mark.parametrize("tag", ["Robin Williams", "Quentin Tarantino", "Tom Hanks", "Samuel L. Jackson",
                                 "Robert De Niro", "Robert Downey Jr.", "M. Night Shyamalan", "C.S. Lewis",
                                 "Ewan McGregor", "Shia LaBeouf", "Francis Ford Coppola", "Astaire and Rogers"])
def test_names_are_people(tag):
    assert P.is_person(tag)


@pytest.mark.parametrize("tag", ["New York City", "World War II", "Star Wars", "Psychological Thriller", "Civil War",
                                 "South Africa", "High School", "Twist Ending", "Great Visuals", "In Netflix queue",
                                 "Saturday Night Live", "Disney", "dark comedy", "Tarantino", "jack nicholson"])
def test_capitalized_topics_are_not_people(tag):
    """Nor one-word or lower-case names: those stay topics, as before (see the recall test below)."""
    assert not P.is_person(tag)


def _tags_csv() -> list[str]:
    if not TAGS_CSV.exists():
        pytest.skip(f"{TAGS_CSV} is absent (the shared datasets are not on this machine)")
    with open(TAGS_CSV, encoding="utf-8") as f:
        return [row["tag"] for row in csv.DictReader(f)]


def test_person_detection_on_every_movielens_tag():
    """Every tag of tags.csv the detection takes for a name is hand-labeled (tag_labels.py): 89 % are real people,
    97 % people at all (a character is still a person associated with the film); 80 % of the real people's names
    are found (the rest are written in lower case or as one word, and stay topics)."""
    tags = set(_tags_csv())
    found = {t for t in tags if P.is_person(t)}
    labeled = tag_labels.REAL_PEOPLE | tag_labels.CHARACTERS | tag_labels.NOT_PEOPLE
    assert found <= labeled, sorted(found - labeled)  # a new kind of hit must be labeled before it is counted
    real = found & tag_labels.REAL_PEOPLE
    assert len(real) / len(found) >= 0.88
    assert len(found - tag_labels.NOT_PEOPLE) / len(found) >= 0.96
    assert len(real) / len(tag_labels.REAL_PEOPLE | tag_labels.UNSHAPED_PEOPLE) >= 0.79


# --- templates (RAGREC_LLM=none), exactly ---------------------------------------------------------------------
def test_templates_state_people_as_people_and_no_verdict(catalog):
    lady = make_candidate(catalog["45730"], 0.5)  # bad, disappointing, faerie tale, fairy tale, far fetched, ...
    assert template(lady, ["Toy Story (1995)"]) == (
        "Because you liked Toy Story: Lady in the Water (2006), a drama, fantasy and mystery movie about faerie tale, "
        "fairy tale. People associated with it: M. Night Shyamalan, Paul Giamatti.")
    twilight = make_candidate(catalog["63992"], 0.5)  # audience intelligence underestimated, boring, overrated
    assert template(twilight, []) == (
        "Twilight (2008), a drama, fantasy, romance and thriller movie about chick flick, Teen movie.")
    anchorman = make_candidate(catalog["8641"], 0.5)  # Will Ferrell, hilarious, Steve Carell, stupid, awesome, comedy
    assert template(anchorman, []) == (
        "Anchorman: The Legend of Ron Burgundy (2004), a comedy movie about hilarious, comedy. People associated "
        "with it: Will Ferrell, Steve Carell. Viewers' words: \"awesome\".")
    pulp = make_candidate(catalog["296"], 0.5)
    assert template(pulp, []) == (
        "Pulp Fiction (1994), a comedy, crime, drama and thriller movie about non-linear, cult film, drugs. People "
        "associated with it: Quentin Tarantino. Viewers' words: \"good dialogue\", \"great soundtrack\".")


def test_no_llm_describes_with_these_templates(catalog, tmp_path):
    """The RAGREC_LLM=none path end to end: the Describer of `get_llm` gives the template, marked as one."""
    settings = Settings(data_dir=tmp_path, llm="none")
    describer = Describer(get_llm(settings), settings)
    jumanji = make_candidate(catalog["2"], 0.9, [catalog["1"]])  # fantasy, magic board game, Robin Williams, game
    (result,) = describer.describe(None, [jumanji])
    assert result.description_source == "template"
    assert result.description == (
        "Because you liked Toy Story: Jumanji (1995), an adventure, children and fantasy movie about fantasy, magic "
        "board game, game. People associated with it: Robin Williams.")


def test_no_template_or_prompt_of_the_demo_catalog_states_a_verdict_or_a_person_as_a_topic(demo_movies, tmp_path):
    """All 9,742 demo movies: a negative verdict tag is in no template and no description prompt, and a person's name
    is never what an item is "about"."""
    describer = Describer(get_llm(Settings(data_dir=tmp_path, llm="none")), Settings(data_dir=tmp_path))
    negative = people = 0
    for movie in demo_movies:
        c = make_candidate(movie, 0.5)
        title = P.display_title(movie["title"])
        for text in (template(c, []), prompt_text(describer, c)):
            rest = text.replace(title, " ").casefold()  # a title may share a verdict's word ("Bad Boys")
            about = rest.split("people associated with it:")[0]
            for tag in movie["tags"]:
                said = re.compile(r"(?<![\w'])" + re.escape(tag.casefold()) + r"(?![\w'])")
                if P.opinion(tag) == "negative":
                    negative += 1
                    assert not said.search(rest), (tag, text)
                elif P.is_person(tag) and P.is_about_the_item(tag, title):
                    people += 1
                    assert not said.search(about), (tag, text)
    assert negative > 100 and people > 500  # the demo catalog has both, as counted in the README


# --- the local LLM's prompt -------------------------------------------------------------------------------------
def test_the_local_model_is_not_given_verdicts(local_llm, gen_settings, catalog, monkeypatch):
    """What the bundled model reads (its chat template, as tokens) for items with verdict and person tags: no
    negative verdict, people as people. The generated text is not asserted on."""
    seen: list[str] = []
    tokens = local_llm._tokens

    def recorded(prompt):
        ids = tokens(prompt)
        seen.append(local_llm.tokenizer.decode(ids))
        return ids

    monkeypatch.setattr(local_llm, "_tokens", recorded)
    describer = Describer(local_llm, gen_settings.model_copy(update={"describe_cache_size": 0,
                                                                       "describe_max_tokens": 4}))
    items = [make_candidate(catalog[i], 0.9, [catalog["1"]]) for i in ("63992", "45730", "8641")]
    describer.describe(None, items)
    assert len(seen) == 3, seen
    twilight, lady, anchorman = (next(s for s in seen if title in s) for title in ("Twilight", "Lady", "Anchorman"))
    for text, gone in ((twilight, ["boring", "overrated", "underestimated"]),
                       (lady, ["bad", "disappointing", "far fetched"]), (anchorman, ["stupid"])):
        assert not [g for g in gone if g in text.casefold()], text
    assert "People associated with it: M. Night Shyamalan, Paul Giamatti." in lady
    assert "about faerie tale, fairy tale." in lady
    assert "Viewers' words: \"awesome\"." in anchorman and "about hilarious, comedy." in anchorman


# --- any tags ---------------------------------------------------------------------------------------------------
_words = st.text(alphabet=st.characters(categories=("L", "N", "P", "Zs")), max_size=25)
_first = st.sampled_from(["Tom", "Robin", "Meryl", "Samuel L.", "Quentin", "Emma", "Denzel"])
_last = st.sampled_from(["Hanks", "Williams", "Streep", "Jackson", "Tarantino", "Thompson", "Washington"])


@given(tags=st.lists(_words, max_size=10), name=st.tuples(_first, _last).map(" ".join),
       verdict=st.sampled_from(sorted(P.NEGATIVE_WORDS)))
@hsettings(max_examples=150, deadline=None)
def test_any_tags_split_into_topics_people_and_praise_and_no_verdict(tags, name, verdict):
    movie = {"movieId": 1, "title": "Toy Story (1995)", "year": 1995, "genres": ["Comedy"],
             "tags": [verdict, f"{verdict} ending", name, *tags][:10]}
    c = make_candidate(movie, 0.5)
    facts = P.item_facts(c)
    stated = facts.get("tags", []) + facts.get("people", []) + facts.get("praise", [])
    about = [t for t in P.payload_tags(c) if P.is_about_the_item(t, "Toy Story")]
    assert sorted(stated) == sorted(t for t in about if P.opinion(t) != "negative")  # each once, in one kind
    assert name in facts["people"] and name not in facts["tags"]
    assert verdict not in P.tag_words(P.facts_sentence(facts)) and verdict not in P.tag_words(template(c, []))
