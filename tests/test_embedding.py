"""Real-model embedding tests (bundled all-MiniLM-L6-v2, no mocks): shape, norm, semantics, backend agreement."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragrec.config import Settings  # noqa: E402
from ragrec.embedding import get_embedder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MOVIELENS = ROOT.parent / "shared" / "datasets" / "movielens-latest-small"


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **kw)


@pytest.fixture(scope="module")
def torch_embedder(tmp_path_factory):
    return get_embedder(_settings(tmp_path_factory.mktemp("torch")))


@pytest.fixture(scope="module")
def catalog_texts() -> list[str]:
    """~50 catalog texts as ragrec embeds them: from MovieLens when shared/ is there, else a built-in sample."""
    if (MOVIELENS / "movies.csv").exists():
        spec = importlib.util.spec_from_file_location("ragrec_bench_embedding", ROOT / "bench" / "embedding.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        texts = bench.catalog_texts(MOVIELENS)
        return texts[:: max(1, len(texts) // 50)][:50]
    genres = ["Comedy", "Drama", "Horror", "Animation, Children", "Sci-Fi, Thriller", "Documentary", "Romance"]
    tags = ["pixar, fun", "dark, twist ending", "based on a book", "", "space, aliens, atmospheric", "boring"]
    texts = [f"title: Movie {i} ({1950 + i})\ngenres: {genres[i % len(genres)]}" for i in range(50)]
    return [text + (f"\ntags: {tags[i % 6]}" if tags[i % 6] else "") for i, text in enumerate(texts)]


def test_torch_gives_384d_unit_float32_rows(torch_embedder):
    vectors = torch_embedder.embed(["title: Toy Story (1995)\ngenres: Animation, Children", "x", "a " * 400])
    assert vectors.shape == (3, 384) and torch_embedder.dim == 384
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert torch_embedder.embed([]).shape == (0, 384)


def test_related_texts_are_closer_than_unrelated(torch_embedder):
    cat, kitten, invoice = torch_embedder.embed(
        ["a cat sleeping on the sofa", "a kitten napping on a couch", "quarterly tax invoice for the accountant"]
    )
    assert cat @ kitten > cat @ invoice + 0.2
    toy, animated, war = torch_embedder.embed([
        "title: Toy Story (1995)\ngenres: Adventure, Animation, Children, Comedy, Fantasy\ntags: pixar, fun",
        "title: Finding Nemo (2003)\ngenres: Adventure, Animation, Children, Comedy\ntags: pixar, ocean",
        "title: Saving Private Ryan (1998)\ngenres: Action, Drama, War\ntags: world war ii, violent",
    ])
    assert toy @ animated > toy @ war


def test_same_settings_share_one_loaded_model(tmp_path_factory, torch_embedder):
    assert get_embedder(_settings(tmp_path_factory.mktemp("again"))) is torch_embedder


def test_int8_on_torch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="openvino"):
        get_embedder(_settings(tmp_path, embedding_quantization="int8"))


BACKENDS = [
    pytest.param("openvino", "int8", ("openvino", "nncf"), 0.999, id="openvino-int8"),
    pytest.param("openvino", "none", ("openvino",), 0.9999, id="openvino-fp32"),
    pytest.param("onnx", "int8", ("onnxruntime", "onnx"), 0.99, id="onnx-int8"),
    pytest.param("onnx", "none", ("onnxruntime", "onnx"), 0.9999, id="onnx-fp32"),
]


@pytest.mark.slow
@pytest.mark.parametrize("backend, quantization, packages, floor", BACKENDS)
def test_exported_backend_matches_torch(
    tmp_path, torch_embedder, catalog_texts, backend, quantization, packages, floor
):
    absent = [p for p in packages if importlib.util.find_spec(p) is None]
    if absent:
        pytest.skip(f"embedding_backend={backend!r} quantization={quantization!r} needs the optional package(s) "
                    f"{', '.join(absent)}, not installed here")
    settings = _settings(tmp_path, embedding_backend=backend, embedding_quantization=quantization)
    embedder = get_embedder(settings)
    assert (embedder.name, embedder.dim) == (torch_embedder.name, torch_embedder.dim)  # same vectors: no rebuild
    vectors = embedder.embed(catalog_texts)
    assert vectors.shape == (len(catalog_texts), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * torch_embedder.embed(catalog_texts)).sum(axis=1)
    assert cosine.mean() >= floor, f"mean cosine {cosine.mean():.4f} vs torch fp32"
    assert cosine.min() >= 0.97
    # the exported model is cached under data_dir/models and reused, not rebuilt, by a fresh process' loader
    files = sorted(p for p in (tmp_path / "models").rglob("*") if p.is_file())
    assert files and not [p for p in (tmp_path / "models").rglob(".*") if p.is_dir()]  # no half-built temp dirs
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    from ragrec import embedding

    again = (embedding.openvino_embedder if backend == "openvino" else embedding.onnx_embedder)(settings)
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes
    # same batch, same vectors (onnx int8 scales activations per batch, so only the same batch is comparable)
    np.testing.assert_allclose(again.embed(catalog_texts), vectors, atol=1e-5)
