import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragrec.retrieval.filters import FilterSyntaxError, filter_keys, leaves_nothing, parse_filter
from ragrec.store import Filter, Match, MatchAny, Range


def test_filter_syntax():
    f = parse_filter(["genres=Comedy", "year>=1990", "year<2000", "genres!=Horror,Thriller", "tags='sci-fi, space'"])
    assert f.must == [Match(key="genres", value="Comedy"), Range(key="year", gte=1990), Range(key="year", lt=2000),
                      Match(key="tags", value="sci-fi, space")]
    assert f.must_not == [MatchAny(key="genres", any=["Horror", "Thriller"])]
    # unquoted digits: the number or the same text (an id kept as text); quoted: the text only
    assert parse_filter("year=1995").must == [Filter(should=[Match(key="year", value=1995),
                                                             Match(key="year", value="1995")])]
    assert parse_filter("item_id!=1,2").must_not == [Filter(should=[MatchAny(key="item_id", any=[1, 2]),
                                                                    MatchAny(key="item_id", any=["1", "2"])])]
    assert parse_filter('item_id="1"').must == [Match(key="item_id", value="1")]
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


bound = st.one_of(st.none(), st.integers(-3, 3).map(float))


@given(st.lists(st.builds(lambda gte, gt, lte, lt: Range(key="year", gte=gte, gt=gt, lte=lte, lt=lt),
                          bound, bound, bound, bound), min_size=1, max_size=4))
def test_ranges_leave_nothing_exactly_when_no_number_is_within_all(ranges):
    def within(x: float, r: Range) -> bool:
        return ((r.gte is None or x >= r.gte) and (r.gt is None or x > r.gt) and (r.lte is None or x <= r.lte)
                and (r.lt is None or x < r.lt))

    # the bounds are integers in [-3, 3]: if any number is within them all, one of these is
    candidates = [x / 2 for x in range(-8, 9)]
    assert leaves_nothing(ranges) == (not any(all(within(x, r) for r in ranges) for x in candidates))
