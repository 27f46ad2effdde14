"""`llm=local`: a transformers causal LM in-process on CPU (default: the bundled SmolLM2-135M-Instruct).

The model is loaded once per process and model directory, lazily or by `warm()`. A lock serializes calls: the
model is not re-entrant and two concurrent forward passes on 2 cores only slow each other down.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from ragrec.config import Settings
from ragrec.devices import offline_quiet_transformers
from ragrec.generation.base import LLM, LLMError, renormalize
from ragrec.generation.models import resolve_llm_model

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def as_chat(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages -> the role/content dicts of a chat template."""
    return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]


@cache
def cpu_flags() -> set[str]:
    try:
        return set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return set()


def cpu_has_bf16() -> bool:
    """Native bf16 matmuls (avx512_bf16 or AMX); elsewhere bf16 is emulated and slower than fp32."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_has_int8_matmul() -> bool:
    """VNNI or AMX int8: where torch's int8 matmul (`torch._int_mm`) has a fast kernel. On a CPU with AVX2 only it
    took 33x float32's time for the bundled model's layers (bench/RESULTS.md): int8 there is a slowdown."""
    return bool({"avx512_vnni", "amx_int8"} & cpu_flags())


def resolve_quantize(setting: str) -> str:
    if setting == "auto":
        return "int8" if cpu_has_int8_matmul() else "none"
    return setting


def resolve_dtype(setting: str, quantize: str = "none") -> str:
    if quantize == "int8":
        return "float32"  # what the int8 layers take and give
    if setting == "auto":
        return "bfloat16" if cpu_has_bf16() else "float32"
    return setting


class _Loaded:
    def __init__(self, path: str, threads: int | None, dtype: str, quantize: str, cache_dir: Path | None = None):
        offline_quiet_transformers()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
        self.eos = self.tokenizer.eos_token_id
        self.threads = threads
        self.lock = threading.Lock()
        if quantize == "int8":
            from ragrec.generation.quantize import cache_file, quantize_int8

            with self.running():  # with llm_threads, as every call
                quantize_int8(self.model, cache_file(Path(path), cache_dir) if cache_dir else None)

    @contextmanager
    def running(self):
        """One call at a time, with the LLM's own thread count (torch's is process-wide: put it back after, so
        the embedder keeps its own), and no autograd."""
        with self.lock:
            before = self.torch.get_num_threads()
            if self.threads:
                self.torch.set_num_threads(self.threads)
            try:
                with self.torch.inference_mode():
                    yield
            finally:
                self.torch.set_num_threads(before)


_models: dict[tuple[str, int | None, str, str], _Loaded] = {}
_models_lock = threading.Lock()


class _Finished:
    """A stopping criterion that never stops anything: it reports each row the first time it emits EOS, so
    a batched `generate` can hand out answers as they finish (the EOS criterion itself does the stopping)."""

    def __init__(self, prompt_len: int, eos: int, on_row: Callable[[int, list[int]], None]):
        self.prompt_len, self.eos, self.on_row = prompt_len, eos, on_row
        self.done: set[int] = set()

    def __call__(self, input_ids, scores, **kwargs):
        generated = input_ids[:, self.prompt_len:]
        for row in (generated == self.eos).any(dim=1).nonzero().flatten().tolist():
            if row not in self.done:
                self.done.add(row)
                tokens = generated[row].tolist()
                self.on_row(row, tokens[: tokens.index(self.eos)])
        return input_ids.new_zeros(input_ids.shape[0], dtype=bool)


MIN_SHARED_PREFIX = 16  # shorter common prefixes are not worth the extra forward pass


def _shared_prefix(rows: list[list[int]]) -> int:
    """How many leading tokens every row shares, leaving each row at least one token of its own (generation
    starts from a row's last prompt token); 0 for one row or a prefix shorter than MIN_SHARED_PREFIX."""
    if len(rows) < 2:
        return 0
    n = min(len(os.path.commonprefix(rows)), min(len(r) for r in rows) - 1)  # commonprefix takes any sequences
    return n if n >= MIN_SHARED_PREFIX else 0


def _layout(rows: list[list[int]], shared: int, pad: int):
    """(input_ids, attention_mask): each row as its first `shared` tokens | padding | the rest. With shared=0
    that is left padding; generate derives positions from the mask, so the padding takes no position."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        own = len(r) - shared
        ids[i, :shared], mask[i, :shared] = torch.tensor(r[:shared], dtype=torch.long), 1
        ids[i, width - own:], mask[i, width - own:] = torch.tensor(r[shared:], dtype=torch.long), 1
    return ids, mask


class LocalLLM(LLM):
    can_stream = True
    can_batch = True
    supports_logprobs = True  # the logits themselves
    supports_schema = False

    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = settings.llm_model
        self._cache_dir = settings.llm_cache_dir or settings.data_dir / "models"

    # --- loading ---------------------------------------------------------------------------------------------
    def model_key(self) -> tuple[str, int | None, str, str]:
        """(model dir, threads, dtype, quantization): one loaded model per distinct key in a process."""
        s = self.settings
        path = resolve_llm_model(s.llm_model, self._cache_dir)
        quantize = resolve_quantize(s.llm_quantize)
        return str(path.resolve()), s.llm_threads, resolve_dtype(s.llm_dtype, quantize), quantize

    @property
    def loaded(self) -> _Loaded:
        key = self.model_key()
        with _models_lock:
            if key not in _models:
                _models[key] = _Loaded(*key, cache_dir=self._cache_dir)
            return _models[key]

    def warm(self) -> None:
        self.loaded  # noqa: B018  (loads the model)

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    def _tokens(self, prompt: list[BaseMessage]) -> list[int]:
        tok = self.loaded.tokenizer
        text = tok.apply_chat_template(as_chat(prompt), tokenize=False, add_generation_prompt=True)
        return tok(text, add_special_tokens=False)["input_ids"]

    # --- the interface ---------------------------------------------------------------------------------------
    def label_token_ids(self, labels: list[str]) -> list[list[int]]:
        """The token ids that spell each label as the next token: the bare letter and the letter after a
        space. A label that is not a single token cannot be scored by one next-token probability."""
        tok = self.loaded.tokenizer
        ids = []
        for label in labels:
            variants = [tok.encode(v, add_special_tokens=False) for v in (label, " " + label)]
            if any(len(v) != 1 for v in variants):
                raise LLMError("unsupported", f"label {label!r} is not one token for {self.name}")
            ids.append(sorted({v[0] for v in variants}))
        return ids

    def label_probs(self, messages: list[BaseMessage], labels: list[str]) -> list[float]:
        m = self.loaded
        ids = self.label_token_ids(labels)
        with m.running():
            logits = m.model(input_ids=m.torch.tensor([self._tokens(messages)]), logits_to_keep=1).logits[0, -1]
        probs = m.torch.softmax(logits.float(), dim=-1)
        return renormalize([float(probs[i].sum()) for i in ids])

    def complete(self, messages: list[BaseMessage], *, max_tokens: int, schema: dict[str, Any] | None = None) -> str:
        return self._generate([messages], max_tokens, lambda row, text: None)[0]

    def _generate(self, prompts: list[list[BaseMessage]], max_tokens: int,
                  on_row: Callable[[int, str], None]) -> list[str]:
        """Greedy, batched; `on_row(i, text)` as each row finishes (EOS), the rest when generation ends.

        The prompts' common token prefix (the system prompt and the template's opening, ~40 of a description's
        ~100 tokens) goes through the model once and its KV cache is copied to every row (prefix caching, as vLLM
        does): each row is laid out as prefix | padding | its own suffix, and the attention mask hides the padding.
        The prompt pass is compute-bound on CPU, so this cuts it by the tokens saved."""
        m = self.loaded
        rows = [self._tokens(p) for p in prompts]
        shared = _shared_prefix(rows)
        input_ids, mask = _layout(rows, shared, m.tokenizer.pad_token_id)
        out: dict[int, str] = {}

        def finished(row: int, tokens: list[int]) -> None:
            out[row] = m.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            on_row(row, out[row])

        prompt_len = input_ids.shape[1]
        watcher = _Finished(prompt_len, m.eos, finished)
        with m.running():
            cache = None
            if shared:
                from transformers import DynamicCache

                cache = DynamicCache(config=m.model.config)
                m.model(input_ids=input_ids[:1, :shared], cache=cache)
                cache.batch_repeat_interleave(len(rows))
            generated = m.model.generate(
                input_ids=input_ids, attention_mask=mask, cache=cache, max_new_tokens=max_tokens, do_sample=False,
                stopping_criteria=[watcher], eos_token_id=m.eos, pad_token_id=m.tokenizer.pad_token_id,
            )
        for row in range(len(prompts)):
            if row not in out:  # ran out of tokens before EOS
                finished(row, [t for t in generated[row, prompt_len:].tolist() if t != m.eos])
        return [out[i] for i in range(len(prompts))]

    async def stream_many(self, prompts: list[list[BaseMessage]], *, max_tokens: int, head: int = 0):
        """The first `head` prompts are generated as a batch of their own: a batch's first answer waits for the
        prompt pass of every row (~0.1 s each on one core) and then its own decoding, so a small first batch
        streams its first answer early, and the rest follow as one batch."""
        if not prompts:
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        batches = [(0, prompts[:head]), (head, prompts[head:])] if 0 < head < len(prompts) else [(0, prompts)]

        def run() -> None:
            try:
                for first, batch in batches:
                    self._generate(batch, max_tokens, lambda row, text, first=first:
                                   loop.call_soon_threadsafe(queue.put_nowait, (first + row, text)))
            except Exception as exc:  # noqa: BLE001  (handed to the consumer, per prompt)
                loop.call_soon_threadsafe(queue.put_nowait, (None, LLMError("error", repr(exc))))

        task = loop.run_in_executor(None, run)
        seen: set[int] = set()
        try:
            while len(seen) < len(prompts):
                row, text = await queue.get()
                if row is None:  # generation failed: every prompt not yet answered gets the error
                    for i in range(len(prompts)):
                        if i not in seen:
                            seen.add(i)
                            yield i, text
                    break
                seen.add(row)
                yield row, text
        finally:
            await task
