"""The LLM rerank stage: the top-N candidates scored by an LLM and fused with their retrieval scores.

    reranker = get_reranker(settings)                 # LLMReranker, or NoRerank when rerank is off / llm=none
    out = reranker(request, history, candidates)     # Reranked(items, reranked, error)

- verbalizer (LlamaRec, Yue et al. 2023): the candidates labelled A, B, C ... in one prompt after the user's recent
  items; one forward pass; a candidate's LLM score is the probability of its label as the next token.
- listwise: the LLM writes `{"ranking": ["C", "A", ...]}` (JSON schema enforced where the server can); parsed
  leniently: unknown labels dropped, duplicates removed, missing ones appended in retrieval order; a candidate's LLM
  score is then 1 - position / (N - 1).
- position bias (Hou et al., ECIR 2024): each pass shows the candidates in a shuffled order (seeded by
  rerank_seed and the candidate ids, so the same request gets the same order); rerank_permutations passes are
  averaged.
- fusion: score = (1 - w) * minmax(retrieval) + w * minmax(LLM), w = rerank_weight; ties keep retrieval order.

Nothing here raises to the caller: an LLM that fails, times out or answers garbage gives the candidates in
retrieval order with `reranked=False`, the reason in `error`, and one count on `ragrec_llm_fallbacks{stage="rerank"}`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re

from pydantic import BaseModel, ValidationError

from ragrec.config import Settings
from ragrec.generation import prompts as P
from ragrec.generation.base import LLM, LLMError
from ragrec.metrics import llm_fell_back
from ragrec.retrieval.models import Candidate, History, RecommendRequest
from ragrec.retrieval.rerank import NoRerank, Reranked, Reranker


class Ranking(BaseModel):
    """The listwise answer."""

    ranking: list[str]


LISTWISE_SCHEMA = Ranking.model_json_schema()
_LABEL = re.compile(r"^\s*\(?([A-Z])(?:[.):\]\s]|$)")


def _label_of(entry: str, labels: list[str]) -> str | None:
    m = _LABEL.match(str(entry))
    return m.group(1) if m and m.group(1) in labels else None


def parse_ranking(text: str, labels: list[str]) -> list[int]:
    """Positions into `labels` in the order the LLM ranked them: unknown entries dropped, duplicates removed,
    labels it left out appended in their own (retrieval) order. Accepts clean JSON (pydantic), JSON inside prose
    or code fences, and a ranking cut off by the token limit. No label at all is an LLMError(bad_output)."""
    entries: list[str] | None = None
    m = re.search(r"\{.*\}", text, re.S)
    if m:
        try:
            entries = Ranking.model_validate_json(m.group(0)).ranking
        except ValidationError:
            entries = None
    if entries is None:  # truncated or malformed: the quoted strings after "ranking": [
        m = re.search(r'"ranking"\s*:\s*\[(.*)', text, re.S)
        if m:
            entries = re.findall(r'"((?:[^"\\]|\\.)*)(?:"|$)', m.group(1))  # the last one may be cut off
    if entries is None:
        try:
            data = json.loads(text)
            entries = [str(x) for x in data] if isinstance(data, list) else None
        except (json.JSONDecodeError, TypeError):
            entries = None
    order: list[int] = []
    for entry in entries or []:
        label = _label_of(entry, labels)
        if label is not None and labels.index(label) not in order:
            order.append(labels.index(label))
    if not order:
        raise LLMError("bad_output", f"no candidate label in the listwise answer: {text[:120]!r}")
    return order + [i for i in range(len(labels)) if i not in order]


def permutation(item_ids: list[str], seed: int, pass_index: int) -> list[int]:
    """A shuffled presentation order, the same for the same candidates, seed and pass (across processes)."""
    digest = hashlib.sha256("\x1f".join([str(seed), str(pass_index), *item_ids]).encode()).digest()
    order = list(range(len(item_ids)))
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.0 if hi - lo < 1e-12 else (v - lo) / (hi - lo) for v in values]


def fuse(retrieval: list[float], llm: list[float], weight: float) -> list[float]:
    return [(1 - weight) * r + weight * s for r, s in zip(minmax(retrieval), minmax(llm), strict=True)]


class LLMReranker:
    """The `Reranker` of the rerank stage, with one LLM backend."""

    def __init__(self, llm: LLM, settings: Settings, *, method: str | None = None, weight: float | None = None):
        self.llm, self.settings = llm, settings
        self.method = method or settings.rerank_method
        self.weight = settings.rerank_weight if weight is None else weight

    def resolved_method(self) -> str:
        if self.method == "auto":
            return "verbalizer" if self.llm.supports_logprobs else "listwise"
        return self.method

    def llm_scores(self, history: History, candidates: list[Candidate]) -> list[float]:
        """The LLM's score of each candidate (input order), averaged over the shuffled passes. Raises LLMError."""
        n = len(candidates)
        labels = P.LABELS[:n]
        liked = P.history_block(history.items[: self.settings.llm_history_items])
        method = self.resolved_method()
        totals = [0.0] * n
        for p in range(self.settings.rerank_permutations):
            order = permutation([c.item_id for c in candidates], self.settings.rerank_seed, p)
            shown = [candidates[i] for i in order]
            if method == "verbalizer":
                messages = P.VERBALIZER.format_messages(history=liked, candidates=P.candidates_block(shown, labels))
                per_label = self.llm.label_probs(messages, labels)
            else:
                messages = P.LISTWISE.format_messages(history=liked, candidates=P.candidates_block(shown, labels),
                                                      n=n)
                text = self.llm.complete(messages, max_tokens=6 * n + 16, schema=LISTWISE_SCHEMA)
                ranked = parse_ranking(text, labels)
                per_label = [0.0] * n
                for pos, k in enumerate(ranked):
                    per_label[k] = 1.0 - pos / max(n - 1, 1)
            for k, i in enumerate(order):
                totals[i] += per_label[k]
        scores = [t / self.settings.rerank_permutations for t in totals]
        if not all(math.isfinite(s) for s in scores):
            raise LLMError("bad_output", "non-finite LLM scores")
        return scores

    def __call__(self, request: RecommendRequest, history: History, candidates: list[Candidate]) -> Reranked:
        head = list(candidates[: self.settings.rerank_candidates])
        tail = list(candidates[self.settings.rerank_candidates:])
        if len(head) < 2:
            return Reranked(items=list(candidates), error=f"nothing to rerank ({len(head)} candidate(s))")
        try:
            llm = self.llm_scores(history, head)
        except Exception as exc:  # noqa: BLE001  (an LLM never fails the request)
            reason = exc.reason if isinstance(exc, LLMError) else "error"
            message = str(exc) if isinstance(exc, LLMError) else f"error: {exc!r}"
            llm_fell_back("rerank", reason, message)
            return Reranked(items=list(candidates), error=message[:300])
        fused = fuse([c.score for c in head], llm, self.weight)
        order = sorted(range(len(head)), key=lambda i: (-fused[i], i))
        items = [
            head[i].model_copy(update={"score": fused[i],
                                       "scores": head[i].scores.model_copy(update={"llm": llm[i]})})
            for i in order
        ]
        return Reranked(items=items + tail, reranked=True)


def get_reranker(settings: Settings, llm: LLM | None = None) -> Reranker:
    """The configured rerank stage: `LLMReranker`, or `NoRerank` when rerank is off or llm=none."""
    if not settings.rerank or settings.llm == "none":
        return NoRerank()
    from ragrec.generation import get_llm

    return LLMReranker(llm or get_llm(settings), settings)
