"""One chat turn: message -> constraints (merged into the conversation's) -> recommend -> a grounded answer.

The answer names only the items retrieval returned from the catalog, each with its (checked) description; its
sentences around them are templates, so nothing in a message, not even an instruction aimed at an LLM, can make it
name anything else. `stream()` yields the same turn as events: the constraints, each item as it is chosen, each
description as it is written and checked, then the whole answer.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Annotated, Any, AsyncIterator, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from ragrec.chat.constraints import Constraints
from ragrec.chat.extract import read_constraints
from ragrec.chat.conversation import Conversation, Conversations, Turn
from ragrec.chat.vocabulary import Vocabulary
from ragrec.events.models import Id
from ragrec.retrieval.feedback import known_items
from ragrec.retrieval.models import Candidate, RecommendRequest, Recommendations, visible


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")  # ANSI colours and cursor moves


def _plain(text: str) -> str:
    """Text pasted from a terminal, without its colour codes: "like \x1b[31mToy Story" is "like Toy Story"."""
    return _TERMINAL_CODES.sub("", text)


MAX_MESSAGE_CHARS = 2000


class ChatRequest(BaseModel):
    message: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS), AfterValidator(_plain),
                       AfterValidator(visible)]
    conversation_id: str | None = Field(None, min_length=1, max_length=64, description="continue this conversation")
    user_id: Id | None = Field(None, description="personalize with this user's history")
    k: int = Field(5, ge=1, le=20, strict=True)
    explain: bool = Field(True, strict=True, description="describe each item (the LLM stage)")


class ChatAnswer(BaseModel):
    conversation_id: str
    recommendation_id: str
    parsed: Constraints = Field(description="what this message asked for")
    constraints: Constraints = Field(description="everything the conversation asks for so far")
    chips: list[str]
    items: list[Candidate]
    answer: str
    reranked: bool = False
    rerank_error: str | None = None


class ChatEvent(BaseModel):
    """One server-sent event of a streamed turn."""

    event: Literal["constraints", "item", "description", "done"]
    data: dict[str, Any]


class Plan(NamedTuple):
    """A turn before retrieval: its conversation and the constraints that conversation had (`base`), the message's
    own constraints, the two merged, and the recommend request they make."""

    conv: Conversation
    base: Constraints
    parsed: Constraints
    merged: Constraints
    recommend: RecommendRequest


class Chat:
    """Chat turns over one Recommender; holds the conversations and the catalog's vocabulary."""

    def __init__(self, recommender):
        self.rec = recommender
        self.conversations = Conversations(recommender.settings)
        self._vocabulary: Vocabulary | None = None
        self._lock = threading.Lock()
        self._turns = threading.Lock()  # conversations' state changes one turn at a time

    @property
    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            with self._lock:
                if self._vocabulary is None:
                    self._vocabulary = Vocabulary.from_store(self.rec.store, self.rec.settings)
        return self._vocabulary

    def catalog_changed(self) -> None:
        self._vocabulary = None

    def _schema_llm(self):
        """The LLM, when it can be held to a JSON schema (vLLM): then it reads the constraints, the rules being
        the fallback. Other backends (and none) leave it to the rules."""
        s = self.rec.settings
        if s.llm == "openai" and s.llm_server == "vllm":
            return self.rec.llm
        return None

    def _in_catalog(self, constraints: Constraints) -> Constraints:
        """Titles an earlier turn named that have since left the catalog drop out of the conversation."""
        ids = [t.item_id for t in constraints.like + constraints.not_like]
        if not ids:
            return constraints
        known = known_items(self.rec.store, self.rec.settings.items_collection)(ids)
        return constraints.model_copy(update={"like": [t for t in constraints.like if t.item_id in known],
                                              "not_like": [t for t in constraints.not_like if t.item_id in known]})

    # --- the stages of a turn ----------------------------------------------------------------------------------

    def plan(self, request: ChatRequest) -> Plan:
        """The conversation, this message's constraints, the merged ones, and the recommend request they make."""
        conv = self.conversations.get_or_start(request.conversation_id, request.user_id)
        base = conv.constraints
        if request.user_id and conv.user_id != request.user_id:
            conv.user_id = request.user_id
        parsed = read_constraints(request.message, self.vocabulary, self._schema_llm())
        merged = self._in_catalog(conv.constraints.merge(parsed))
        s = self.rec.settings
        has_target = bool(merged.like or merged.query or conv.user_id)
        shown = [] if parsed.reset else conv.shown
        negatives = [t.item_id for t in merged.not_like]
        recommend = RecommendRequest(
            user_id=conv.user_id, k=request.k, query=merged.query, positive=[t.item_id for t in merged.like],
            negative=negatives if has_target else [],
            # with nothing to move away from, "not like X" leaves X out; so is a series refused ("not batman")
            exclude=shown + ([] if has_target else negatives) + _series_ids(merged),
            filters=merged.filters(s.chat_genre_field, s.chat_year_field), explain=request.explain,
        )
        return Plan(conv, base, parsed, merged, recommend)

    def finish(self, plan: Plan, request: ChatRequest, result: Recommendations) -> ChatAnswer:
        """Keep the turn in the conversation; the answer shows the constraints its items were found with."""
        conv, parsed, merged = plan.conv, plan.parsed, plan.merged
        # nothing left: because everything that fits was shown already, or because nothing fits (one more query,
        # with nothing left out but a series refused, tells which; only on an empty answer)
        refused = _series_ids(merged)  # left out whether shown or not
        all_shown = not result.items and len(plan.recommend.exclude) > len(refused) and bool(self.rec.retrieve(
            plan.recommend.model_copy(update={"exclude": refused, "k": 1, "explain": False, "rerank": False}))[1].items)
        with self._turns:
            # two turns of one conversation at once (a double submit, a retry): the one ending last builds on the
            # constraints the other left, rather than overwrite them
            if conv.constraints is not plan.base:
                conv.constraints = conv.constraints.merge(parsed)
            else:
                conv.constraints = merged
            if parsed.reset:
                conv.shown = []
            conv.add(Turn(message=request.message, items=[c.item_id for c in result.items]), self.rec.settings)
        return ChatAnswer(conversation_id=conv.conversation_id, recommendation_id=result.recommendation_id,
                          parsed=parsed, constraints=merged, chips=merged.chips(), items=result.items,
                          answer=answer_text(merged, result.items, all_shown=all_shown,
                                             unfiltered=bool(parsed.unfiltered)), reranked=result.reranked,
                          rerank_error=result.rerank_error)

    # --- whole turns -------------------------------------------------------------------------------------------

    def turn(self, request: ChatRequest) -> ChatAnswer:
        plan = self.plan(request)
        return self.finish(plan, request, self.rec.recommend(plan.recommend))

    async def stream(self, request: ChatRequest, run_blocking) -> AsyncIterator[ChatEvent]:
        """The turn as events. `run_blocking(fn)` runs CPU-bound work off the event loop (the API's bounded pool)."""
        plan = await run_blocking(lambda: self.plan(request))
        conv, parsed, merged = plan.conv, plan.parsed, plan.merged
        yield ChatEvent(event="constraints", data={"conversation_id": conv.conversation_id, "chips": merged.chips(),
                                                   "parsed": parsed.model_dump(), "constraints": merged.model_dump()})
        history, result = await run_blocking(
            lambda: self.rec.retrieve(plan.recommend.model_copy(update={"explain": False})))
        for rank, item in enumerate(result.items, 1):
            yield ChatEvent(event="item", data={"rank": rank, "recommendation_id": result.recommendation_id,
                                                "item": item.model_dump(mode="json")})
        if request.explain and result.items:
            described: dict[str, Candidate] = {}
            async for item in self.rec.describer.astream(history, result.items):
                described[item.item_id] = item
                yield ChatEvent(event="description", data={"item_id": item.item_id, "description": item.description,
                                                           "description_source": item.description_source})
            result.items = [described.get(c.item_id, c) for c in result.items]
        answer = await run_blocking(lambda: self.finish(plan, request, result))
        yield ChatEvent(event="done", data=answer.model_dump(mode="json"))


UNFILTERED_NOTE = "Note: the catalog has nothing to filter some of that by (a content rating, a person), so it " \
                  "was not used: see \"can't filter\"."


def _series_ids(constraints: Constraints) -> list[str]:
    """The items of the series the conversation refused ("not batman")."""
    return list(dict.fromkeys(t.item_id for s in constraints.not_series for t in s.items))


def answer_text(constraints: Constraints, items: list[Candidate], all_shown: bool = False,
                unfiltered: bool = False) -> str:
    """The answer around the items: templates and the items' own (checked) descriptions, nothing else.
    `all_shown`: there are no items because every one that fits was shown earlier in the conversation.
    `unfiltered`: the message asked for something the catalog cannot filter by, which a note says (in its own words:
    the user's are only in the chips)."""
    text = _answer_text(constraints, items, all_shown)
    return text + "\n" + UNFILTERED_NOTE if unfiltered else text


def _answer_text(constraints: Constraints, items: list[Candidate], all_shown: bool) -> str:
    wanted = _summary(constraints)
    if not items and all_shown:
        return f"That is everything I found in the catalog{wanted}: it was all shown above. Try asking for " \
               "something else, or say \"start over\" to see it again."
    if not items:
        return f"I found nothing in the catalog{wanted}. Try asking for less, or say \"start over\"."
    picks = "is one pick" if len(items) == 1 else f"are {len(items)} picks"
    if constraints.is_empty() and items[0].path == "popular":  # say so, rather than pass arbitrary items off
        popular = any((c.payload.get("popularity") or 0) > 0 for c in items)  # no feedback yet: nothing is
        lines = [f"Nothing in that named a genre, a year or a title I know, so here {picks} "
                 + ("of the most popular:" if popular else "from the catalog (nobody has rated anything yet):")]
    elif constraints.is_empty() and items[0].path in ("hybrid", "content"):
        lines = [f"Here {picks} for you:"]
    else:
        lines = [f"Here {picks}{wanted}:"]
    lines += [f"{n}. {_item_line(item)}" for n, item in enumerate(items, 1)]
    return "\n".join(lines)


def _item_line(item: Candidate) -> str:
    """An item as the answer lists it: its title first, said once, then its description."""
    title, text = shown_title(item), item.description
    if not text:
        return title + (f" ({item.evidence[0]})" if item.evidence else "")
    at = text.find(title)
    if at > 0 and text[:at].endswith(": "):
        # the template's reason first ("Popular with 5 users: Heat (1995), a crime movie."): the title first and the
        # reason after it, as an item without a description has it
        reason = text[:at - 2]
        return f"{text[at:].rstrip('.')} ({reason[0].lower()}{reason[1:]})."
    if at >= 0:
        return text  # a description that names the item (with its year) stands alone
    from ragrec.generation.prompts import display_title

    name = display_title(item.title)
    if name != title and text.startswith(name + " ") and not text[len(name) + 1:].startswith("("):
        return title + text[len(name):]  # "Shrek is a classic ..." names it: "Shrek (2001) is a classic ..."
    return f"{title}: {text}"


def shown_title(item: Candidate) -> str:
    """'Bug's Life, A (1998)' as a sentence names it: "A Bug's Life (1998)"."""
    from ragrec.generation.prompts import display_title

    year = item.payload.get("year")
    return display_title(item.title) + (f" ({year})" if isinstance(year, int) else "")


def _summary(c: Constraints) -> str:
    """What was asked for, in the catalog's words only: the user's free text is not repeated (the answer names
    nothing the catalog does not hold; the parsed query is in `chips`)."""
    from ragrec.generation.prompts import display_title

    parts = []
    if c.like:
        parts.append("like " + _and([display_title(t.title) for t in c.like]))
    if c.query:
        parts.append("matching your description")
    if c.genres:
        parts.append("in " + _and(c.genres, "and" if c.every_genre else "or"))
    if c.or_genres:  # "in Comedy and Romance, or in Thriller"
        parts.append("or in " + _and(c.or_genres, "or"))
    if c.also_genres:  # "in Western or War, and in Comedy"
        parts.append("and in " + _and(c.also_genres))
    if c.not_genres:
        parts.append("not " + _and(c.not_genres, "or"))
    if c.not_like:
        parts.append("unlike " + _and([display_title(t.title) for t in c.not_like]))
    if c.not_series:  # the series' name as the catalog writes it
        parts.append("without the " + _and([s.name for s in c.not_series]) + " titles")
    if c.year_min is not None and c.year_max is not None:
        parts.append(f"from {c.year_min}" if c.year_min == c.year_max else f"from {c.year_min} to {c.year_max}")
    elif c.year_min is not None:
        parts.append(f"from {c.year_min} on")
    elif c.year_max is not None:
        parts.append(f"up to {c.year_max}")
    if c.not_years:
        a, b = c.not_years
        parts.append(f"not from {a}" if a == b else f"not from {a} to {b}")
    return (" " + ", ".join(parts)) if parts else ""


def _and(words: list[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def run_in_thread(fn):
    """`run_blocking` for callers without a pool of their own (the terminal chat)."""
    return asyncio.to_thread(fn)
