"""The generation stage: LLM reranking of the top candidates and grounded, checked personalized descriptions.

    llm = get_llm(settings)                        # local (in-process CPU), openai (vLLM, transformers serve...), none
    llm.warm()                                     # load the local model now rather than on the first request
    reranker = get_reranker(settings, llm)         # the rerank stage: Reranked(items, reranked, error)
    describer = Describer(llm, settings, Vocabulary.from_store(store, settings))
    items = describer.describe(history, candidates)          # or: async for item in describer.astream(...)

Backends are small classes behind one interface (`base.LLM`) with capability flags, chosen by Settings.llm.
"""

from __future__ import annotations

from ragrec.config import Settings
from ragrec.generation.base import LLM, LLMError, NoLLM
from ragrec.generation.describe import Described, Describer, Vocabulary
from ragrec.generation.rerank import LLMReranker, get_reranker

BACKENDS = ("local", "openai", "none")

__all__ = ["LLM", "LLMError", "NoLLM", "Described", "Describer", "Vocabulary", "LLMReranker", "get_llm",
           "get_reranker", "get_describer", "BACKENDS"]


def get_llm(settings: Settings, name: str | None = None) -> LLM:
    """The backend named by `name` (the CLI's --llm) or Settings.llm."""
    name = name or settings.llm
    if name == "local":
        from ragrec.generation.local import LocalLLM

        return LocalLLM(settings)
    if name == "openai":
        from ragrec.generation.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(settings)
    if name == "none":
        return NoLLM()
    raise ValueError(f"unknown LLM backend {name!r}: choose one of {', '.join(BACKENDS)} (RAGREC_LLM or --llm)")


def get_describer(settings: Settings, store=None, llm: LLM | None = None, kind: str | None = None) -> Describer:
    """A Describer with the catalog's titles and genres (read from `store`, if given) for the checks."""
    vocabulary = Vocabulary.from_store(store, settings) if store is not None else None
    return Describer(llm or get_llm(settings), settings, vocabulary, kind)
