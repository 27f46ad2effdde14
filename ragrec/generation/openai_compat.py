"""`llm=openai`: any OpenAI-compatible chat-completions server through langchain-openai's `ChatOpenAI`.

One backend, configured, not coded, per server (Settings.llm_server):

- `vllm` (vLLM >= 0.12): the verbalizer reads `logprobs=True, top_logprobs=N` of a one-token answer
  (`choices[0].logprobs.content[0].top_logprobs = [{token, logprob, bytes}, ...]`; vLLM caps N at its
  `--max-logprobs`, default 20); listwise output is constrained with `response_format` JSON schema. vLLM's old
  `guided_json` extra was removed in 0.12 and is silently ignored, so it is never sent.
- `generic` (e.g. `transformers serve`, which ignores logprobs and response_format and answers 422 to fields
  outside the OpenAI schema): only standard fields are sent; ranking is listwise JSON, parsed leniently.

Every request sends `max_tokens` (transformers serve generates 1024 tokens otherwise) and has a timeout; the
client's own retries are off and ragrec's one retry policy (`ragrec.retry`) retries connection errors, 429 and 5xx.
Descriptions are streamed (`stream_usage=True`), several at once up to `llm_concurrency`, each within
`llm_timeout` in total (a stream that keeps trickling tokens would never hit a read timeout).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import weakref
from typing import Any

import httpx
import openai
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI
from tenacity import AsyncRetrying

from ragrec.config import Settings
from ragrec.generation.base import LLM, LLMError, renormalize
from ragrec.retry import retrying


def _transient(exc: BaseException) -> bool:
    """Worth another try: the server was unreachable or overloaded. A timeout already spent the whole budget."""
    if isinstance(exc, openai.APITimeoutError):
        return False
    return isinstance(exc, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError))


def as_llm_error(exc: BaseException) -> LLMError:
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError, TimeoutError)):
        return LLMError("timeout", str(exc) or "the LLM server did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("connection", f"{exc} ({_url(exc)})")
    if isinstance(exc, openai.APIStatusError):  # the server's own words say what is wrong (a model name, a field)
        return LLMError("http_error", f"HTTP {exc.status_code} from {_url(exc)}: {_server_says(exc)[:200]}")
    if isinstance(exc, openai.APIError):  # e.g. an error event in the middle of a stream
        return LLMError("http_error", str(exc)[:200])
    if isinstance(exc, (ValueError, KeyError, TypeError, json.JSONDecodeError)):
        return LLMError("bad_output", f"{type(exc).__name__}: {str(exc)[:200]}")
    return LLMError("error", repr(exc)[:200])


def _url(exc: openai.APIError) -> str:
    request = getattr(exc, "request", None)
    return str(request.url) if request is not None else "the LLM server"


def _server_says(exc: openai.APIStatusError) -> str:
    """The message in an error body: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error")
        said = (inner.get("message") if isinstance(inner, dict) else inner) or body.get("detail") or body.get("message")
        if said:
            return said if isinstance(said, str) else json.dumps(said)
    return str(body) if body else str(exc)


def label_probs_from_logprobs(logprobs: dict[str, Any] | None, labels: list[str]) -> list[float]:
    """P(label) from an OpenAI/vLLM `logprobs` object of a one-token answer: the top_logprobs of the first token,
    summed over the spellings of each label (' A' and 'A'), renormalized over the labels."""
    try:
        top = logprobs["content"][0]["top_logprobs"]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        raise LLMError("bad_output", "the server returned no logprobs (is llm_server=vllm right?)") from None
    mass = dict.fromkeys(labels, 0.0)
    for entry in top:
        token = str(entry.get("token", "")).strip()
        if token in mass and entry.get("logprob") is not None:
            mass[token] += math.exp(float(entry["logprob"]))
    return renormalize([mass[label] for label in labels])


def response_format(schema: dict[str, Any], name: str = "ranking") -> dict[str, Any]:
    """vLLM's (and OpenAI's) structured-output request field."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


class ChatCompletions(ChatOpenAI):
    """ChatOpenAI that sends the token limit as `max_tokens`: langchain-openai renames it to OpenAI's newer
    `max_completion_tokens`, which not every OpenAI-compatible server reads (one that ignores it generates up to
    its own default: 1024 tokens for transformers serve). vLLM and transformers serve read both."""

    def _get_request_payload(self, input_, *, stop=None, **kwargs) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload


class OpenAICompatLLM(LLM):
    can_stream = True
    can_batch = False

    def __init__(self, settings: Settings):
        if not settings.llm_base_url:
            raise ValueError("llm=openai needs RAGREC_LLM_BASE_URL (e.g. http://localhost:8000/v1)")
        self.settings = settings
        self.name = settings.llm_model
        self.vllm = settings.llm_server == "vllm"
        self.supports_logprobs = self.vllm
        self.supports_schema = self.vllm
        self.chat = self._new_chat(http_client=httpx.Client(timeout=settings.llm_timeout))
        self._sem = threading.BoundedSemaphore(settings.llm_concurrency)
        # the async client's connections (and a semaphore) belong to the event loop that made them: one per loop,
        # so llm_concurrency bounds all streams of a loop (the API's), not each call
        self._async_chats: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._async_sems: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _new_chat(self, **clients) -> ChatOpenAI:
        settings = self.settings
        return ChatCompletions(
            **clients,
            model=settings.llm_model,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout,
            max_retries=0,  # ragrec.retry decides
            use_responses_api=False,  # chat completions: what vLLM and transformers serve speak
            stream_usage=True,
            temperature=0.0,
            max_tokens=settings.describe_max_tokens,
        )

    def _async_chat(self) -> ChatOpenAI:
        loop = asyncio.get_running_loop()
        if loop not in self._async_chats:
            # langchain-openai's default async client is shared process-wide (lru_cache), bound to the first loop
            client = httpx.AsyncClient(timeout=self.settings.llm_timeout)
            self._async_chats[loop] = self._new_chat(http_async_client=client)
        return self._async_chats[loop]

    # --- request options (what goes on the wire; unit-tested as shape tests) -------------------------------
    def verbalizer_options(self) -> dict[str, Any]:
        return {"max_tokens": 1, "logprobs": True, "top_logprobs": self.settings.llm_top_logprobs}

    def complete_options(self, max_tokens: int, schema: dict[str, Any] | None) -> dict[str, Any]:
        options: dict[str, Any] = {"max_tokens": max_tokens}
        if schema is not None and self.supports_schema:
            options["response_format"] = response_format(schema)
        return options

    # --- calls -----------------------------------------------------------------------------------------------
    def _invoke(self, messages: list[BaseMessage], **options):
        with self._sem:
            try:
                for attempt in retrying(self.settings.llm_retries, _transient):
                    with attempt:
                        return self.chat.invoke(messages, **options)
            except Exception as exc:  # noqa: BLE001
                raise as_llm_error(exc) from exc

    def label_probs(self, messages: list[BaseMessage], labels: list[str]) -> list[float]:
        if not self.supports_logprobs:
            raise LLMError("unsupported", "llm_server=generic: no logprobs; use rerank_method=listwise")
        reply = self._invoke(messages, **self.verbalizer_options())
        return label_probs_from_logprobs(reply.response_metadata.get("logprobs"), labels)

    def complete(self, messages: list[BaseMessage], *, max_tokens: int, schema: dict[str, Any] | None = None) -> str:
        reply = self._invoke(messages, **self.complete_options(max_tokens, schema))
        if not isinstance(reply.content, str):
            raise LLMError("bad_output", "the server returned no text")
        return reply.content

    async def _collect(self, messages: list[BaseMessage], max_tokens: int) -> str:
        parts = []
        async for chunk in self._async_chat().astream(messages, max_tokens=max_tokens):
            parts.append(chunk.content if isinstance(chunk.content, str) else "")
        return "".join(parts).strip()

    async def _stream_one(self, messages: list[BaseMessage], max_tokens: int, sem: asyncio.Semaphore) -> str:
        """One streamed answer within llm_timeout in total, retried as ragrec.retry says (the same policy as the
        sync calls, with asyncio's sleep)."""
        policy = retrying(self.settings.llm_retries, _transient)
        async with sem:
            async for attempt in AsyncRetrying(stop=policy.stop, wait=policy.wait, retry=policy.retry,
                                               reraise=True):
                with attempt:
                    return await asyncio.wait_for(self._collect(messages, max_tokens), self.settings.llm_timeout)
        raise AssertionError("unreachable: AsyncRetrying re-raises the last error")

    async def stream_many(self, prompts: list[list[BaseMessage]], *, max_tokens: int, head: int = 0):
        # `head` needs nothing here: the requests go out in order, and the server batches them as they come
        sem = self._async_sems.setdefault(asyncio.get_running_loop(),
                                          asyncio.Semaphore(self.settings.llm_concurrency))

        async def one(i: int, messages: list[BaseMessage]):
            try:
                return i, await self._stream_one(messages, max_tokens, sem)
            except Exception as exc:  # noqa: BLE001  (per prompt: the others go on)
                return i, as_llm_error(exc)

        tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(prompts)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for t in tasks:
                t.cancel()
