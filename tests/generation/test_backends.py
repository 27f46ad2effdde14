"""One contract for every LLM backend, run on `local` (the real bundled model), `openai` (against a real
`transformers serve` of the same model: the generic path) and `none`."""

from __future__ import annotations

import asyncio
import math

import pytest

from ragrec.generation import Describer, get_llm, get_reranker
from ragrec.generation import prompts as P
from ragrec.generation.base import LLMError
from ragrec.generation.rerank import LLMReranker
from ragrec.retrieval.models import RecommendRequest
from ragrec.retrieval.rerank import NoRerank
from tests.generation.conftest import server_settings


@pytest.fixture(params=["local", "openai", "none"])
def backend(request, tmp_path, gen_settings):
    if request.param == "local":
        settings = gen_settings
    elif request.param == "openai":
        base_url, model = request.getfixturevalue("server")
        settings = server_settings(tmp_path, base_url, model)
    else:
        settings = gen_settings.model_copy(update={"llm": "none"})
    if request.param == "local":
        request.getfixturevalue("local_llm")  # loaded once per session
    return settings, get_llm(settings)


def test_unknown_backend_is_a_clear_error(gen_settings):
    with pytest.raises(ValueError, match="unknown LLM backend 'gpt'.*local, openai, none"):
        get_llm(gen_settings, "gpt")


def test_label_probs_exactly_when_supported(backend, history, candidates):
    settings, llm = backend
    messages = P.VERBALIZER.format_messages(history=P.history_block(history.items),
                                            candidates=P.candidates_block(candidates[:4], P.LABELS))
    if llm.supports_logprobs:
        probs = llm.label_probs(messages, P.LABELS[:4])
        assert len(probs) == 4 and all(math.isfinite(p) for p in probs) and sum(probs) == pytest.approx(1.0)
    else:
        with pytest.raises(LLMError) as e:
            llm.label_probs(messages, P.LABELS[:4])
        assert e.value.reason == "unsupported"


def test_complete_and_stream_many(backend):
    settings, llm = backend
    prompts = [P.DESCRIBE.format_messages(kind="movie", facts=f"{t} is a comedy movie.", liked="", title=t)
               for t in ("Toy Story", "Jumanji")]
    if settings.llm == "none":
        with pytest.raises(LLMError):
            llm.complete(prompts[0], max_tokens=8)
    else:
        assert isinstance(llm.complete(prompts[0], max_tokens=8), str)

    async def collect():
        return [x async for x in llm.stream_many(prompts, max_tokens=12)]

    got = asyncio.run(collect())
    assert sorted(i for i, _ in got) == [0, 1]  # each prompt answered exactly once
    for _, answer in got:
        assert isinstance(answer, LLMError) if settings.llm == "none" else (isinstance(answer, str) and answer)


def test_rerank_stage_never_raises_and_returns_the_same_items(backend, history, candidates):
    settings, llm = backend
    settings = settings.model_copy(update={"rerank": True})  # off by default (weight 0 with the bundled model)
    reranker = get_reranker(settings, llm)
    head = candidates[:5]
    out = reranker(RecommendRequest(user_id="u1"), history, head)
    assert sorted(c.item_id for c in out.items) == sorted(c.item_id for c in head)
    if settings.llm == "none":
        assert isinstance(reranker, NoRerank) and not out.reranked and out.error is None
    else:
        assert isinstance(reranker, LLMReranker)
        assert reranker.resolved_method() == ("verbalizer" if llm.supports_logprobs else "listwise")
        assert out.reranked or out.error  # the flag and its reason always agree
        if not out.reranked:
            assert [c.item_id for c in out.items] == [c.item_id for c in head]


def test_every_item_gets_a_checked_description(backend, history, candidates):
    settings, llm = backend
    results = Describer(llm, settings).describe_results(history, candidates[:2])
    for r in results:
        assert r.item.description and r.item.description_source in ("llm", "template")
        if r.item.description_source == "llm":
            assert r.check.ok
    if settings.llm == "none":
        assert all(r.item.description_source == "template" and r.error for r in results)


def test_rerank_is_off_by_default(gen_settings):
    assert isinstance(get_reranker(gen_settings), NoRerank)  # retrieval order: never worse by default
