"""The LLM interface the generation stage uses: one small class per backend, chosen by name in Settings.

A backend does three things, each declared by a capability flag (as in simonw/llm):

- `label_probs(messages, labels)`: the probability of each label as the very next token (the verbalizer of
  LlamaRec): needs `supports_logprobs`.
- `complete(messages, max_tokens, schema)`: one answer as text; with `supports_schema` the backend enforces the JSON
  schema (vLLM's `response_format`), otherwise the caller parses leniently.
- `stream_many(prompts, max_tokens, head)`: several answers, each yielded as `(index, text)` as soon as it is
  ready (`can_batch`: batched forward passes, the first `head` prompts in a small batch of their own; otherwise
  concurrent requests).

Every failure surfaces as an `LLMError` with a short `reason` (the metric label), so callers can fall back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, AsyncIterator

from langchain_core.messages import BaseMessage


class LLMError(RuntimeError):
    """The LLM could not answer usefully; `reason` is one of: timeout, connection, http_error, bad_output,
    unsupported, error."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class LLM(ABC):
    name: str = "llm"  # the model's name: part of every description's cache key
    can_stream: bool = False
    can_batch: bool = False
    supports_logprobs: bool = False
    supports_schema: bool = False

    def warm(self) -> None:  # noqa: B027  (deliberately optional)
        """Load whatever is slow to load (a model into memory); a no-op where there is nothing to load."""

    @abstractmethod
    def label_probs(self, messages: list[BaseMessage], labels: list[str]) -> list[float]:
        """P(label is the next token) for each label, renormalized over the labels."""

    @abstractmethod
    def complete(self, messages: list[BaseMessage], *, max_tokens: int, schema: dict[str, Any] | None = None) -> str:
        ...

    @abstractmethod
    def stream_many(self, prompts: list[list[BaseMessage]], *, max_tokens: int,
                    head: int = 0) -> AsyncIterator[tuple[int, str]]:
        """Yield (index into prompts, answer) once per prompt, in the order they finish. A prompt that failed
        yields an `LLMError` instead of a str, so one failure does not lose the others. A batching backend
        answers the first `head` prompts as a batch of their own first, so a stream starts sooner."""


class NoLLM(LLM):
    """`llm=none`: nothing to ask; the stages use retrieval order and template descriptions."""

    name = "none"

    def label_probs(self, messages, labels):
        raise LLMError("unsupported", "no LLM configured (llm=none)")

    def complete(self, messages, *, max_tokens, schema=None):
        raise LLMError("unsupported", "no LLM configured (llm=none)")

    async def stream_many(self, prompts, *, max_tokens, head=0):
        for i in range(len(prompts)):
            yield i, LLMError("unsupported", "no LLM configured (llm=none)")


def renormalize(probs: list[float]) -> list[float]:
    """Label probabilities summing to 1; garbage (no mass on any label, NaN) is an LLMError."""
    total = sum(probs)
    if not total > 1e-12 or total != total:  # also catches NaN
        raise LLMError("bad_output", "the model put no probability on any candidate label")
    return [p / total for p in probs]
