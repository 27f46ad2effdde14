"""`llm=openai` against real servers on 127.0.0.1: `transformers serve` of the bundled model (the generic path),
a closed port, a real server far slower than the timeout, a real non-OpenAI HTTP server, and a real server killed
while a stream is in flight. No fake servers: every failure here is a real one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from ragrec.generation import Describer, get_llm
from ragrec.generation.rerank import LLMReranker
from ragrec import metrics
from ragrec.metrics import LLM_FALLBACKS
from ragrec.retrieval.models import RecommendRequest
from tests.generation.conftest import free_port, server_settings, start_serve, stop
from tests.generation.test_local import assert_injection_has_no_effect


def counted(stage: str, reason: str) -> float:
    return LLM_FALLBACKS.labels(stage, reason)._value.get()


def assert_flagged(settings, history, candidates, reason: str):
    """Both stages fall back, flagged with `reason`, and count it."""
    llm = get_llm(settings)
    before = counted("rerank", reason), counted("describe", reason)
    out = LLMReranker(llm, settings, weight=1.0)(RecommendRequest(user_id="u1"), history, candidates[:5])
    assert not out.reranked and out.error.startswith(reason), out.error
    assert [c.item_id for c in out.items] == [c.item_id for c in candidates[:5]]  # retrieval order
    results = Describer(llm, settings).describe_results(history, candidates[:2])
    assert all(r.item.description_source == "template" and r.error.startswith(reason) for r in results), results
    assert counted("rerank", reason) == before[0] + 1 and counted("describe", reason) == before[1] + 2


def test_generic_server_reranks_listwise_and_describes(server, tmp_path, history, candidates):
    base_url, model = server
    settings = server_settings(tmp_path, base_url, model)
    llm = get_llm(settings)
    assert not llm.supports_logprobs and not llm.supports_schema  # transformers serve ignores both
    out = LLMReranker(llm, settings, weight=1.0)(RecommendRequest(user_id="u1"), history, candidates[:5])
    assert sorted(c.item_id for c in out.items) == sorted(c.item_id for c in candidates[:5])
    assert out.reranked or out.error.startswith("bad_output")  # parsed, or the 135M model's JSON was unusable


def test_catalog_text_cannot_instruct_the_server_model(server, tmp_path, history, catalog, candidates):
    base_url, model = server
    settings = server_settings(tmp_path, base_url, model, describe_cache_size=0)
    assert_injection_has_no_effect(Describer(get_llm(settings), settings), history, catalog, candidates[:2])


def test_a_wrong_model_name_is_the_servers_own_words_and_a_warning(server, tmp_path, history, candidates, caplog,
                                                                     monkeypatch):
    base_url, _ = server
    settings = server_settings(tmp_path, base_url, "no-such-model", llm_retries=0)
    monkeypatch.setattr(metrics, "_last_warned", {})  # warned at most once a minute: this test's own first
    with caplog.at_level("WARNING", logger="ragrec.generation"):
        out = LLMReranker(get_llm(settings), settings, weight=1.0)(RecommendRequest(user_id="u1"), history,
                                                                   candidates[:5])
        LLMReranker(get_llm(settings), settings, weight=1.0)(RecommendRequest(user_id="u1"), history, candidates[:5])
    assert not out.reranked and out.error.startswith("http_error"), out.error
    assert "no-such-model" in out.error and base_url in out.error, out.error  # what the server said, and where
    warned = [r.getMessage() for r in caplog.records if "fell back" in r.getMessage()]
    assert len(warned) == 1 and "LLM rerank fell back (http_error)" in warned[0], warned  # once, not per request


def test_server_down(tmp_path, history, candidates):
    port = free_port()  # bound, then closed: nothing listens there
    settings = server_settings(tmp_path, f"http://127.0.0.1:{port}/v1", "m", llm_timeout=5.0, llm_retries=1)
    assert_flagged(settings, history, candidates, "connection")
    out = LLMReranker(get_llm(settings), settings)(RecommendRequest(user_id="u1"), history, candidates[:5])
    assert f"127.0.0.1:{port}" in out.error, out.error  # the URL that failed


def test_server_slower_than_the_timeout(server, tmp_path, history, candidates):
    base_url, model = server
    settings = server_settings(tmp_path, base_url, model, llm_timeout=0.05)
    t = time.perf_counter()
    assert_flagged(settings, history, candidates, "timeout")
    assert time.perf_counter() - t < 5  # timeouts are not retried


@pytest.fixture
def html_server(tmp_path):
    """A real HTTP server that is not an OpenAI server: `python -m http.server` with an HTML page."""
    (tmp_path / "index.html").write_text("<html><body><h1>Welcome to nginx!</h1></body></html>")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_server_answers_html_not_json(html_server, tmp_path, history, candidates):
    assert "<h1>" in httpx.get(html_server).text  # what sits at the base URL
    settings = server_settings(tmp_path, html_server, "m", llm_timeout=5.0, llm_retries=0)
    assert_flagged(settings, history, candidates, "http_error")  # POST answered by an HTML error page (501)


def test_server_dies_mid_stream(model_dir, tmp_path, history, candidates):
    """A second real server, killed while it streams a long description."""
    port = free_port()
    proc = start_serve(model_dir, port)
    try:
        settings = server_settings(tmp_path, f"http://127.0.0.1:{port}/v1", str(model_dir),
                                   describe_max_tokens=400, describe_max_chars=5000, llm_retries=0)
        describer = Describer(get_llm(settings), settings)
        before = counted("describe", "connection") + counted("describe", "http_error")

        async def run():
            task = asyncio.ensure_future(_collect(describer, history, candidates[:1]))
            await asyncio.sleep(2.0)  # the request is in flight: the role chunk and some tokens have arrived
            assert not task.done()
            proc.kill()
            return await task

        results = asyncio.run(run())
    finally:
        stop(proc)
    (r,) = results
    assert r.item.description_source == "template" and r.error.split(":")[0] in ("connection", "http_error"), r
    assert counted("describe", "connection") + counted("describe", "http_error") == before + 1


async def _collect(describer, history, candidates):
    return [d async for d in describer.astream_results(history, candidates)]
