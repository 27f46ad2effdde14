"""SHAPE TESTS, not server tests: no vLLM runs here (it needs a GPU). They check that with llm_server=vllm the
request bodies ChatOpenAI would send carry what vLLM (>= 0.12) documents, and that responses shaped as vLLM
documents them are parsed through langchain-openai's own response handling into the right scores. The generic
path is tested against a real server in test_openai_server.py."""

from __future__ import annotations

import math

import pytest
from openai.types.chat import ChatCompletion

from ragrec.generation import prompts as P
from ragrec.generation.base import LLMError
from ragrec.generation.openai_compat import OpenAICompatLLM, label_probs_from_logprobs
from ragrec.generation.rerank import LISTWISE_SCHEMA, parse_ranking


def llm(tmp_path, server="vllm", **kw) -> OpenAICompatLLM:
    from ragrec.config import Settings

    return OpenAICompatLLM(Settings(data_dir=tmp_path, llm="openai", llm_base_url="http://127.0.0.1:9/v1",
                                    llm_model="meta-llama/Llama-3.1-8B-Instruct", llm_server=server, **kw))


MESSAGES = P.VERBALIZER.format_messages(history="- Toy Story", candidates="A. Heat\nB. Jumanji\nC. Casino")


def payload(backend: OpenAICompatLLM, **options) -> dict:
    return backend.chat._get_request_payload(MESSAGES, **options)  # the body the OpenAI client then sends


def test_vllm_verbalizer_request_asks_for_top_logprobs_of_one_token(tmp_path):
    backend = llm(tmp_path)
    body = payload(backend, **backend.verbalizer_options())
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert body["model"] == "meta-llama/Llama-3.1-8B-Instruct" and body["temperature"] == 0.0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "guided_json" not in str(body) and "extra_body" not in body  # removed in vLLM 0.12: never sent


def test_vllm_listwise_request_uses_response_format_json_schema(tmp_path):
    backend = llm(tmp_path)
    body = payload(backend, **backend.complete_options(136, LISTWISE_SCHEMA))
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "ranking", "schema": LISTWISE_SCHEMA}}
    assert body["response_format"]["json_schema"]["schema"]["properties"]["ranking"]["type"] == "array"
    assert body["max_tokens"] == 136 and "guided_json" not in str(body)


def test_generic_requests_carry_only_plain_openai_fields(tmp_path):
    backend = llm(tmp_path, server="generic")
    assert not backend.supports_logprobs and not backend.supports_schema
    body = payload(backend, **backend.complete_options(50, LISTWISE_SCHEMA))
    assert set(body) <= {"model", "messages", "max_tokens", "temperature", "stream"}
    with pytest.raises(LLMError, match="unsupported"):
        backend.label_probs(MESSAGES, ["A", "B", "C"])


# A chat completion as vLLM returns it for logprobs=true, top_logprobs=N (OpenAI's shape plus vLLM's extras).
VLLM_RESPONSE = {
    "id": "chatcmpl-8f2c", "object": "chat.completion", "created": 1764400000,
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "C", "reasoning_content": None, "tool_calls": []},
        "logprobs": {"content": [{
            "token": "C", "logprob": -0.35667, "bytes": [67],
            "top_logprobs": [
                {"token": "C", "logprob": -0.35667, "bytes": [67]},
                {"token": "A", "logprob": -1.60944, "bytes": [65]},
                {"token": " C", "logprob": -2.99573, "bytes": [32, 67]},
                {"token": "The", "logprob": -3.21888, "bytes": [84, 104, 101]},
                {"token": "B", "logprob": -4.60517, "bytes": [66]},
            ],
        }]},
        "finish_reason": "length", "stop_reason": None,
    }],
    "usage": {"prompt_tokens": 512, "total_tokens": 513, "completion_tokens": 1},
}


def test_vllm_logprobs_response_gives_label_probabilities(tmp_path):
    backend = llm(tmp_path)
    from langchain_core.language_models.chat_models import _gen_info_and_msg_metadata

    # langchain-openai's parsing of the response, then langchain-core's merge into the AIMessage that invoke returns
    generation = backend.chat._create_chat_result(ChatCompletion.model_validate(VLLM_RESPONSE)).generations[0]
    logprobs = _gen_info_and_msg_metadata(generation)["logprobs"]
    probs = label_probs_from_logprobs(logprobs, ["A", "B", "C", "D"])
    raw = {"A": 0.2, "B": 0.01, "C": 0.7 + 0.05, "D": 0.0}  # 'C' and ' C' both spell label C
    total = sum(raw.values())
    assert probs == pytest.approx([raw[k] / total for k in "ABCD"], rel=1e-4)
    assert math.isclose(sum(probs), 1.0)


def test_vllm_response_without_logprobs_or_label_mass_is_bad_output():
    with pytest.raises(LLMError, match="no logprobs"):
        label_probs_from_logprobs(None, ["A", "B"])
    only_prose = {"content": [{"token": "The", "logprob": -0.1, "top_logprobs": [
        {"token": "The", "logprob": -0.1, "bytes": [84]}]}]}
    with pytest.raises(LLMError) as e:
        label_probs_from_logprobs(only_prose, ["A", "B"])
    assert e.value.reason == "bad_output"


def test_vllm_structured_listwise_answer_parses():
    content = '{"ranking": ["C", "A", "B"]}'  # what response_format json_schema makes vLLM emit
    assert parse_ranking(content, ["A", "B", "C", "D"]) == [2, 0, 1, 3]
