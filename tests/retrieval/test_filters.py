import pytest

from ragrec.retrieval.filters import FilterSyntaxError, filter_keys, parse_filter
from ragrec.store import Match, MatchAny, Range


def test_filter_syntax():
    f = parse_filter(["genres=Comedy", "year>=1990", "year<2000", "genres!=Horror,Thriller", "tags='sci-fi, space'"])
    assert f.must == [Match(key="genres", value="Comedy"), Range(key="year", gte=1990), Range(key="year", lt=2000),
                      Match(key="tags", value="sci-fi, space")]
    assert f.must_not == [MatchAny(key="genres", any=["Horror", "Thriller"])]
    assert parse_filter("year=1995").must == [Match(key="year", value=1995)]
    assert parse_filter("adult=false").must == [Match(key="adult", value=False)]
    assert parse_filter([]) is None
    assert parse_filter("title='Round Midnight (1986)").must == [Match(key="title", value="'Round Midnight (1986)")]


@pytest.mark.parametrize("text,values", [
    ('title="Heat (1995)","Balto (1995)"', ["Heat (1995)", "Balto (1995)"]),  # each value quoted
    ('title=Balto (1995),"Heat (1995)"', ["Balto (1995)", "Heat (1995)"]),
    ('genres="Sci-Fi, Action",Drama', ["Sci-Fi, Action", "Drama"]),  # a comma inside quotes stays in its value
    ('genres= "A" , B ', ["A", "B"]),
])
def test_a_list_may_quote_any_of_its_values(text, values):
    assert parse_filter(text).must == [MatchAny(key=text.split("=")[0], any=values)]


@pytest.mark.parametrize("bad", ["genres", "year>=nineteen", "=Comedy", "rating=4.5", "x=1,a",
                                 # not silently ignored (nan, inf) nor silently matching nothing (an empty value, ==)
                                 "year>=nan", "year<inf", "year>-inf", "genres==", "genres==Comedy", "year=>1990",
                                 'genres=""', "genres= , ", "year=99999999999999999999",
                                 'genres="Com,edy', 'genres=Com,edy"', 'genres="'])  # a quote not closed
def test_bad_filters_say_why(bad):
    with pytest.raises(FilterSyntaxError):
        parse_filter(bad)


def test_filter_keys_name_each_field_once():
    assert filter_keys(["genres=Comedy", "year>=1990", "genres!=Horror"]) == ["genres", "year"]
