"""Personalized descriptions: one or two sentences per recommended item, grounded in the item's own facts and the
user's evidence items, checked before they are shown, cached, and streamed as each one is ready.

    describer = Describer(get_llm(settings), settings, Vocabulary.from_store(store, settings))
    async for item in describer.astream(history, candidates):   # each Candidate with .description set
        ...
    items = describer.describe(history, candidates)              # the same, all at once, in input order

A description is checked (`check`): it names its item; it names no other catalog title outside the evidence; any
year it states is the item's year; any genre it states is one of the item's genres (or in its own tags); it repeats
nothing that `as_data` cut out of the item's data as an instruction; it does not recite the prompt's markup or
repeat itself (a 4-word phrase twice); its length is within bounds. A description
that fails, or an LLM that fails, gives the template ("Because you liked A and B: Title, a 1995 animation and
comedy movie about pixar.") with `description_source="template"`; for an item with a precomputed catalog blurb
(`ragrec describe-catalog`, checked the same way when it was written) the blurb takes the place of the facts
sentence, with `description_source="catalog"`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable

from pydantic import BaseModel

from ragrec.config import Settings
from ragrec.generation import prompts as P
from ragrec.generation.base import LLM, LLMError
from ragrec.metrics import DESCRIPTION_CACHE_HITS, llm_fell_back
from ragrec.retrieval.models import Candidate, History
from ragrec.schema import BLURB

# How a sentence may state each MovieLens genre (a catalog's other genres are matched by their own name).
GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "action": ("action",),
    "adventure": ("adventure", "adventures", "adventurous"),
    "animation": ("animation", "animated", "cartoon", "anime"),
    "children": ("children's", "kids", "kid's"),
    "comedy": ("comedy", "comedies", "comedic", "comical", "hilarious"),
    "crime": ("crime",),
    "documentary": ("documentary", "documentaries"),
    "drama": ("drama", "dramas", "dramatic"),
    "fantasy": ("fantasy",),
    "film-noir": ("film-noir", "film noir", "noir"),
    "horror": ("horror", "scary", "slasher"),
    "imax": ("imax",),
    "musical": ("musical", "musicals"),
    "mystery": ("mystery", "mysteries", "whodunit"),
    "romance": ("romance", "romantic", "rom-com"),
    "sci-fi": ("sci-fi", "science fiction", "science-fiction", "scifi"),
    "thriller": ("thriller", "thrillers"),
    "war": ("war",),
    "western": ("western", "westerns"),
}
_YEAR = re.compile(r"(?<!\d)(18[89]\d|19\d\d|20[0-4]\d)(?!\d|s\b)")  # not a decade (1990s)
_DECADE = re.compile(r"(?<!\d)(18[89]0|19\d0|20[0-4]0)s\b")
_SHORT_DECADE = re.compile(r"(?<![\d'])'?([1-9])0'?s\b")  # '90s, 90s: the 1990s (or the 2020s, for 20s)
_DECADE_WORD = re.compile(r"\b(twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)\b", re.I)
_DECADE_WORDS = ("twenties", "thirties", "forties", "fifties", "sixties", "seventies", "eighties", "nineties")
# The prompt's framing or an assistant's chatter said back: "the user liked X" claims what the user never did
_FRAMING = re.compile(r"\b(?:the|this) user\b|\bas an ai\b|\bhappy to (?:help|recommend)\b|^\W*(?:sure|certainly|of "
                      r"course)\b|\bhere(?: i|')s a (?:recommendation|description)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    "a an and the of to in on for with this that these those is are was were be been it its you your they their "
    "he she his her we our as at by from or not no but if then than so too very just only also about into over "
    "movie film item user users say said says write instead".split()
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("&", " and "))


def _genre_pattern(words: Iterable[str]) -> re.Pattern:
    alternatives = sorted({re.escape(w) for w in words}, key=len, reverse=True)
    return re.compile(r"(?<![a-z])(" + "|".join(alternatives) + r")(?![a-z])")


@dataclass
class Vocabulary:
    """What the checks know of the whole catalog: every title (as word tuples) and every genre."""

    titles: dict[tuple[str, ...], str] = field(default_factory=dict)  # title words -> a display title
    genres: set[str] = field(default_factory=set)  # lowercase genre names
    max_title_words: int = 0

    @classmethod
    def from_payloads(cls, payloads: Iterable[dict[str, Any]]) -> Vocabulary:
        vocab = cls()
        for p in payloads:
            if isinstance(p.get("title"), str):
                vocab.add_title(p["title"])
            for g in p.get("genres") or []:
                if isinstance(g, str):
                    vocab.genres.add(g.lower())
        return vocab

    @classmethod
    def from_store(cls, store, settings: Settings) -> Vocabulary:
        """The catalog's titles and genres, read once from the items collection (9,742 movies: ~0.5 s)."""
        payloads = (r.payload for r in store.scroll(settings.items_collection, payload=["title", "genres"]))
        return cls.from_payloads(payloads)

    def add_title(self, title: str) -> None:
        for name in {P.display_title(title), re.sub(r"\s*\(\d{4}\)\s*$", "", title)}:
            words = tuple(_words(name))
            if words:
                self.titles.setdefault(words, P.display_title(title))
                self.max_title_words = max(self.max_title_words, len(words))

    def genre_words(self) -> dict[str, tuple[str, ...]]:
        return {g: GENRE_WORDS.get(g, (g,)) for g in self.genres | set(GENRE_WORDS)}


class CheckResult(BaseModel):
    ok: bool
    failed: list[str] = []  # names_item, other_title, year, genre, injected, echo, framing, repetitive, length
    hallucinated: list[str] = []  # stated attributes not in the item's data: "year 1997", "genre horror", "title X"


def _spans(words: list[str], phrase: tuple[str, ...]) -> list[tuple[int, int]]:
    n = len(phrase)
    return [(i, i + n) for i in range(len(words) - n + 1) if tuple(words[i:i + n]) == phrase]


def check(text: str, candidate: Candidate, evidence_titles: list[str], vocabulary: Vocabulary,
          settings: Settings, cut: list[str] | None = None) -> CheckResult:
    """Check one description against its item's own data (see the module docstring)."""
    failed, hallucinated = [], []
    words = _words(text)
    facts = P.item_facts(candidate)
    own = [facts["title"], re.sub(r"\s*\(\d{4}\)\s*$", "", candidate.title)]
    for t in list(own):  # "Pirates of the Caribbean: The Curse of the Black Pearl" is named by either half
        parts = re.split(r": | - ", t, maxsplit=1)
        own += [p for p in parts if len(parts) == 2 and len(_words(p)) >= 2]
    own_spans = [s for t in own if _words(t) for s in _spans(words, tuple(_words(t)))]
    if not own_spans:
        failed.append("names_item")
    allowed = own_spans + [s for t in evidence_titles for s in _spans(words, tuple(_words(P.display_title(t))))]
    # a title the item's own tags or text name is the item's fact ("King Arthur" of The Sword in the Stone); all
    # its tags, also those the facts leave out as saying nothing new ("Star Wars" of Solo: A Star Wars Story)
    tags = P.payload_tags(candidate)
    own_facts = " " + " ".join(_words(" ".join(tags) + " " + (facts.get("text") or ""))) + " "
    for n in range(1, vocabulary.max_title_words + 1):
        for i in range(len(words) - n + 1):
            key = tuple(words[i:i + n])
            title = vocabulary.titles.get(key)
            if title is None or any(a <= i and i + n <= b for a, b in allowed) or f" {' '.join(key)} " in own_facts:
                continue
            if n == 1 and not re.search(r"(?<![A-Za-z])" + re.escape(title) + r"(?![A-Za-z])", text):
                continue  # one-word titles ("Heat", "Up") count only when written as the title, capitalized
            if "other_title" not in failed:
                failed.append("other_title")
            hallucinated.append(f"title {title}")
    # years and genres are read outside the names of the item and the evidence ("Crime and Punishment in Suburbia"
    # states no genre; "2001: A Space Odyssey" no year)
    rest = text
    for name in sorted({*own, *evidence_titles, *map(P.display_title, evidence_titles)}, key=len, reverse=True):
        if name.strip():
            rest = re.sub(re.escape(name.strip()), " ", rest, flags=re.I)
    year = facts.get("year")
    stated_years = {int(y) for y in _YEAR.findall(rest)}
    for y in sorted(stated_years - ({year} if year else set())):
        hallucinated.append(f"year {y}")
    decades = [int(d) for d in _DECADE.findall(rest)]
    decades += [1900 + 10 * int(d) for d in _SHORT_DECADE.findall(rest)]
    decades += [1920 + 10 * _DECADE_WORDS.index(w.lower()) for w in _DECADE_WORD.findall(rest)]
    for d in decades:
        if not (year and (d <= year < d + 10 or d + 100 <= year < d + 110)):  # the 20s: the 1920s or the 2020s
            hallucinated.append(f"decade {d}s")
    if any(h.startswith(("year", "decade")) for h in hallucinated):
        failed.append("year")
    own_genres = {g.lower() for g in facts.get("genres", [])}
    own_text = " ".join(tags).lower() + " " + (facts.get("text") or "").lower()
    lowered = rest.lower()
    for genre, forms in vocabulary.genre_words().items():
        if genre in own_genres:
            continue
        for m in _genre_pattern(forms).finditer(lowered):
            if not _genre_pattern([m.group(1)]).search(own_text):
                hallucinated.append(f"genre {genre}")
                break
    if any(h.startswith("genre") for h in hallucinated):
        failed.append("genre")
    if cut:
        known = set(_words(P.facts_sentence(facts))) | {w for t in evidence_titles for w in _words(t)}
        injected = {w for c in cut for w in _words(c) if len(w) >= 4 and w not in _STOP and w not in known}
        if injected & set(words):
            failed.append("injected")
    if re.search(r"</?\s*data\s*>|<\|", text):
        failed.append("echo")  # the prompt's own markup: the model is reciting its input
    if _FRAMING.search(text):
        failed.append("framing")
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    if len(grams) != len(set(grams)):
        failed.append("repetitive")
    if not settings.describe_min_chars <= len(text) <= settings.describe_max_chars:
        failed.append("length")
    return CheckResult(ok=not failed, failed=failed, hallucinated=hallucinated)


# a one-word cheer a small model opens with ("Awesome! Apollo 13 is ..."): said to no one, dropped
_CHEER = re.compile(r"^\W*(?:awesome|great|wow|absolutely|perfect|excellent|fantastic)\s*!+\s+", re.I)


def unlabelled(text: str, candidate: Candidate) -> str:
    """The text without what a small model puts before the description itself: a cheer, or the item's title as a
    label ("Shrek: Shrek is a classic ...", "**Shrek** - a classic ..."), which the answer's own "Title: ..."
    would say twice. A title that opens a sentence ("Shrek is ...") stays."""
    text = _CHEER.sub("", text, count=1)
    names = {P.display_title(candidate.title), re.sub(r"\s*\(\d{4}\)\s*$", "", candidate.title.strip()),
             candidate.title.strip()}
    for name in sorted(filter(None, names), key=len, reverse=True):
        label = re.match(r"\W*" + re.escape(name) + r"(?:\s*\(\d{4}\))?\W*?\s*[:\-\u2013\u2014]\s+(?=\w)", text, re.I)
        if label:
            rest = text[label.end():]
            return rest[0].upper() + rest[1:]
    return text


def whole_sentences(text: str) -> str:
    """The text up to its last full stop: a description cut off by the token limit loses its unfinished sentence
    (one with no full sentence at all is left as it is, and fails on length or naming)."""
    text = text.strip()
    if not text or text[-1] in ".!?\"'”)":
        return text
    m = re.search(r"^.*(?<=\w\w)[.!?](?=\s|$)", text, re.S)  # a stop after a word, not in "a.k.a."
    return m.group(0) if m else text


def catalog_blurb(candidate: Candidate) -> str | None:
    """The item's precomputed catalog blurb (`ragrec describe-catalog`; checked before it was stored), if any."""
    blurb = candidate.payload.get(BLURB)
    return blurb.strip() if isinstance(blurb, str) and blurb.strip() else None


def template(candidate: Candidate, evidence_titles: list[str], kind: str = "movie") -> str:
    """The fallback: the item's catalog blurb when it has one, else a sentence built from the item's facts alone,
    so it states nothing the item's data does not; after the evidence ("Because you liked A and B: ...")."""
    sentence = catalog_blurb(candidate)
    if sentence is None:
        facts = P.item_facts(candidate)
        facts["tags"] = [t for t in facts.get("tags", []) if not re.search(r"\d", t)][:3]  # no stray years
        sentence = P.facts_sentence(facts, kind).replace(" is a", ", a", 1).replace(" is an", ", an", 1)
    if evidence_titles:
        return f"Because you liked {P._and([P.display_title(t) for t in evidence_titles])}: {sentence}"
    popular = next((e for e in candidate.evidence if e.kind == "popular" and e.users), None)
    return f"{str(popular).capitalize()}: {sentence}" if popular else sentence  # "Popular with 1 user: ..."


def fallback(candidate: Candidate, evidence_titles: list[str], kind: str = "movie") -> dict[str, str]:
    """The description (and its source) when the LLM's is missing or fails its checks: `template`, marked
    `catalog` when it carries the item's blurb."""
    source = "catalog" if catalog_blurb(candidate) else "template"
    return {"description": template(candidate, evidence_titles, kind), "description_source": source}


def evidence_titles(candidate: Candidate, n: int = 2) -> list[str]:
    """The user's items this candidate is there because of (its `liked` evidence), as titles. Only these: a
    description may not claim a link to the user's other items that retrieval did not find."""
    titles = []
    for e in candidate.evidence:
        if e.kind == "liked" and (e.title or e.item_id):
            title = P.as_data(e.title or e.item_id)[0]
            if title and title not in titles:
                titles.append(title)
    return titles[:n]


class Described(BaseModel):
    """One description and how it came about (the evaluation's generation section reads these)."""

    index: int
    item: Candidate
    raw: str | None = None  # what the LLM wrote (None: not asked, or it failed)
    check: CheckResult | None = None
    cached: bool = False
    error: str | None = None


class _Cache:
    def __init__(self, size: int):
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key, value) -> None:
        if self.size <= 0:
            return
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class Describer:
    """Writes, checks, caches and streams descriptions with one LLM backend."""

    def __init__(self, llm: LLM, settings: Settings, vocabulary: Vocabulary | None = None, kind: str | None = None):
        self.llm, self.settings, self.kind = llm, settings, kind or settings.item_kind
        self.vocabulary = vocabulary or Vocabulary()
        self.cache = _Cache(settings.describe_cache_size)

    def _prompt(self, candidate: Candidate, liked: list[str]):
        facts = P.item_facts(candidate)
        return P.DESCRIBE.format_messages(
            kind=self.kind, facts=P.facts_sentence(facts, self.kind),
            liked=P.liked_sentence([P.display_title(t) for t in liked]), title=facts["title"],
        )

    def _key(self, candidate: Candidate, liked: list[str]) -> tuple:
        facts = P.facts_sentence(P.item_facts(candidate), self.kind)
        digest = hashlib.sha256("\x1f".join([facts, *liked]).encode()).hexdigest()[:16]
        return (self.llm.name, candidate.item_id, digest, P.PROMPT_VERSION)

    def _finish(self, i: int, c: Candidate, liked: list[str], raw: str | LLMError) -> Described:
        if isinstance(raw, LLMError):
            llm_fell_back("describe", raw.reason, str(raw))
            item = c.model_copy(update=fallback(c, liked, self.kind))
            return Described(index=i, item=item, error=str(raw))
        raw = whole_sentences(raw)
        cut = [s for v in [c.text, *map(str, c.payload.get("tags") or [])] for s in P.as_data(v)[1]]
        result = check(raw, c, liked, self.vocabulary, self.settings, cut)  # a title label names the item too
        if result.ok:
            update = {"description": unlabelled(raw, c), "description_source": "llm"}
        else:
            llm_fell_back("describe", "failed_check")
            update = fallback(c, liked, self.kind)
        done = Described(index=i, item=c.model_copy(update=update), raw=raw, check=result)
        self.cache.put(self._key(c, liked), done)
        return done

    async def astream_results(self, history: History, candidates: list[Candidate],
                              head: int = 0) -> AsyncIterator[Described]:
        """Each candidate's `Described` as soon as it is ready: cached ones first, then as the LLM finishes them
        (the first `head` of those the LLM writes in a batch of their own, see `LLM.stream_many`).
        What a description may say of the user comes from each candidate's evidence (history items retrieval found
        it close to); `history` is the stage's input, kept for the API's symmetry with the reranker."""
        todo: list[tuple[int, Candidate, list[str]]] = []
        for i, c in enumerate(candidates):
            liked = evidence_titles(c)
            hit = self.cache.get(self._key(c, liked))
            if hit is not None:  # the cached text on this request's candidate (its score may differ)
                DESCRIPTION_CACHE_HITS.inc()
                item = c.model_copy(update={"description": hit.item.description,
                                            "description_source": hit.item.description_source})
                yield hit.model_copy(update={"index": i, "cached": True, "item": item})
            else:
                todo.append((i, c, liked))
        if not todo:
            return
        prompts = [self._prompt(c, liked) for _, c, liked in todo]
        done: set[int] = set()
        try:
            async for j, raw in self.llm.stream_many(prompts, max_tokens=self.settings.describe_max_tokens,
                                                   head=head):
                if j not in done:
                    done.add(j)
                    yield self._finish(*todo[j], raw)
        except Exception as exc:  # noqa: BLE001  (a backend failure must not lose the list: templates for the rest)
            err = exc if isinstance(exc, LLMError) else LLMError("error", repr(exc))
        else:
            err = LLMError("bad_output", "the backend gave no answer for this item")
        for j, (i, c, liked) in enumerate(todo):
            if j not in done:
                yield self._finish(i, c, liked, err)

    async def astream(self, history: History, candidates: list[Candidate]) -> AsyncIterator[Candidate]:
        """Each candidate with its description, as soon as it is ready (the API streams these; the first
        `describe_first_batch` in a small batch of their own, so the first comes early)."""
        async for d in self.astream_results(history, candidates, self.settings.describe_first_batch):
            yield d.item

    def describe_results(self, history: History, candidates: list[Candidate]) -> list[Described]:
        async def collect():
            return [d async for d in self.astream_results(history, candidates)]

        results = _run(collect())
        return sorted(results, key=lambda d: d.index)

    def describe(self, history: History, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates, in input order, each with `description` and `description_source` set."""
        return [d.item for d in self.describe_results(history, candidates)]


def _run(coro):
    """asyncio.run, also from code that already runs inside an event loop (then in a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    out: dict[str, Any] = {}

    def work():
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001
            out["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]
