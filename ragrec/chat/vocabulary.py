"""The catalog's own words, for reading chat messages: its genre values and its titles.

Genres come from the payload field's facet (with English forms of the common ones: "animated" is Animation, "scary"
is Horror); titles are matched fuzzily (rapidfuzz) after the catalog's quirks are undone: "Bug's Life, A (1998)" is
found as "a bug's life".
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from ragrec.config import Settings
from ragrec.schema import ITEM_ID, POPULARITY
from ragrec.store import StoreError, VectorStore

# English forms of common genre names; used only for genres the catalog actually has
SYNONYMS: dict[str, tuple[str, ...]] = {
    "animation": ("animated", "animations", "cartoon", "cartoons", "anime"),
    "children": ("kids", "kid", "children's", "childrens", "family", "families"),
    "comedy": ("comedies", "funny", "comedic", "hilarious", "humor", "humour"),
    "horror": ("scary", "horrors", "frightening", "creepy"),
    "sci-fi": ("sci fi", "scifi", "science fiction", "science-fiction", "sf"),
    "romance": ("romantic", "romances", "love story", "love stories", "romcom", "rom-com"),
    "documentary": ("documentaries", "docs", "doc"),
    "thriller": ("thrillers", "suspense", "suspenseful"),
    "western": ("westerns", "cowboy", "cowboys"),
    "musical": ("musicals",),
    "film-noir": ("noir", "film noir"),
    "mystery": ("mysteries", "whodunit", "detective"),
    "drama": ("dramas", "dramatic"),
    "action": ("action-packed",),
    "adventure": ("adventures",),
    "fantasy": ("fantasies", "fairy tale", "fairy tales"),
    "war": ("wartime",),
    "crime": ("crimes", "true crime"),
}

# genre words that describe rather than name ("but funny", "scary ones"): said alone in a later turn, they narrow the
# films asked for so far, where a genre's name ("comedies") adds to them
GENRE_ADJECTIVES = {"animated", "funny", "comedic", "hilarious", "scary", "frightening", "creepy", "romantic",
                    "suspenseful", "dramatic", "action-packed"}

NOT_GENRE_WORDS = {"wars"}  # "star wars" is a title, not war films

_YEAR = re.compile(r"\s*\((\d{4})[^)]*\)\s*$")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an) ")
_ARTICLE = re.compile(r"^(.*), (the|a|an|les|la|le|el|il|der|die|das)$", re.IGNORECASE)


_ORDINALS = {**{r: i for i, r in enumerate("i ii iii iv v vi vii viii ix x".split(), 1)},
             **{w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), 1)},
             **{w: i for i, w in enumerate("first second third fourth fifth sixth".split(), 1)},
             **{str(i): i for i in range(1, 21)}}
# "godfather 2", "rocky iv", "the godfather part two": a series' number after its name
_SEQUEL = re.compile(r"(.+?) (?:part |episode )?(" + "|".join(_ORDINALS) + ")")


def _id_order(item_id: str) -> tuple[int, int | str]:
    """Item ids in the order a catalog gave them: numbers by value ("999" before "1000"), then any others."""
    return (0, int(item_id)) if item_id.isdigit() else (1, item_id)


def _names(key: str) -> list[str]:
    """The names a normalized phrase may stand for, its article left out: "matrix" is also "the matrix"."""
    return [key, "the " + key, "a " + key, "an " + key]


def normalize_title(title: str) -> str:
    """'Bug's Life, A (1998)' -> "a bug's life": no year, the article in front, lower case, single spaces, "&" as
    "and" ("Fast & Furious" is asked for as "fast and furious"), without accents ("Léon" is "leon", as "amélie" is
    "amelie") and a hyphen inside a word as a space ("WALL-E" is "wall e", as "WALL·E" is)."""
    text = _YEAR.sub("", title).strip()
    m = _ARTICLE.match(text)
    if m:
        text = f"{m.group(2)} {m.group(1)}"
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text.lower().replace("&", " and "))
    return " ".join(re.sub(r"[^\w' :-]", " ", text).split())


def title_keys(title: str) -> list[str]:
    """Every name a catalog title answers to: "Seven (a.k.a. Se7en) (1995)" is "seven", "se7en" and the whole;
    "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)" is "amelie" too; a subtitle of two words or more is
    one ("the empire strikes back"); each also without its colons and dashes ("mission impossible"). Only the
    parentheses that end a title hold other names: "Evangelion: 3.0 You Can (Not) Redo" is not also "not"."""
    base = _YEAR.sub("", title).strip()
    others = re.search(r"(?:\s+\([^()]*\))+$", base)
    names = [base, base[:others.start()] if others else base]
    names += [re.sub(r"^(?:a\.k\.a\.|aka)\s+", "", alt, flags=re.I)
              for alt in re.findall(r"\(([^)]*)\)", others.group() if others else "")]
    keys = [normalize_title(n) for n in names]
    subtitle = re.split(r": | - ", keys[1])[-1]  # "star wars: episode v - the empire strikes back"
    if len(subtitle.split()) >= 2:
        keys.append(subtitle)
    keys += [" ".join(re.sub(r"[:-]", " ", k).split()) for k in keys]  # typed without them: "2001 a space odyssey"
    return [k for k in dict.fromkeys(keys) if k]


@dataclass(frozen=True)
class TitleRef:
    item_id: str
    title: str


@dataclass
class Vocabulary:
    genres: dict[str, str] = field(default_factory=dict)  # a word or phrase -> the catalog's genre value
    titles: list[str] = field(default_factory=list)  # normalized titles, parallel to refs and ranks
    refs: list[TitleRef] = field(default_factory=list)
    ranks: list[tuple[int, int]] = field(default_factory=list)  # (popularity, year) of each title
    max_year: int | None = None
    # normalized title -> year -> the item of that name from that year ("Titanic" from 1953, not only the best known)
    versions: dict[str, dict[int, TitleRef]] = field(default_factory=dict)

    @classmethod
    def from_store(cls, store: VectorStore, settings: Settings) -> Vocabulary:
        vocab = cls()
        items = settings.items_collection
        try:
            values = store.facet(items, settings.chat_genre_field, limit=1000)
        except StoreError:  # no keyword index on the field: no genres to read
            values = {}
        for value in values:
            vocab.add_genre(str(value))
        rows = []
        for record in store.scroll(items, payload=[ITEM_ID, settings.chat_title_field, settings.chat_year_field,
                                                   POPULARITY]):
            title = record.payload.get(settings.chat_title_field)
            year = record.payload.get(settings.chat_year_field)
            if isinstance(year, int) and (vocab.max_year is None or year > vocab.max_year):
                vocab.max_year = year
            if isinstance(title, str) and title.strip():
                rows.append((record.payload[ITEM_ID], title, record.payload.get(POPULARITY) or 0,
                             year if isinstance(year, int) else None))
        vocab.set_titles(rows)
        return vocab

    def set_titles(self, rows: Iterable[tuple[str, str, int, int | None]]) -> None:
        """The catalog's titles from (item id, title, popularity, year) rows: a name shared by several items means
        the most popular one (then the newest), and each year's item of a name is kept in `versions`."""
        best: dict[str, tuple[tuple[int, int], TitleRef]] = {}
        best_of_year: dict[tuple[str, int], tuple[int, int]] = {}  # the rank of each version kept
        self.versions = {}
        for item_id, title, popularity, year in rows:
            rank, ref = (popularity or 0, year or 0), TitleRef(item_id=item_id, title=title)
            for key in title_keys(title):
                if key not in best or rank > best[key][0]:
                    best[key] = (rank, ref)
                if year and ((key, year) not in best_of_year or rank > best_of_year[key, year]):
                    best_of_year[key, year] = rank
                    self.versions.setdefault(key, {})[year] = ref
        self.titles = list(best)
        self.ranks = [rank for rank, _ in best.values()]
        self.refs = [ref for _, ref in best.values()]

    def add_genre(self, value: str) -> None:
        low = value.lower()
        forms = {low, low.replace("-", " "), low.replace("-", ""), low + "s"}
        forms |= set(SYNONYMS.get(low, ()))
        for form in forms - NOT_GENRE_WORDS:
            self.genres.setdefault(form, value)

    def find_title(self, phrase: str, cutoff: float | None = 86.0) -> TitleRef | None:
        """The catalog item a phrase names: an exact normalized title, whose article may be left out ("matrix");
        else, for a phrase of two words or more, the most popular title it begins, the first of a series on a tie
        ("star wars" -> "Star Wars: Episode IV - A New Hope (1977)"), also when numbered as the first of its series
        ("toy story 1"); else the closest title by fuzzy score, or the closest start of titles, as a series ("harry
        poter"; `cutoff` None: no fuzzy match). A phrase made only of genre words names no title ("action" is a
        genre, not Action Jackson). A year in parentheses after it, as the catalog writes one, picks that year's item
        of the name: "Titanic (1953)"."""
        return self._of_year(self._find_title(phrase, cutoff), phrase)

    def _find_title(self, phrase: str, cutoff: float | None) -> TitleRef | None:
        key = normalize_title(phrase)
        if not key or not self.titles or key in self.genres or all(w in self.genres for w in key.split()):
            return None
        for name in _names(key):  # "like matrix": The Matrix
            if name in self._index:
                return self._best_known(name)
        if len(key.split()) >= 2:  # the most popular title it begins; the first of a series on a tie
            starts = [i for i in self._starting(key) if not self.titles[i][len(key)].isalnum()]
            if starts:
                return self.refs[max(starts, key=lambda i: (self.ranks[i][0], -self.ranks[i][1]))]
        sequel = _SEQUEL.fullmatch(key)
        if sequel and self._find_title(sequel.group(1), None):  # "toy story 1", "godfather 2", "rocky iv"
            return self._nth(sequel.group(1), _ORDINALS[sequel.group(2)])  # none: never the first by a guess
        if cutoff is None:
            return None
        found = process.extractOne(key, self.titles, scorer=fuzz.ratio, score_cutoff=cutoff)
        if found:
            return self.refs[found[2]]
        words = _LEADING_ARTICLE.sub("", key).split()
        if len(words) < 2:
            return None
        # a misspelt start of titles ("harry poter"), articles left out: as the start of a series, the most popular
        # of the closest
        starts = process.extract(" ".join(words), self._starts(len(words)), scorer=fuzz.ratio, score_cutoff=cutoff,
                                 limit=None)
        best = max((score for _, score, _ in starts), default=None)
        closest = [i for _, score, i in starts if score == best]
        return self.refs[max(closest, key=lambda i: (self.ranks[i][0], -self.ranks[i][1]))] if closest else None

    def _nth(self, name: str, n: int) -> TitleRef | None:
        """The `n`th item of the series a name starts: the one numbered so ("the godfather: part ii", "rocky iv"),
        else the `n`th by year of the name itself and its subtitled items ("die hard", "die hard 2", "die hard: with a
        vengeance"; "harry potter and the ..."), from the item of the name on ("rocky horror" is no Rocky film); the
        first of a series is named without its number ("toy story 1" is Toy Story)."""
        series: dict[str, tuple[int, TitleRef, bool]] = {}  # item id -> (year, item, numbered)
        for key in _names(name):
            for i in self._series(key):
                rest = self.titles[i][len(key):]
                # "shrek the third" is 3, "star wars: episode v - the empire strikes back" 5
                number = re.match(r":? (?:(?:part |the )?(\w+)(?=$|:| - )|episode (\w+)\b)", rest)
                number = number and (number.group(1) or number.group(2))
                if _ORDINALS.get(number) == n:
                    return self.refs[i]
                numbered = number in _ORDINALS
                if not rest or re.match(r": | and the ", rest) or numbered:  # not "rocky horror", "toy story of terror"
                    series.setdefault(self.refs[i].item_id, (self.ranks[i][1], self.refs[i], numbered))
        own = next((key for key in _names(name) if key in self._index), None)
        if own is not None:  # counted from the item the name means: "lord of the rings 2" is The Two Towers
            first = self._best_known(own)
            if n == 1:
                return first
            if first != self.refs[self._index[own]]:  # not the 1978 film, less known than the series
                series.pop(self.refs[self._index[own]].item_id, None)
            start = series.get(first.item_id, (0,))[0]
            if not any(numbered for _, _, numbered in series.values()):  # a series the catalog numbers keeps its shapes
                series = self._named_in(name, start) or series
        items = [(ref, numbered) for year, ref, numbered in sorted(series.values(), key=lambda s: s[0])
                 if own is None or year >= start]
        # the nth by year, unless it is numbered otherwise ("rocky 2" without Rocky II is not Rocky IV)
        return items[n - 1][0] if len(items) >= n and not items[n - 1][1] else None

    def _named_in(self, name: str, start: int) -> dict[str, tuple[int, TitleRef, bool]] | None:
        """The items whose titles hold the name as a word group, from the year `start` of the item it means on, in
        release order (in a year of two, the more popular first, then the one the catalog numbered first, as catalogs
        number items as they add them: "the matrix reloaded" before "... revolutions"), for a series
        the catalog names by subtitles only: "x men 2" is X2: X-Men United, "matrix 2" The Matrix Reloaded. None when
        other titles held the name before its item did ("up", "heat": an everyday word, not a series' name)."""
        found = self._holding(name, start)
        if found is None:
            return None
        found.sort(key=lambda i: (self.ranks[i][1], -self.ranks[i][0], _id_order(self.refs[i].item_id)))
        series: dict[str, tuple[int, TitleRef, bool]] = {}
        for i in found:
            if self.ranks[i][1] >= start:
                series.setdefault(self.refs[i].item_id, (self.ranks[i][1], self.refs[i], False))
        return series

    def _holding(self, name: str, start: int) -> list[int] | None:
        """The titles that hold the name as a word group; None if one of them, other than the name's own items, is
        from before the year `start` of the item the name means (a title of unknown year is no evidence)."""
        pattern = re.compile(r"(?<![\w'])" + re.escape(name) + r"(?![\w'])")
        own = set(_names(name))
        words = re.findall(r"[\w']+", name)
        if not words:
            return None
        maybe = set.intersection(*(self._word_index.get(w, set()) for w in words))  # not a scan of every title
        found = sorted(i for i in maybe if pattern.search(self.titles[i]))
        if any(0 < self.ranks[i][1] < start and self.titles[i] not in own for i in found):
            return None
        return found

    def series_holding(self, phrase: str) -> tuple[str, list[TitleRef]] | None:
        """A series' name as the catalog writes it and every item whose title holds it ("batman": "Batman", and
        Batman of 1966 and 1989, Batman Returns, The Lego Batman Movie, ...), for a phrase that is the name of an item
        (its article may be left out) that no earlier title held (see `_holding`): "love" or "up" name no series."""
        key = _LEADING_ARTICLE.sub("", normalize_title(phrase))
        own = next((k for k in _names(key) if k in self._index), None) if key else None
        if own is None or key in self.genres:
            return None
        # the series starts with the earliest item of the name itself, not its best-known title: "batman" is not
        # "Batman: The Killing Joke" (2016) where that is the more popular, and older Batman titles are no evidence
        # against the name
        first = self.refs[self._index[own]]
        start = min(self.versions.get(own, {}), default=self.ranks[self._index[own]][1])
        found = self._holding(key, start)
        if not found:
            return None
        items: dict[str, TitleRef] = {}
        for i in sorted(found, key=lambda i: (self.ranks[i][1], -self.ranks[i][0])):
            for ref in [self.refs[i], *self.versions.get(self.titles[i], {}).values()]:
                items.setdefault(ref.item_id, ref)
        written = re.search(r"\W+".join(map(re.escape, key.split())), first.title, re.IGNORECASE)
        return (written.group() if written else phrase), list(items.values())

    def _series(self, key: str) -> list[int]:
        """The titles that are `key` or start with it and a word or a colon after it."""
        return [i for i in self._starting(key) if len(self.titles[i]) == len(key) or self.titles[i][len(key)] in " :"]

    def names_missing_sequel(self, phrase: str) -> bool:
        """Whether the phrase numbers a series the catalog has no such item of ("toy story 4"): no title, rather
        than the series' first."""
        sequel = _SEQUEL.fullmatch(normalize_title(phrase))
        return bool(sequel and self._find_title(sequel.group(1), None) and self._find_title(phrase, None) is None)

    def _best_known(self, name: str) -> TitleRef:
        """The item of this exact name, or the most popular of the series it starts when one of those is more
        popular: "lord of the rings" is The Fellowship of the Ring (2001), not the 1978 animated film of the name."""
        return self.refs[self._best_known_at(name)]

    def _best_known_at(self, name: str) -> int:
        """Where `_best_known`'s item is in `titles`."""
        i = self._index[name]
        series = self._starting(name + ":")
        best = max(series, key=lambda j: (self.ranks[j][0], -self.ranks[j][1]), default=i)
        return best if self.ranks[best][0] > self.ranks[i][0] else i

    def only_title_starting(self, word: str) -> TitleRef | None:
        """The one catalog item whose title (its article left out) starts with this word, if only one does: "like
        shawshank" is The Shawshank Redemption, while "space" starts too many titles to name one."""
        key = normalize_title(word)
        if len(key) < 5 or " " in key or key in self.genres:
            return None
        found = self._first_words.get(key, {})
        return next(iter(found.values())) if len(found) == 1 else None

    def exact_title(self, phrase: str) -> TitleRef | None:
        """The catalog item whose normalized title is exactly the phrase's (that year's, "Titanic (1953)")."""
        i = self._index.get(normalize_title(phrase))
        return None if i is None else self._of_year(self.refs[i], phrase)

    def version(self, ref: TitleRef, year: int, said: str = "") -> TitleRef | None:
        """The catalog item of the same name as `ref`, or as `said` (what named it), from that year, if there is one:
        Titanic from 1953; "lord of the rings" from 1978, which named The Fellowship of the Ring."""
        for key in title_keys(ref.title) + (_names(normalize_title(said)) if said else []):
            if year in self.versions.get(key, {}):
                return self.versions[key][year]
        return None

    def _of_year(self, ref: TitleRef | None, phrase: str) -> TitleRef | None:
        year = _YEAR.search(phrase)
        return (self.version(ref, int(year.group(1)), phrase) or ref) if ref and year else ref

    @property
    def _word_index(self) -> dict[str, set[int]]:
        """Each word of the titles -> the titles holding it; built once."""
        if self.__dict__.get("_word_index_of") != len(self.titles):
            index: dict[str, set[int]] = {}
            for i, title in enumerate(self.titles):
                for word in re.findall(r"[\w']+", title):
                    index.setdefault(word, set()).add(i)
            self.__dict__["_cached_word_index"], self.__dict__["_word_index_of"] = index, len(self.titles)
        return self.__dict__["_cached_word_index"]

    @property
    def _first_words(self) -> dict[str, dict[str, TitleRef]]:
        """First word (after the article) of every title of two words or more -> the items it starts; built once."""
        if self.__dict__.get("_first_words_of") != len(self.titles):
            starts: dict[str, dict[str, TitleRef]] = {}
            for title, ref in zip(self.titles, self.refs):
                m = re.match(r"(?:(?:the|a|an) )?([^ :]+)(?: |:)", title)
                if m:
                    starts.setdefault(m.group(1), {})[ref.item_id] = ref
            self.__dict__["_cached_first_words"], self.__dict__["_first_words_of"] = starts, len(self.titles)
        return self.__dict__["_cached_first_words"]

    def _starts(self, n: int) -> list[str]:
        """The first `n` words of every title after its article, parallel to `titles`; built once for each `n`."""
        cache = self.__dict__.setdefault("_cached_starts", {})
        if cache.get("of") != len(self.titles):
            cache.clear()
            cache["of"] = len(self.titles)
        if n not in cache:
            cache[n] = [" ".join(_LEADING_ARTICLE.sub("", t).split()[:n]) for t in self.titles]
        return cache[n]

    def _starting(self, prefix: str) -> list[int]:
        """The titles that start with `prefix`, found by bisection in the sorted titles (built once): a long message
        asks for many."""
        if self.__dict__.get("_sorted_of") != len(self.titles):
            order = sorted(range(len(self.titles)), key=self.titles.__getitem__)
            self.__dict__["_sorted"] = ([self.titles[i] for i in order], order)
            self.__dict__["_sorted_of"] = len(self.titles)
        keys, order = self.__dict__["_sorted"]
        lo = bisect_left(keys, prefix)
        hi = bisect_left(keys, prefix + "\U0010ffff", lo)
        return sorted(order[lo:hi])  # in catalog order, as a scan finds them (ties go to the first)

    @property
    def _index(self) -> dict[str, int]:
        if len(self.__dict__.get("_cached_index", ())) != len(self.titles):
            self.__dict__["_cached_index"] = {t: i for i, t in enumerate(self.titles)}
        return self.__dict__["_cached_index"]
