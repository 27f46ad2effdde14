"""From a chat message to constraints on the recommendations: genres to keep or leave out, a year range, titles the
user wants more like (or nothing like), and free text.

The default parser is rules over the catalog's own vocabulary (its genre values and titles), so it works with every
LLM backend and with none. Each turn's constraints merge into the conversation's: "something like Toy Story", then
"but not animated" means both.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from ragrec.chat.vocabulary import GENRE_ADJECTIVES, Vocabulary

MAX_WORDS_IN_TITLE = 12
MAX_CHIP_CHARS = 80  # the query as a chip shows it (the whole query is still searched)
MAX_UNFILTERED = 10  # chips of what cannot be filtered from one message (a long one may refuse hundreds of things)


class Title(BaseModel):
    item_id: str
    title: str


class Series(BaseModel):
    name: str = Field(description="as the catalog writes it: \"Batman\"")
    items: list[Title] = Field(description="every catalog item whose title holds the name")


class Constraints(BaseModel):
    genres: list[str] = Field(default_factory=list, description="keep items of these genres")
    every_genre: bool = Field(False, description="of every one of `genres` (\"a horror comedy\"); false: of any of "
                                                 "them (\"westerns or war films\")")
    also_genres: list[str] = Field(default_factory=list, description="and of every one of these too, where `genres` "
                                   "are alternatives (\"westerns or war films\", then \"but funny\")")
    or_genres: list[str] = Field(default_factory=list, description="or items of any of these, where `genres` are "
                                  "all required (\"romantic comedies\", then \"or maybe a thriller\")")
    not_genres: list[str] = Field(default_factory=list, description="leave out items of any of these genres")
    allow_genres: list[str] = Field(default_factory=list, description="genres no longer left out (\"horror is fine "
                                                                      "after all\"), not required either")
    allow_years: tuple[int, int] | None = Field(None, description="years no longer left out (\"the 90s are fine\" "
                                                                  "after \"not the 90s\"), not required either")
    year_min: int | None = None
    year_max: int | None = None
    not_years: tuple[int, int] | None = Field(None, description="a year range to leave out (\"not from the 90s\")")
    like: list[Title] = Field(default_factory=list, description="catalog items to recommend more like")
    not_like: list[Title] = Field(default_factory=list, description="catalog items to move away from")
    not_series: list[Series] = Field(default_factory=list, description="series whose every item is left out "
                                     "(\"not batman\", \"nothing with batman\")")
    forget_like: list[Title] = Field(default_factory=list, description="titles named so far to forget, neither liked "
                                                                       "nor disliked (\"forget Toy Story\")")
    query: str | None = Field(None, description="the rest of the message, as a free-text query")
    unfiltered: list[str] = Field(default_factory=list, description="what was asked for that the catalog has nothing "
                                  "to filter by, as shown back (\"rated R\", \"not Hugh Grant\"): never searched")
    reset: bool = Field(False, description="the message asked to start over")
    replaces_genres: bool = Field(False, description="the message corrects what was asked so far: its genres "
                                  "replace the genres (\"actually dramas\", \"make it a comedy instead\"), its titles "
                                  "the titles liked (\"actually like Shrek\")")
    refines_genres: bool = Field(False, description="the message's genres narrow those asked so far (\"but funny\", "
                                                    "\"scary ones\"); false: they add alternatives (\"or comedies\")")
    any_year: bool = Field(False, description="the message lifts the years asked so far (\"any year is fine\")")
    any_genre: bool = Field(False, description="the message lifts the genres asked so far (\"any genre\")")
    adds_years: bool = Field(False, description="the message's years add to those asked so far (\"or the 80s\", "
                                                "\"the 60s too\")")
    shift_years: Literal["newer", "older", "or later", "or earlier"] | None = Field(
        None, description="newer or older than the years asked so far (\"something newer\"), or those years and "
                          "any later or earlier (\"or later\")")

    def is_empty(self) -> bool:
        return not (self.genres or self.also_genres or self.or_genres or self.not_genres
                    or self.allow_genres or self.allow_years
                    or self.year_min or self.year_max
                    or self.not_years or self.like or self.not_like or self.not_series or self.query)

    def merge(self, turn: Constraints) -> Constraints:
        """This conversation's constraints after `turn` (a later turn wins where they disagree)."""
        if turn.reset:
            return turn.model_copy(update={"reset": False})
        unfiltered = self.unfiltered + [u for u in turn.unfiltered if u not in self.unfiltered]
        # a series left out stays out, but for the items a later turn likes or forgets ("not batman", then "like
        # batman returns")
        names = {s.name.lower() for s in turn.not_series}
        kept_ids = {t.item_id for t in turn.like + turn.forget_like}
        not_series = [s.model_copy(update={"items": [t for t in s.items if t.item_id not in kept_ids]})
                      for s in self.not_series if s.name.lower() not in names] + turn.not_series
        not_series = [s for s in not_series if s.items]
        before = Constraints() if turn.any_genre else self  # what "any genre" lifts: genres kept and left out
        dropped = turn.not_genres + turn.allow_genres  # "no horror", "forget horror": no longer asked for
        kept = [] if turn.replaces_genres and turn.genres else [g for g in before.genres if g not in dropped]
        genres = kept + [g for g in turn.genres if g not in kept]
        also = [] if turn.replaces_genres and turn.genres else \
            [g for g in before.also_genres if g not in dropped and g not in genres]
        every_genre = turn.every_genre if turn.genres else before.every_genre
        alternatives = [] if turn.replaces_genres and turn.genres else \
            [g for g in before.or_genres if g not in dropped and g not in genres]
        if (before.or_genres or before.every_genre and len(kept) > 1) and turn.genres and not turn.refines_genres \
                and not (turn.replaces_genres or turn.every_genre and len(turn.genres) > 1):
            # "romantic comedies" (or "comedies", then "with some romance"), then "or maybe a thriller": thrillers as
            # well as romantic comedies, not any of the three
            alternatives += [g for g in turn.genres if g not in kept and g not in alternatives]
            genres, every_genre = kept, True
        if turn.refines_genres and kept and len(genres) > len(kept):  # "horror movies", then "but funny": both
            # "westerns or war films", then "but funny": either, funny; with alternatives ("romantic comedies or
            # thrillers"), the narrowing is of them all
            if len(kept) > 1 and not before.every_genre or alternatives:
                also += [g for g in turn.genres if g not in kept and g not in also]
                genres, every_genre = kept, before.every_genre and bool(alternatives)
            else:
                every_genre = True
        if alternatives and not (every_genre and len(genres) > 1):  # nothing left to be all of: any of them will do
            genres, alternatives, every_genre = genres + [g for g in alternatives if g not in genres], [], False
        not_genres = [g for g in before.not_genres if g not in turn.genres and g not in turn.allow_genres] + \
                     [g for g in turn.not_genres if g not in before.not_genres]
        not_ids = {t.item_id for t in turn.not_like + turn.forget_like}
        # a correction's titles replace those liked so far ("like Toy Story", then "actually like Shrek")
        before_like = [] if turn.replaces_genres and turn.like else self.like
        like = [t for t in before_like if t.item_id not in not_ids] + [t for t in turn.like if t not in before_like]
        like_ids = {t.item_id for t in turn.like + turn.forget_like}
        not_like = [t for t in self.not_like if t.item_id not in like_ids] + \
                   [t for t in turn.not_like if t not in self.not_like and t.item_id not in like_ids]
        year_min, year_max, not_years = (None, None, None) if turn.any_year else \
            (self.year_min, self.year_max, self.not_years)
        asked = year_min is not None or year_max is not None
        if turn.allow_years:  # "not the 90s", then "the 90s are fine": no longer left out, and not asked for
            not_years = _without(not_years, turn.allow_years)
            if asked:  # "the 80s", then "the 90s are fine too": the range grows, as with "or the 90s"
                year_min = None if year_min is None else min(year_min, turn.allow_years[0])
                year_max = None if year_max is None else max(year_max, turn.allow_years[1])
        if turn.shift_years and asked:  # "the 80s", then "something newer": from 1990; "or later": from 1980
            if turn.shift_years == "newer" and year_max is not None:
                year_min, year_max = year_max + 1, None
            elif turn.shift_years == "older" and year_min is not None:
                year_min, year_max = None, year_min - 1
            elif turn.shift_years == "or later" and year_min is not None:
                year_max = None
            elif turn.shift_years == "or earlier" and year_max is not None:
                year_min = None
        elif turn.adds_years and asked and (turn.year_min is not None or turn.year_max is not None):
            # "the 70s", then "or the 80s": one span, as "the 70s or 80s" is
            year_min = None if year_min is None or turn.year_min is None else min(year_min, turn.year_min)
            year_max = None if year_max is None or turn.year_max is None else max(year_max, turn.year_max)
        else:
            # a turn's bound replaces the same side and narrows the other ("not before 1960", then "nothing after
            # 1980": 1960-1980); one that leaves no year between them replaces both ("before 2000", then "after 2005")
            year_min = turn.year_min if turn.year_min is not None else year_min
            year_max = turn.year_max if turn.year_max is not None else year_max
            if year_min is not None and year_max is not None and year_min > year_max:
                year_min, year_max = turn.year_min, turn.year_max
        if _covers(turn.not_years, year_min, year_max):
            year_min = year_max = None  # "an 80s movie", then "not the 80s": nothing of the range is left
        elif (turn.year_min is not None or turn.year_max is not None) and _covers(not_years, year_min, year_max):
            not_years = None  # "not the 90s", then "from 1995": the later turn wins
        return Constraints(genres=genres, every_genre=every_genre and len(genres) > 1, also_genres=also,
                           or_genres=alternatives,
                           not_genres=not_genres,
                           year_min=year_min, year_max=year_max,
                           not_years=turn.not_years or not_years, like=like, not_like=not_like,
                           not_series=not_series, query=turn.query or self.query, unfiltered=unfiltered)

    def filters(self, genre_field: str = "genres", year_field: str = "year") -> list[str]:
        """The constraints in ragrec's filter syntax (values quoted, so a comma in a genre stays in it)."""
        out = []
        if self.genres and self.every_genre and self.or_genres:  # (A and B) or C is (A or C) and (B or C)
            out += [f"{genre_field}=" + ",".join(f'"{g}"' for g in [genre, *self.or_genres]) for genre in self.genres]
        elif self.genres and self.every_genre:
            out += [f'{genre_field}="{genre}"' for genre in self.genres]
        elif self.genres:
            out.append(f"{genre_field}=" + ",".join(self.genres))
        out += [f'{genre_field}="{genre}"' for genre in self.also_genres]
        for genre in self.not_genres:
            out.append(f'{genre_field}!="{genre}"')
        if self.year_min is not None:
            out.append(f"{year_field}>={self.year_min}")
        if self.year_max is not None:
            out.append(f"{year_field}<={self.year_max}")
        if self.not_years:  # none of the years of the range (the syntax has no "outside a range")
            out.append(f"{year_field}!=" + ",".join(map(str, range(self.not_years[0], self.not_years[1] + 1))))
        return out

    def chips(self) -> list[str]:
        """Short labels a client can show: "genres: Comedy", "not: Animation", "years: 1990-1999", ..."""
        chips = []
        if self.genres:
            chips.append("genres: " + (" and " if self.every_genre else ", ").join(self.genres))
        if self.or_genres:
            chips.append("or genres: " + ", ".join(self.or_genres))
        if self.also_genres:
            chips.append("and genres: " + " and ".join(self.also_genres))
        if self.not_genres:
            chips.append("not: " + ", ".join(self.not_genres))
        if self.year_min is not None or self.year_max is not None:
            chips.append(f"years: {self.year_min or '…'}-{self.year_max or '…'}")
        if self.not_years:
            chips.append(f"not years: {self.not_years[0]}-{self.not_years[1]}")
        chips += [f"like: {t.title}" for t in self.like]
        chips += [f"not like: {t.title}" for t in self.not_like]
        chips += [f"not: {s.name} ({len(s.items)} title{'s' if len(s.items) > 1 else ''})" for s in self.not_series]
        if self.query:  # a chip is a label: a long query (up to a whole 2,000-character message) is cut short
            chips.append(f"about: {_cut(self.query)}")
        chips += [f"can't filter: {_cut(u)}" for u in self.unfiltered]
        return chips


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHIP_CHARS else text[:MAX_CHIP_CHARS - 1].rstrip() + "…"


def _covers(span: tuple[int, int] | None, year_min: int | None, year_max: int | None) -> bool:
    """Whether the years left out (`span`) leave nothing of the range."""
    return span is not None and year_min is not None and year_max is not None and \
        span[0] <= year_min and year_max <= span[1]


def _without(span: tuple[int, int] | None, allowed: tuple[int, int]) -> tuple[int, int] | None:
    """The years of `span` left out once `allowed` is no longer: the larger part where `allowed` splits it in two
    (a range left out is one span)."""
    if span is None:
        return None
    parts = [(span[0], min(span[1], allowed[0] - 1)), (max(span[0], allowed[1] + 1), span[1])]
    parts = [(a, b) for a, b in parts if a <= b]
    return max(parts, key=lambda p: p[1] - p[0]) if parts else None


# --- the rule-based parser ------------------------------------------------------------------------------------

_NEGATORS = {"not", "no", "without", "except", "excluding", "nothing", "avoid", "never", "dont", "don't", "non",
             "none", "skip", "less", "minus", "neither", "nor", "hate", "hates", "dislike", "dislikes"}
_SOFTENERS = {"too", "any", "more", "a", "an", "the", "so", "very", "really", "anything", "something", "of", "with",
              "want", "like", "me", "i", "for", "about", "in", "into", "fan", "big", "from", "made", "released",
              "movie", "movies", "film", "films", "or", "much",  # "not so much horror", "not much horror"
              "up", "mood", "keen", "on", "feeling"}  # "not up for horror", "not in the mood for westerns"
# everyday ways of saying "none of this", read as "not like" before anything else: "I'm tired of comedies" leaves
# comedies out, "I hated Titanic" moves away from Titanic
_NEGATING_IDIOM = re.compile(
    r"\b(?:(?:i'?m\s+|i\s+am\s+)?(?:so\s+)?(?:tired|sick)\s+of|(?:i'?m\s+|i\s+am\s+)(?:over|done\s+with)|"
    r"(?:can'?t|cannot|can\s+not)\s+stand|(?:not|no)\s+(?:really\s+)?in\s+the\s+mood\s+for|no\s+mood\s+for|"
    r"(?:not|wasn'?t|isn'?t|never\s+been)\s+(?:really\s+)?(?:interested\s+in|into|a\s+(?:big\s+)?fan\s+of)|"
    r"(?:i'?ve\s+)?had\s+enough\s+of|enough\s+with|exclude|hated|disliked)(?=\s+(?:the\s+|any\s+)?[\w\"“])",
    re.IGNORECASE)
_NEGATING_PHRASE = re.compile(r"\b(?:(?:anything|everything)\s+but|other\s+than|instead\s+of|rather\s+than)"
                              r"(?:\s+(?:a|an|the))?\s*$")
_YEAR = r"((?:18|19|20)\d\d)"
_YEAR_OR_SHORT = r"((?:18|19|20)\d\d|'\d\d)"  # "from '99"
# a bound on the years, before a year or decade ("up to 1980", "after the 80s") or after it ("1980 onwards", "the 80s
# or earlier"); "before" and "after" leave their year out, "until", "up to" and "since" keep it
_BOUND = r"(before|pre|older\s+than|earlier\s+than|until|till|up\s+(?:to|until|till|through)|to|through|thru|" \
         r"at\s+most|after|post|newer\s+than|later\s+than|since|at\s+least|starting(?:\s+(?:from|in))?)"
_BOUND_AFTER = r"(onwards?|forwards?|(?:and|or)\s+(?:on|later|after|newer|up|beyond|earlier|before|older))"
_DECADE_WORDS = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6, "seventies": 7,
                 "eighties": 8, "nineties": 9}
_FILLER = set("""
a about after an and another any anything are as at be best but can could do for from get give good great hey hi how
i i'd i'm id im in is it its just looking me might more movie movies film films maybe my need of on one or other
please recommend recommendation recommendations see show some something suggest suggestions that the them then
there these this to today tonight want watch what which will with would you your stuff kind sort type thing things
also again instead now okay ok well yes yeah like similar unlike made released came out produced ones
than rather actually everything fine else should liked loved enjoyed really make only have let's lets
top top-rated greatest highest highest-rated rated ever
others next bit slightly somewhat
""".split())  # the last lines: ranking words ("top 5 comedies", "the greatest westerns ever"), which every answer
# is, and asking for more of the same ("others?", "next", "a bit later")
# ranking words of more than one: "the best movies of all time"
_RANKING = re.compile(r"\b(?:of\s+)?all[\s-]time\b")
# words of every sentence: a title made only of them is read only when written as one ("like The Thing"), so that
# "and not", "and nothing" name neither "Evangelion: 3.0 You Can (Not) Redo" nor "Nothing (2003)"
_EVERYDAY = _FILLER | _NEGATORS
# words of what a film is about or for, which name a title without "like" only when written as one ("Date Night"):
# "a date night movie", "kung fu movies", "a true story" ask for such films, not for Date Night, Kung Fu Hustle or True
# Story (bare titles of other words, "star wars", "love actually", are read as typed)
_TOPIC_WORDS = set("""
date night true story stories real life events kung fu road trip high school haunted house ghost holiday holidays
christmas summer camp family families city town space time travel
""".split())
# a clause made only of these is a greeting or thanks, not a search: "hello", "hi there", "thanks!", "thank you"
_PLEASANTRIES = set("""
hello hi hey hiya howdy greetings good morning afternoon evening there thanks thank thx ty cheers you so very much a
lot great ok okay cool nice awesome perfect lovely excellent amazing brilliant fantastic wow sure alright yes yeah
yep bye goodbye appreciated appreciate it that that's thats sounds
""".split())
# "a superhero movie" asks for a kind of film, not for the parody Superhero Movie (2008)
_KIND_OF_FILM = {"a", "an", "the", "movie", "movies", "film", "films", "flick", "flicks"}
# words of a request, never of a bare title's filler ("something new" asks for new films, not Something New)
_ASKING = {"something", "anything", "show", "me", "give", "recommend", "suggest", "want", "need", "looking", "please",
           "more", "another", "similar", "i", "i'd", "i'm", "id", "im"}
_LIKE = r"(?:more\s+)?(?:like|liked|loved|enjoyed|similar\s+to|such\s+as|as\s+good\s+as|in\s+the\s+vein\s+of|" \
        r"reminds?\s+me\s+of|along\s+the\s+lines\s+of|in\s+the\s+style\s+of)"
_UNLIKE = r"(?:not\s+like|unlike|nothing\s+like|less\s+like|anything\s+but|no\s+more\s+(?:of\s+)?|not\s+another)"
# where a title after "like" ends; a year bound ends it too ("like toy story up to 2000", "like alien 1980 or earlier")
_CLAUSE_END = r"(?=\s*(?:[.;!?]|,\s*(?:but|not|no|from|in|with)\b|\bbut\b|\bfrom\b|\bwith(?:out)?\b|\bin\s+the\b|" \
              r"\bset\s+in\b|\bthat\b|\bwhich\b|\bplease\b|\bfor\b|$|" \
              r"\b(?:and|or)\s+(?:(?:not|nothing|less)\s+like|unlike)\b|" \
              r"\b" + _BOUND + r"\s*-?\s*(?:the\s+)?(?:(?:18|19|20)\d\d|'\d\d\b|'?\d0'?s)|" \
              r"(?:18|19|20)\d\d'?s?\s+" + _BOUND_AFTER + "))"
# a year right after a title ("Titanic (1953)", "Titanic 1953", "Titanic from 1953"); not a decade, nor a year that
# starts a bound or a span ("like the matrix 2000 onwards", "like toy story from 1995 to now")
_TITLE_YEAR = re.compile(r"\s*(?:\(\s*" + _YEAR + r"\s*\)|(?:from\s+|of\s+)?" + _YEAR +
                         r"(?![\w'-]|'?s\b|\s+" + _BOUND_AFTER + r"|\s*[-–]|\s+(?:to|until|till|through|thru)\b))")
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,120})[\"“”«»]")
_CORRECTION = re.compile(r"^\W*(?:(?:actually|rather|nah|make it|change (?:(?:it|that) )?to|switch to|just|only|"
                         r"scratch (?:that|it)|(?:no,? )?wait|never ?mind|forget)\b|no,)|"
                         r"\binstead\b|\b(?:i'?d|i would|we'?d|we would) rather\b")
# a genre or title dropped from those asked so far, neither asked for nor left out: "forget horror"
_DROPPING = re.compile(r"\b(?:forget(?:\s+about)?|never\s*mind(?:\s+about)?|drop)\s+(?:the\s+)?$")
# ways of asking that say nothing of what is asked for ("I'm in the mood for horror", "I'd love a good thriller")
_WANTING = re.compile(r"\b(?:(?:i'?m|i\s+am)\s+)?in\s+the\s+mood\s+for\b|"
                      r"\b(?:i'?d|i\s+would|we'?d|we\s+would)\s+(?:really\s+)?(?:love|enjoy|prefer|fancy)\b|"
                      r"\b(?:i|we)\s+(?:really\s+|just\s+)?(?:fancy|love|enjoy|adore)\b")
# how a later turn says its genres narrow those asked so far ("but funny", "with some romance", "that's scary")
_REFINING = re.compile(r"^\W*(?:but|and|with|though|yet|plus|preferably|ideally|(?:that|which|they|it)(?:'s|'re|"
                       r"\s+(?:is|are|should\s+be|must\s+be))|(?:should|must|needs?\s+to|has\s+to|have\s+to)\s+be)\b")
# a correction inside a message ("horror, no wait, comedy", "horror... actually comedy"): what it says replaces what
# came before it; "actually" and "rather" only after a pause, so that "a comedy that is actually scary" is both
_CORRECTED = re.compile(r"\b(?:no,?\s+wait|wait|sorry|i\s+mean|or\s+rather|scratch\s+that|make\s+that|"
                        r"change\s+(?:it|that)\s+to)\b|(?<=[,.;:!?…-])\s*(?:actually|rather)\b(?!\s+than)")
# words after a negation that refuse nothing to filter by: "I don't know", "I'm not picky", "not up for horror"
_NOT_ASKED = set("""
know sure mind care matter matters picky fussy fussed bothered seen watched think thanks thank wait up interested keen
problem worry worries rush hurry idea clue
""".split())
_NOT_A_NAME = _FILLER | _NEGATORS | _SOFTENERS | _NOT_ASKED
# the words a turn may say around genre adjectives alone for them to narrow ("funny ones", "a scary one too")
_DESCRIBING = {"one", "ones", "a", "an", "too", "also", "as", "well", "though", "please", "more", "bit", "little",
               "very", "really", "quite", "slightly", "somewhat", "but", "and", "with", "kind", "sort", "of", "make",
               "it", "them"}
_YEAR_WORD = r"(?:years?|decades?|eras?|(?:release\s+)?dates?)"
# content ratings, which the catalog does not hold: "rated R", "R-rated", "PG-13"; "R" and "G" alone are letters
_RATING = r"pg[\s-]?13|pg|nc[\s-]?17|r|g|x"
_RATED = re.compile(r"\b(?:rated\s+(" + _RATING + r")|(" + _RATING + r")[\s-]rated|(pg[\s-]?13|pg|nc[\s-]?17))"
                    r"(?![\w-])")


def _no_matter(what: str) -> str:
    """The ways of saying `what` does not matter: "year doesn't matter", "doesn't matter what year", "I don't care
    about the year"."""
    return (r"\b" + what + r"\s+(?:doesn'?t|does\s+not|don'?t|do\s+not)\s+matter\b|"
            r"\b(?:doesn'?t|does\s+not|don'?t|do\s+not)\s+(?:matter|care)\s+(?:about\s+)?(?:the\s+|what\s+|which\s+)?"
            + what + r"\b")


_ANY_YEAR = re.compile(r"\b(?:any|all|whatever)\s+(?:years?|decades?|eras?|release\s+dates?)\b|"
                       r"\b(?:forget|drop|ignore|remove|lift)\s+the\s+(?:years?|decades?|dates?|era)\b|"
                       r"\bno\s+(?:year|date)\s+(?:limits?|restrictions?|range)\b|" + _no_matter(_YEAR_WORD))
# years said to be fine ("the 90s are fine", "I'm ok with the 90s"): the few words before them or after "ok with"
_FINE = r"(?:fine|ok|okay|alright|all\s+right|allowed|welcome)"
_YEARS_FINE = re.compile(r"(?P<what>[^,.;:!?]{1,40}?)\s+(?:is|are|'s|would\s+be)(?P<not>n't|\s+not)?\s+"
                         r"(?:also\s+|still\s+|totally\s+|perfectly\s+)?" + _FINE +
                         r"\b(?:\s+(?:too|as\s+well|after\s+all|though))?|"
                         r"\b(?:ok|okay|fine|alright)\s+with\s+(?P<with>[^,.;:!?]{1,40})")
_ANY_GENRE = re.compile(r"\b(?:any|all|whatever)\s+genres?\b|\b(?:forget|drop|ignore|remove|lift)\s+the\s+genres?\b|"
                        + _no_matter(r"genres?"))
_RESET = re.compile(r"\b(?:start\s+(?:over|again|afresh|fresh|from\s+scratch)|reset|new\s+search|"
                    r"forget\s+(?:that|everything|it)|clear\s+(?:that|it|all|everything))\b|"
                    r"^\W*(?:clear|scratch\s+(?:that|it)|never\s*mind)\W*$")  # alone: nothing is left to correct
_DECADE4 = re.compile(r"\b(1[89]\d|20\d)0'?s\b")
_DECADE2 = re.compile(r"(?<!\d)(?<!\d-)'?(\d)0'?s\b")  # "mid-90s", "80s-90s"; not "1950-60s"
_DECADE_WORD = re.compile(r"\b(" + "|".join(_DECADE_WORDS) + r")\b")
_BETWEEN = re.compile(r"\bbetween\s+" + _YEAR + r"\s+and\s+" + _YEAR + r"\b")
_SPAN = re.compile(r"\b(?:from\s+|between\s+)?" + _YEAR + r"\s*(?:-|–|to|until|till|through|thru)\s*(?:" + _YEAR +
                   r"|(?<=[-–])(\d\d))\b")  # "1995-99"
# "from 90 to 95", "between '85 and '89": two-digit years, read as such only after "from" or "between"
_SHORT_SPAN = re.compile(r"\b(?:from|between)\s+'?(\d\d)\s*(?:-|–|to|and|until|till|through|thru)\s*'?(\d\d)\b"
                         r"(?!\s*(?:'?s\b|%|percent|min|minutes?|mins|years?|hours?))")
_MORE_YEARS = r"(?:(?:\s*,\s*|\s+)(?:(?:or|and)\s+)?" + _YEAR + r")"  # "1995, 1996 or 1997"
_YEAR_LIST = re.compile(r"(?<![\w'-])" + _YEAR + _MORE_YEARS + r"+(?![\w'-])")
_BOUND_YEAR = re.compile(r"\b" + _BOUND + r"\s*-?\s*(?:the\s+year\s+)?" + _YEAR_OR_SHORT + r"\b(?!\s*'?s)")
_YEAR_BOUND = re.compile(r"(?:\bfrom\s+)?\b" + _YEAR + r"\s+" + _BOUND_AFTER + r"\b|\bfrom\s+" + _YEAR + r"\s+(on)\b")
_BOUND_DECADE = re.compile(r"\b(?:" + _BOUND + r"|between)\s*-?\s*(?:the\s+)?$")  # the text before a decade
_DECADE_BOUND = re.compile(r"\s*" + _BOUND_AFTER + r"\b|\s+(on)\b")  # the text after it
_IN_YEAR = re.compile(r"\b(?:in|of|from|year)\s+" + _YEAR_OR_SHORT + r"\b(?!\s*'?s)")
_NOT_YEAR = re.compile(r"\b(?:not|except|excluding|but\s+not|no)\s+(?:in\s+)?" + _YEAR + _MORE_YEARS + r"*\b(?!\s*'?s)")
_BARE_YEAR = re.compile(r"(?<![\w'-])" + _YEAR + r"(?![\w'-])")
# a range open to the present, which ends at the catalog's last year: "from 1990 to now", "until today"
_TO_NOW = re.compile(r"(?:(?:\b(?:from|since)\s+)?\b" + _YEAR + r"\s*(?:-|–|to|until|till|through|thru)\s*|"
                     r"\b(?:up\s+)?(?:to|until|till|through|thru)\s+)(?:now|today|(?:the\s+)?present(?:\s+day)?)\b")
_THIS_DECADE = re.compile(r"\b(?:this|the\s+current)\s+decade\b")
_THIS_YEAR = re.compile(r"\b(?:(last|this)\s+year|(?:from\s+)?the\s+past\s+year)\b")
_PART_OF_DECADE = re.compile(r"\b(early|mid|late)[\s-]*(?:the\s+)?$")
# an approximate year, five years either side: "around 1960" is 1955-1965, as are "circa 1960" and "1960 or so"
_APPROX = r"(?:around|about|circa|ca\.|c\.|roughly|approximately|approx\.)"
APPROX_YEARS = 5
# "around 1970 or so" is said twice over; "around 85" is 1985 (two digits alone, so not "about 10 robots")
_AROUND_YEAR = re.compile(r"\b" + _APPROX + r"\s*(?:" + _YEAR_OR_SHORT + r"\b(?!\s*'?s)|"
                          r"(\d\d)(?=\s*(?:$|[,.;!?]|or\s+so\b|-?ish\b)))(?:\s*-?\s*ish|\s+or\s+so)?\b|"
                          r"\b" + _YEAR + r"(?:\s*-?\s*ish|\s+or\s+so)\b")
# "around the 80s" is the decade itself; not "about the 80s", which may be a topic
_AROUND_DECADE = re.compile(r"\b(?:around|circa|roughly|approximately)\s+(?:the\s+)?$")
_NUMBER_WORDS = {"a": 1, "one": 1, "two": 2, "couple": 2, "couple of": 2, "a couple of": 2, "three": 3, "few": 3,
                 "a few": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                 "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_N = r"(\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
# spans counted back from the catalog's last year: "the last 10 years", "the past decade", "older than 20 years"
_LAST_YEARS = re.compile(r"\b(?:last|past)\s+(?:" + _N + r"\s+(years|decades?)|(decade))\b")
_AGE = re.compile(r"\b(older\s+than|more\s+than|over|at\s+least|less\s+than|under|younger\s+than|at\s+most)\s+"
                  + _N + r"\s+(years|decades?)(?:\s+old)?\b")
_RECENT = re.compile(r"\b(?:recent|latest|newest|new\s+(?:releases?|movies?|films?|ones))\b")
# "something new", "anything different": what the user has not seen, which every answer is anyway
_UNSEEN = re.compile(r"\b(?:something|anything)\s+(?:new|different|fresh)\b")
# a turn's years that add to those asked so far ("or the 80s", "the 60s too"), or move from them ("something newer")
_ADDS_YEARS = re.compile(r"^\W*(?:or|(?:and\s+)?also)\b|\b(?:too|as\s+well)\W*$")
_SHIFT_YEARS = re.compile(r"\b(newer|more\s+recent|later|older|earlier)"
                          r"(?=(?:\s*(?:ones?|movies?|films?|stuff|please)\b)*\s*"
                          r"(?:[.,;!?]|$|(?:with|about|but|and|that)\b))")  # not "for older kids"
_OPEN_YEARS = re.compile(r"^\W*(?:(?:or|and)\s+(?:(later|after|newer|up|beyond|on)|(earlier|before|older))|"
                         r"(onwards?|forwards?))\W*$")  # a whole message: "or later"
_OLD = re.compile(r"\b(?:old|older|oldies)\s+(?:movies?|films?|ones)\b")


def parse(message: str, vocab: Vocabulary) -> Constraints:
    """Constraints read from one message with rules over the catalog's vocabulary."""
    text = _NEGATING_IDIOM.sub("not like", " ".join(message.split()))
    text = re.sub(r"\brom[\s-]?coms?\b", "romantic comedy", text, flags=re.IGNORECASE)  # both genres at once
    # "horror-comedy": two genres (a space in place of the hyphen keeps every offset)
    for m in re.finditer(r"\b([a-z]+)-([a-z]+)\b", text.lower()):
        if m.group(1) in vocab.genres and m.group(2) in vocab.genres:
            text = text[:m.end(1)] + " " + text[m.end(1) + 1:]
    low = text.lower()
    used: list[tuple[int, int]] = []  # spans of `low` already read

    def take(span: tuple[int, int]) -> None:
        used.append(span)

    for m in _UNSEEN.finditer(low):
        take(m.span())
    reset, correction = _RESET.search(low), _CORRECTION.search(low)
    out = Constraints(reset=bool(reset), replaces_genres=bool(correction))
    if reset:
        take(reset.span())
    if correction and not set(re.findall(r"[\w']+", correction.group())) <= _FILLER:
        take(correction.span())  # "scratch that", "switch to" are not searched for ("just", "only" may be a title's)
    for pattern, lift in ((_ANY_YEAR, "any_year"), (_ANY_GENRE, "any_genre")):
        for m in pattern.finditer(low):
            setattr(out, lift, True)
            take(m.span())

    # titles in quotes, then after "not like ..." and "like ..." (each clause may list several: "A, B and C")
    for m in _QUOTED.finditer(text):
        ref = vocab.find_title(m.group(1))
        if ref:
            negated = bool(re.search(_UNLIKE + r"\s*$", low[: m.start()])) or _negated(low[: m.start()])
            ref, end = _dated(ref, m.group(1), low, m.end(), vocab)
            _add(out.not_like if negated else out.like, Title(item_id=ref.item_id, title=ref.title))
            take((m.start(), end))
    # "forget Toy Story": no longer liked, nor disliked; also across commas ("forget Good, the Bad and the Ugly, The",
    # "forget toy story, jumanji") and words that end other clauses ("forget Die Hard: With a Vengeance"), up to words
    # that name no title ("forget Toy Story, comedy" asks for comedies, "forget toy story from the 90s" the 90s)
    forget = r"\b(?:forget(?:\s+about)?|never\s*mind(?:\s+about)?|drop)\s+(?P<t>[^.;!?]+)"
    for m in re.finditer(forget, low):
        for ref, (a, b) in _forgotten(text[m.start("t"):m.end("t")], vocab):
            _add(out.forget_like, Title(item_id=ref.item_id, title=ref.title))
            take((m.start(), m.start("t") + b))
    for pattern, target in ((_UNLIKE, out.not_like), (_LIKE, out.like)):
        for m in re.finditer(r"\b" + pattern + r"\s+(?P<t>.+?)" + _CLAUSE_END, low):
            if _inside(m.start(), used) or _inside(m.start("t"), used):  # `didn't like "Titanic"`: read as quoted
                continue
            found = _titles_in(text[m.start("t"):m.end("t")], vocab)
            negated = target is out.like and _negated(low[: m.start()])  # "I didn't like Titanic"
            for ref, (a, b) in found:
                ref, end = _dated(ref, text[m.start("t") + a:m.start("t") + b], low, m.start("t") + b, vocab)
                _add(out.not_like if negated else target, Title(item_id=ref.item_id, title=ref.title))
                take((m.start("t") + a, end))
            if found:
                take((m.start(), m.start("t")))
    # "like Inception but not Interstellar", "like Inception and not Interstellar": titles, unless the clause names a
    # genre or a year ("like Toy Story and nothing animated" leaves a genre out)
    if out.like:
        for m in re.finditer(r"(?:\b(?:but|and|or)|,)\s+(?:not|no|nothing)\s+(?P<t>.+?)" + _CLAUSE_END, low):
            clause = m.group("t")
            if _inside(m.start("t"), used) or re.search(_YEAR + r"|\d0'?s\b", clause) or any(
                    re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", clause) for phrase in vocab.genres):
                continue
            for ref, (a, b) in _titles_in(text[m.start("t"):m.end("t")], vocab, cutoff=None):  # no fuzzy guess
                if all(t.item_id != ref.item_id for t in out.like):
                    _add(out.not_like, Title(item_id=ref.item_id, title=ref.title))
                    take((m.start("t") + a, m.start("t") + b))

    # a capital R or G right before a kind of film is a rating too: "R horror", "an R movie"
    kinds = sorted([*vocab.genres, "movie", "movies", "film", "films", "flick", "flicks"], key=len, reverse=True)
    letters = [m for m in re.finditer(r"(?<![\w'-])[RG](?![\w'-])", text)
               if any(re.match(re.escape(k) + r"(?![\w-])", low[m.end():].lstrip()) for k in kinds)]
    for m in sorted([*_RATED.finditer(low), *letters], key=lambda m: m.start()):
        # shown as not filtered, and not searched for ("rated R horror" is horror)
        if not _inside(m.start(), used):
            rating = re.sub(r"[\s-]", "", next((g for g in m.groups() if g), m.group())).upper()
            rating = re.sub(r"(\d+)$", r"-\1", rating)  # "pg13" is PG-13
            _add(out.unfiltered, ("not " if _negated(low[:m.start()]) else "") + "rated " + rating)
            take(m.span())
    for m in [*_WANTING.finditer(low), *_RANKING.finditer(low)]:  # after the titles, which may hold these words
        take(m.span())  # ("I Love You, Man")
    # a greeting or thanks is nothing to search for (nor to replace the conversation's query with); a message that is
    # a title of two words or more is that title ("Hello, Dolly!")
    if len(re.findall(r"[\w']+", low)) < 2 or not vocab.exact_title(text):
        for m in re.finditer(r"[^,.;:!?]+", low):
            if set(re.findall(r"[\w']+", m.group())) <= _PLEASANTRIES:
                take(m.span())

    _years(low, vocab, out, used)

    for phrase in vocab.genres:  # "horror is fine", "I'm ok with horror": lifts "no horror", asks for nothing
        for m in re.finditer(r"(?<!\w)(?:" + re.escape(phrase) + r"(?:\s+(?:is|are|would\s+be)|'s)"
                             r"(?P<not>\s*n't|\s+not)?\s+(?:fine|ok|okay|alright|all\s+right|allowed|welcome)"
                             r"(?:\s+(?:after\s+all|though))?|(?:ok|okay|fine)\s+with\s+"
                             + re.escape(phrase) + r"|(?:allow|include)\s+" + re.escape(phrase) + r")(?![\w-])", low):
            if not _inside(m.start(), used):  # "horror isn't ok", "I'm not ok with horror": left out
                refused = m.group("not") or _negated(low[: m.start()])
                _add(out.not_genres if refused else out.allow_genres, vocab.genres[phrase])
                take(m.span())
    for m in re.finditer(r"\bfor\s+(?:adults|grown[\s-]?ups)\b|\b(?:adult|grown[\s-]?up)\s+(?:movies?|films?|ones)\b",
                         low):  # "for adults": no children's films
        if not _inside(m.start(), used) and "children" in vocab.genres:
            _add(out.genres if _negated(low[: m.start()]) else out.not_genres, vocab.genres["children"])
            take(m.span())
    for m in re.finditer(r"\blive[\s-]action\b", low):  # "live action" is no action film: it is not animated
        if not _inside(m.start(), used) and "animation" in vocab.genres:
            _add(out.genres if _negated(low[: m.start()]) else out.not_genres, vocab.genres["animation"])
            take(m.span())
    # genre words and phrases, longest first; negated when a negator comes just before (or "non-")
    genre_words = frozenset(w for phrase in vocab.genres for w in re.findall(r"[\w']+", phrase))
    named = []  # (start, end, genre, "non-" before it, negated)
    for phrase in sorted(vocab.genres, key=len, reverse=True):
        for m in re.finditer(r"(?<!\w)" + re.escape(phrase) + r"(?:(?![\w-])|-free\b)", low):
            if _inside(m.start(), used):
                continue
            degree = re.search(r"(?:\bnot\s+(?:(?:too|that)\s+much|too|so|very|overly|that|super|(?:quite\s+)?as)|"
                               r"\b(?:(?:a\s+(?:bit|little)|much)\s+)?less)\s+$", low[: m.start()])
            dropping = _DROPPING.search(low[: m.start()])
            if dropping:  # "forget horror": no longer asked for, nor left out
                _add(out.allow_genres, vocab.genres[phrase])
                take((dropping.start(), m.end()))
                continue
            if degree:  # "not too scary", "not as scary", "a bit less scary", "not too much horror": a degree, not
                take((degree.start(), m.end()))  # a genre left out
                continue
            # "non-horror" and "horror-free" negate their own word only
            prefixed = low[max(0, m.start() - 4): m.start()] == "non-" or m.group().endswith("-free")
            negated = prefixed or _negated(low[: m.start()], genre_words)
            named.append((m.start(), m.end(), vocab.genres[phrase], prefixed, negated))
            take((m.start() - 4 if low[max(0, m.start() - 4): m.start()] == "non-" else m.start(), m.end()))
    corrected = 0  # where the message's last correction of its own genres ends
    for m in _CORRECTED.finditer(low):
        wanted = [n for n in named if not n[4]]
        if not _inside(m.start(), used) and any(n[0] >= m.end() for n in wanted) and \
                any(n[0] < m.start() for n in wanted):  # "Love Actually" is a title, read already
            named = [n for n in named if n[0] >= m.end() or n[4]]
            take(m.span())
            corrected = m.end()
    # "anything but romantic comedies": genres named together are left out together, which the filters cannot say
    # (they leave out items of any genre named); the first alone is left out, and the rest is not asked for
    together = set()  # where genres named right after a negated one start ("non-" negates its own word only)
    for before, this in zip(sorted(named), sorted(named)[1:]):
        if not low[before[1]:this[0]].strip() and (before[0] in together or before[4] and not before[3]):
            together.add(this[0])
    for start, _, genre, _, negated in named:  # in the order read: the longest phrase first
        target = out.not_genres if negated else out.genres
        if start not in together and genre not in target:
            target.append(genre)
    both = [g for g in out.not_genres if g in out.genres]
    if both and len(both) < len(out.not_genres):  # "comedies, except romantic comedies": the romances go
        out.not_genres = [g for g in out.not_genres if g not in both]
    out.genres = [g for g in out.genres if g not in out.not_genres]
    # "a horror comedy", "romantic comedies": both at once; "westerns or war films": either
    alternatives = re.search(r"\b(?:or|either|and/or)\b|/", low[corrected:])
    out.every_genre = len(out.genres) > 1 and not alternatives
    # a later turn's genres narrow the films asked so far when said so ("but funny", "with some romance") or only
    # described ("funny ones", "scary too"); they are alternatives when joined with "or", or named ("comedies")
    described = all(low[start:end] in GENRE_ADJECTIVES for start, end, _, _, negated in named if not negated)
    out.refines_genres = bool(out.genres) and not alternatives and bool(_REFINING.match(low) or described and set(
        re.findall(r"[\w'-]+", "".join(" " if _inside(i, used) else ch for i, ch in enumerate(low)))) <= _DESCRIBING)
    if out.refines_genres and correction and re.fullmatch(r"make (?:it|them)", correction.group()) and described:
        out.replaces_genres = False  # "make it funny" narrows; "make it a comedy" corrects

    rest = "".join(ch if not _inside(i, used) else " " for i, ch in enumerate(text))
    words, said = [], []  # said: every word not negated, filler too (titles have "the", "of")
    unsaid: list[list[str]] = []  # the words after each negator, up to the end of its clause
    negating = False
    for token in re.findall(r"[\w'-]+|[,.;:!?]", rest):
        low_token = token.lower()
        if low_token in _NEGATORS or low_token.endswith("n't"):
            negating = True  # "without violence" must not search for violence: what follows is left out
            unsaid.append([])
        elif not token[0].isalnum() and token[0] not in "'-" or low_token == "but":
            negating = False
        elif negating:
            unsaid[-1].append(token)
        else:
            said.append(low_token)
            if low_token not in _FILLER and not token.isdigit():
                words.append(token)
    out.query = " ".join(words) or None
    # what is left names a title on its own ("star wars", "the godfather from the 70s"): more like it; a negated
    # one ("not star wars", "like Inception but not Interstellar"): less like it
    if not out.like and not out.not_like:
        written = all(w[0].isupper() for w in words) and not all(w.isupper() for w in words)  # "Date Night"
        topic = all(w.lower() in _TOPIC_WORDS for w in words) and not written
        ref = _bare_title(said, vocab) if words and not topic else None
        year = out.year_min if out.year_min is not None and out.year_min == out.year_max else None
        before = ref and year and re.search(r"([\w']+)\s*(?:\(\s*|(?:from|of|in)\s+)" + str(year) + r"\b", low)
        dated = before and before.group(1) in said and before.group(1) not in _FILLER and \
            vocab.version(ref, year, " ".join(said))
        if dated:  # "king kong from 1933": that year's King Kong, as "like King Kong from 1933" is, not its years
            ref, out.year_min, out.year_max = dated, None, None
        if ref:
            out.like, out.query = [Title(item_id=ref.item_id, title=ref.title)], None
    series_of: dict[str, tuple[str, list] | None] = {}
    for run in unsaid:
        ref = _bare_title([w.lower() for w in run], vocab)
        if ref:
            if all(t.item_id != ref.item_id for t in out.like):
                _add(out.not_like, Title(item_id=ref.item_id, title=ref.title))
            continue
        # what else a negation governs is never searched for: a series' name leaves out its every title ("not
        # batman", "nothing with batman"); anything else, a person ("no Hugh Grant"), a topic ("without violence"), is
        # shown as not filtered rather than dropped silently, as said ("not Hugh Grant or Julia Roberts", "not black
        # and white"), but for the series' names among it ("no batman or superman": both series)
        unresolved: list[str] = []
        for part in re.split(r"\s+(?=(?:and|or|nor)\s)", " ".join(run), flags=re.IGNORECASE):
            joiner, _, words = part.partition(" ") if re.match(r"(?:and|or|nor)\s", part, re.I) else ("", "", part)
            named = [w for w in words.split() if w.lower() not in _NOT_A_NAME]
            name = " ".join(named).lower()
            if name not in series_of:  # a long message may refuse one name many times: looked up once
                series_of[name] = vocab.series_holding(name) if named else None
            series = series_of[name]
            liked = {t.item_id for t in out.like}
            if series and all(s.name != series[0] for s in out.not_series):
                out.not_series.append(Series(name=series[0], items=[Title(item_id=r.item_id, title=r.title)
                                                                    for r in series[1] if r.item_id not in liked]))
            elif named and not series:
                unresolved += ([joiner.lower()] if unresolved and joiner else []) + named
        if unresolved and len(out.unfiltered) < MAX_UNFILTERED:
            _add(out.unfiltered, "not " + " ".join(unresolved))
    return out


def _bare_title(said: list[str], vocab: Vocabulary):
    """The title that the words left over name, two words at least, never by a fuzzy match (so that "a heist
    movie" is not Heist (2001) and "space opera" is searched as words): the words without the filler around them
    ("the godfather" keeps its article) exactly or as the start of a series; else with filler words around them
    that belong to an exact title ("love actually", "good will hunting"), never words of the request itself nor
    only "movie" ("a superhero movie" is not Superhero Movie). A year after them that is not part of the title
    picks that year's item of the name: "king kong (1933)"."""
    ref = _bare_title_words(said, vocab)
    content = [i for i, w in enumerate(said) if w not in _FILLER]
    if ref or len(content) < 2 or not re.fullmatch(_YEAR, said[content[-1]]):
        return ref
    ref = _bare_title_words(said[:content[-1]] + said[content[-1] + 1:], vocab)
    return ref and vocab.version(ref, int(said[content[-1]]), " ".join(said[:content[-1]]))


def _bare_title_words(said: list[str], vocab: Vocabulary):
    content = [i for i, w in enumerate(said) if w not in _FILLER]
    if not content:
        return None
    start, end = content[0], content[-1] + 1
    phrases = ([(start - 1, end)] if start and said[start - 1] in ("the", "a", "an") else []) + [(start, end)]
    for a, b in phrases:  # with its article first; the start of a series only from two words past it
        if b - a >= 2:
            words = " ".join(said[a:b])
            ref = vocab.find_title(words, cutoff=None) if b - start >= 2 else vocab.exact_title(words)
            if ref:
                return ref
    spans = sorted(((a, b) for a in range(start + 1) for b in range(end, len(said) + 1)
                    if b - a >= 2 and not _ASKING.intersection(said[a:b])
                    and not set(said[a:start] + said[end:b]) <= _KIND_OF_FILM), key=lambda s: s[1] - s[0])
    for a, b in spans:  # the fewest filler words first
        ref = vocab.exact_title(" ".join(said[a:b]))
        if ref:
            return ref
    return None


def _dated(ref, said: str, low: str, end: int, vocab: Vocabulary):
    """The title and where its words end, with the year right after it ("like Titanic 1953", "like Titanic from
    1953") picking that year's item of the name when the catalog has one; the year is then the title's, not a year
    range. Without such an item the year is left to be read as years."""
    m = _TITLE_YEAR.match(low, end)
    other = m and vocab.version(ref, int(m.group(1) or m.group(2)), said)
    return (other, m.end()) if other else (ref, end)


def _add(values: list, value) -> None:
    if value not in values:
        values.append(value)


def _inside(i: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= i < b for a, b in spans)


def _negated(before: str, skip: frozenset[str] = frozenset()) -> bool:
    """Whether what comes next is negated by the end of `before`: a negator ("no", "without", "hate", "anything
    but", ...) within a few filler words, in the same clause (punctuation ends it). Words in `skip` are stepped
    over: other genres, so that "no horror or sci-fi" negates both."""
    clause = re.sub(r"\bnon-[\w']+", " ", re.split(r"[,.;:!?]", before)[-1])  # "non-" negates its own word only
    if _NEGATING_PHRASE.search(clause):
        return True
    words = re.findall(r"[\w']+", clause)
    for word in reversed(words[-8:]):
        if word in _NEGATORS or word.endswith("n't"):
            return True
        if word not in _SOFTENERS and word not in skip:
            return False
    return False


def _titles_in(phrase: str, vocab: Vocabulary, cutoff: float | None = 86.0) -> list[tuple[object, tuple[int, int]]]:
    """The catalog titles a clause names, with their spans in it: the whole clause if it is one title, else each
    part of "A, B and C", each the longest run of parts ("Crouching Tiger, Hidden Dragon") or words that is a title;
    a fuzzy match of the whole clause only when its parts name nothing (it would swallow "A and B" whole).
    Filler words alone name nothing: "like it" is not the film It (quoted, "It" is). `cutoff` None: no fuzzy match."""
    whole, length = _title_then_year(phrase, vocab, cutoff=None)
    if whole is None and phrase.strip() and phrase.strip().lower() not in _EVERYDAY:  # "like shawshank": the one
        whole, length = vocab.only_title_starting(phrase.strip()), len(phrase)  # title it starts, the whole clause
    if whole:
        return [(whole, (0, length))]
    parts = [(m.start() + len(m.group()) - len(m.group().lstrip()), m.end())
             for m in re.finditer(r"[^,]+?(?=\s*(?:,|\band\b|\bor\b|$))", phrase) if m.group().strip()]
    found, i = [], 0
    while i < len(parts):
        for j in range(min(len(parts), i + 4) - 1, i, -1):  # a title with commas spans parts i..j
            ref, length = _title_then_year(phrase[parts[i][0]:parts[j][1]], vocab, cutoff=None)
            if ref:
                found.append((ref, (parts[i][0], parts[i][0] + length)))
                i = j + 1
                break
        else:
            start, end = parts[i]
            if re.match(r"(?:and|or)\s+(?:not|no|nothing|never|none)\b", phrase[start:end]):
                i += 1  # "like Inception and not Interstellar": not a title asked for (read as "but not" is)
                continue
            lead = re.match(r"(?:(?:and|or)\s+(?:" + _UNLIKE + r"\s+|" + _LIKE + r"\s+)?)?", phrase[start:end])
            start += lead.end()
            words = phrase[start:end].split()[:MAX_WORDS_IN_TITLE]
            if _title_then_year(" ".join(words), vocab, cutoff=None)[1] < len(" ".join(words)):
                words = words[:-1]  # "the lion king 1994": the title, then its year (_dated), not "Lion King 1½"
            for n in range(len(words), 0, -1):
                if vocab.names_missing_sequel(" ".join(words[:n])):
                    break  # "like toy story 4": no such item, and not Toy Story either
                ref = _title(" ".join(words[:n]), vocab, cutoff)
                if ref:
                    found.append((ref, (start, start + len(" ".join(words[:n])))))
                    break
            i += 1
    # a misspelt title with "and" in it ("Harry Poter and ...")
    whole = None if found else _title(phrase, vocab, cutoff)
    return [(whole, (0, len(phrase)))] if whole else found


def _forgotten(clause: str, vocab: Vocabulary) -> list[tuple[object, tuple[int, int]]]:
    """The titles after "forget", with their spans: those the clause starts with, joined by commas, "and" or "or"
    ("toy story, jumanji"); a title may have commas in it ("Good, the Bad and the Ugly, The"). The first words that
    name no title end them: "forget Toy Story, comedy" asks for comedies."""
    found, at = [], 0
    for ref, (a, b) in _titles_in(clause, vocab, cutoff=None):
        if not re.fullmatch(r"[\s,]*(?:(?:and|or)\s+)?", clause[at:a], re.IGNORECASE):
            break
        found.append((ref, (a, b)))
        at = b
    return found


def _title_then_year(phrase: str, vocab: Vocabulary, cutoff: float | None = 86.0):
    """The title a phrase names and how many of its characters name it: the whole phrase ("blade runner 2049"), else
    the phrase without a year that ends it ("the lion king 1994", whose year then picks the version: `_dated`), so
    that the year is never fuzzy-matched as part of a title ("Lion King 1½", "Halloween 8")."""
    ref = _title(phrase, vocab, cutoff)
    year = None if ref else re.search(r"\s+" + _YEAR + r"\s*$", phrase)
    if year and phrase[:year.start()].strip():
        return _title(phrase[:year.start()], vocab, cutoff), year.start()
    return ref, len(phrase)


def _title(phrase: str, vocab: Vocabulary, cutoff: float | None = 86.0):
    words = re.findall(r"[\w']+", phrase)
    if all(w.lower() in _EVERYDAY for w in words):  # "like it" is no title, "like The Thing" and "like Get Out" are
        capitalized = len(words) >= 2 and all(w[0].isupper() for w in words if len(w) > 3 or w == words[0])
        return vocab.exact_title(phrase) if capitalized and not phrase.isupper() else None
    return vocab.find_title(phrase, cutoff=cutoff)


def _years(low: str, vocab: Vocabulary, out: Constraints, used: list[tuple[int, int]]) -> None:
    """The year range a message asks for; a negated one turns around ("nothing before 2000" is 2000 on, "not from
    the 90s" leaves the 1990s out). Contradictory bounds ("after 2010 and before 2000") ask for nothing."""
    def matches(pattern: re.Pattern) -> list[re.Match]:
        """The pattern's matches that overlap nothing read already ("not 2005 to 2007" is not "not 2005" again)."""
        found = [m for m in pattern.finditer(low) if not any(a < m.end() and m.start() < b for a, b in used)]
        used.extend(m.span() for m in found)
        return found

    def negated(m: re.Match | int) -> bool:
        return _negated(low[: m if isinstance(m, int) else m.start()])

    def years(m: re.Match | int, a: int, b: int) -> None:
        if negated(m):
            out.not_years = (a, b)
        else:
            out.year_min, out.year_max = a, b

    def bound(at: int, word: str, first: int, last: int) -> None:
        """One side of the range from a bound word and the years it names ("before the 80s": up to 1979); negated,
        the other side ("nothing before 1980": 1980 on)."""
        word = " ".join(word.split())
        if re.fullmatch(r"before|pre|older than|earlier than", word):
            upper, year = True, first - 1
        elif re.fullmatch(r"after|post|newer than|later than", word):
            upper, year = False, last + 1
        else:  # the bound's own years are in: "up to 1980", "since the 80s", "1980 or earlier"
            upper = bool(re.match(r"until|till|up |to|through|thru|at most|(?:and|or) (?:earlier|before|older)", word))
            year = last if upper else first
        if negated(at):
            upper, year = not upper, year + 1 if upper else year - 1
        if upper:
            out.year_max = year
        else:
            out.year_min = year

    def span(count: str | None, unit: str) -> int:  # "10 years", "two decades", "a decade": in years
        n = int(count) if count and count.isdigit() else _NUMBER_WORDS[count] if count else 1
        return 10 * n if unit.startswith("decade") else n

    def full(year: str) -> int:  # "'99" is 1999, "'05" 2005 if the catalog reaches it (as "the 20s" is read)
        if not year.startswith("'"):
            return int(year)
        recent = 2000 + int(year[1:])
        return recent if vocab.max_year is not None and recent <= vocab.max_year else recent - 100

    def decade(d: int) -> int:  # "the 20s": the 2020s if the catalog reaches them, else the 1920s
        start = 2000 + 10 * d if d <= 2 else 1900 + 10 * d
        return start - 100 if start >= 2020 and vocab.max_year is not None and start > vocab.max_year else start

    for m in _YEARS_FINE.finditer(low):  # "the 90s are fine": years no longer left out; "aren't ok": left out
        group = "what" if m.group("what") else "with"
        said, said_used = Constraints(), []
        _years(m.group(group), vocab, said, said_used)
        # the years right before the words ("the late 90s are fine"), or right after "ok with" ("ok with the 90s"),
        # not those of a film that is ok ("a movie from 1995 that is ok")
        next_to = said_used and (max(b for _, b in said_used) == len(m.group("what").rstrip()) if group == "what"
                                 else min(a for a, _ in said_used) <= len("the "))
        if next_to and said.year_min is not None and said.year_max is not None and not said.not_years:
            if m.group("not") or _negated(low[:m.start()]):
                out.not_years = (said.year_min, said.year_max)
            else:
                out.allow_years = (said.year_min, said.year_max)
            used.extend((m.start(group) + a, m.start(group) + b) for a, b in said_used)
            used.append((m.end(group), m.end()) if group == "what" else (m.start(), m.start(group)))
    to_now = matches(_TO_NOW)[:1]  # read first, so that "from 1990 to now" is not "from 1990"; applied last
    for m in matches(_BETWEEN) + matches(_SPAN):
        around = re.search(r"\b" + _APPROX + r"\s*$", low[:m.start()])
        if around:  # "around 1960 to 1970": the span as said
            used.append(around.span())
        first, last = int(m.group(1)), int(m.group(2) or m.group(1)[:2] + m.group(3))
        years(m, *sorted((first, last + 100 if last < first and m.group(3) else last)))  # "1995-05": up to 2005
    for m in matches(_SHORT_SPAN):
        first, last = full("'" + m.group(1)), full("'" + m.group(2))
        if first <= last:  # not "from 95 to 90"
            years(m, first, last)
    for m in matches(_AROUND_YEAR):
        year = full(m.group(1) or m.group(3) or "'" + m.group(2))
        years(m, year - APPROX_YEARS, year + APPROX_YEARS)
    decades = sorted([(m, int(m.group(1)) * 10) for m in matches(_DECADE4)] +
                     [(m, decade(int(m.group(1)))) for m in matches(_DECADE2)] +
                     [(m, decade(_DECADE_WORDS[m.group(1)])) for m in matches(_DECADE_WORD)],
                     key=lambda d: d[0].start())
    groups: list[list[tuple[re.Match, int]]] = []
    for m, start in decades:  # "the 80s or 90s", "60s and 70s", "70s to 90s": one span, negated as its first
        between = low[groups[-1][-1][0].end():m.start()] if groups else ""
        joined = r"\W*(?:or|and|to|through|till|until)?\W*(?:the\s+)?(?:early|mid|late)?\W*"
        if groups and re.fullmatch(joined, between):
            used.append((groups[-1][-1][0].end(), m.start()))
            groups[-1].append((m, start))
        else:
            groups.append([(m, start)])
    for group in groups:
        spans, parts = [], []  # "early 90s": 1990-1993, "late 80s to early 90s": 1986-1993
        for m, start in group:
            part = _PART_OF_DECADE.search(low[:m.start()])
            # "the 1800s" is the century, as is "the 1900s"; "the 2000s" is said of the decade
            width = 100 if m.re is _DECADE4 and start % 100 == 0 and start < 2000 else 10
            a, b = start, start + width - 1
            if part:
                used.append(part.span())
                third = width * 3 // 10
                a, b = {"early": (a, a + third), "mid": (a + third, a + 2 * third), "late": (a + 2 * third, b)}[
                    part.group(1)]
            spans.append((a, b))
            parts.append(part)
        first, last = min(a for a, _ in spans), max(b for _, b in spans)
        at = parts[0].start() if parts[0] else group[0][0].start()  # "not from the early 90s": negated before "early"
        around = _AROUND_DECADE.search(low[:at])
        if around:  # not searched for
            used.append(around.span())
            at = around.start()
        lead, trail = _BOUND_DECADE.search(low[:at]), _DECADE_BOUND.match(low, group[-1][0].end())
        if trail and trail.group(2) and not re.search(r"\bfrom\s+(?:the\s+)?$", low[:at]):
            trail = None  # "on" alone is a bound after "from" only ("from the 80s on")
        if lead and lead.group(1):  # "before the 90s", "up to the 80s"
            used.append(lead.span())
            bound(lead.start(), lead.group(1), first, last)
        elif trail:  # "the 80s onwards", "the 80s or earlier"
            used.append(trail.span())
            bound(at, trail.group(1) or trail.group(2), first, last)
        else:
            if lead:  # "between the 70s and the 90s"
                used.append(lead.span())
            years(at, first, last)
    for m in matches(_LAST_YEARS) if vocab.max_year else []:
        first = vocab.max_year - span(m.group(1), m.group(2) or m.group(3)) + 1
        if negated(m):
            out.year_max = first - 1
        else:
            out.year_min = first
    for m in matches(_AGE) if vocab.max_year else []:
        last = vocab.max_year - span(m.group(2), m.group(3))  # "older than 20 years": before the last 20
        young = m.group(1) in ("less than", "under", "younger than", "at most")
        if young != negated(m):  # "no older than 15 years": the last 15
            out.year_min = last + 1
        else:
            out.year_max = last
    for m in matches(_BOUND_YEAR):  # "after 1980", "up to 1980"
        bound(m.start(), m.group(1), full(m.group(2)), full(m.group(2)))
    for m in matches(_YEAR_BOUND):  # "1980 onwards", "1980 or earlier", "from 1980 on"
        year = int(m.group(1) or m.group(3))
        bound(m.start(), m.group(2) or m.group(4), year, year)
    # "the 90s but not 1995"; years joined are one span, as decades are: "2000 or 2001", "not 1995 or 1996"
    for m in matches(_NOT_YEAR) + matches(_YEAR_LIST):
        listed = [int(year) for year in re.findall(_YEAR, m.group())]
        years(m.start(1), min(listed), max(listed))  # negated by what comes before its first year
    for m in matches(_THIS_DECADE)[:1] if vocab.max_year else []:  # the decade of the catalog's last year
        years(m, vocab.max_year // 10 * 10, vocab.max_year)
    for m in matches(_THIS_YEAR)[:1]:  # the catalog's last year stands for "this year", the one before for "last"
        if vocab.max_year:
            out.year_min = out.year_max = vocab.max_year - (m.group(1) == "last")
    for m in matches(_IN_YEAR):  # "from 1995"; "the 90s but not from 1995" leaves one year out of the range
        year = full(m.group(1))
        if negated(m):
            out.not_years = (year, year)
        elif out.year_min is None and out.year_max is None and not out.not_years:
            out.year_min = out.year_max = year
        elif m.group().startswith("from") and out.year_min is None and out.year_max is not None:
            out.year_min = year  # "from 1970 up to 1980"
    if out.year_min is None and out.year_max is None:  # a bare year: "a 1985 comedy", "horror 1985", not a title's
        kinds = [*vocab.genres, "movie", "movies", "film", "films", "flick", "flicks"]  # ("Blade Runner 2049")
        for m in _BARE_YEAR.finditer(low):
            before, after = re.findall(r"[\w'-]+", low[:m.start()])[-1:], low[m.end():].lstrip()
            if _inside(m.start(), used):
                continue
            if any(re.match(re.escape(kind) + r"(?![\w-])", after) for kind in kinds) or \
                    after[:1] in ("", ",", ".", ";", "!", "?") and (not before or before[0] in _FILLER or any(
                        re.search(r"(?<![\w-])" + re.escape(kind) + r"$", low[:m.start()].rstrip()) for kind in kinds)):
                used.append(m.span())
                years(m, int(m.group(1)), int(m.group(1)))
                break
    shift = _OPEN_YEARS.search(low) or \
        next((m for m in _SHIFT_YEARS.finditer(low) if not _inside(m.start(), used)), None)
    if shift and shift.re is _OPEN_YEARS:  # the years so far and any later, or earlier (merge)
        out.shift_years = "or earlier" if shift.group(2) else "or later"
    elif shift and out.year_min is None and out.year_max is None and not negated(shift):
        # than the years so far, if any (merge)
        out.shift_years = "older" if shift.group(1) in ("older", "earlier") else "newer"
    for m in matches(_ADDS_YEARS):  # "or the 60s too"; "comedies too" adds genres, as any genre does
        out.adds_years = out.year_min is not None or out.year_max is not None
    for m in matches(_RECENT)[:1]:
        if vocab.max_year:
            if negated(m):
                out.year_max = vocab.max_year - 6
            else:
                out.year_min = vocab.max_year - 5
    m = _OLD.search(low)
    if m and not _inside(m.start(), used):
        if negated(m):
            out.year_min = 1980
        else:
            out.year_max = 1979
        used.append((m.start(), m.start() + len(m.group().split()[0])))
    if out.shift_years:  # "more recent", "older movies" are also years of their own, for a conversation without any
        used.append(shift.span())
    for m in to_now if vocab.max_year else []:  # "the 90s to now": from what was read, up to the catalog's last year
        if m.group(1):
            years(m, int(m.group(1)), vocab.max_year)
        elif not negated(m):
            out.year_max = vocab.max_year
    if out.year_min is not None and out.year_max is not None and out.year_min > out.year_max:
        out.year_min = out.year_max = None
