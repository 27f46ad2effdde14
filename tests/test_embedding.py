"""Real-model embedding tests (bundled all-MiniLM-L6-v2, no mocks): shape, norm, semantics, backend agreement."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragrec.config import Settings  # noqa: E402
from ragrec.embedding import (  # noqa: E402
    SETTINGS_FILE,
    TOKENIZER_FILE,
    get_embedder,
    model_cache_dir,
    onnx_embedder,
)

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
    tmp_path, torch_embedder, catalog_texts, backend, quantization, packages, floor, caplog
):
    absent = [p for p in packages if importlib.util.find_spec(p) is None]
    if absent:
        pytest.skip(f"embedding_backend={backend!r} quantization={quantization!r} needs the optional package(s) "
                    f"{', '.join(absent)}, not installed here")
    settings = _settings(tmp_path, embedding_backend=backend, embedding_quantization=quantization)
    embedder = get_embedder(settings)
    assert (embedder.name, embedder.dim) == (torch_embedder.name, torch_embedder.dim)  # same vectors: no rebuild
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]  # onnxruntime's advice, silenced
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


TRICKY = ["", "x", "Ünïcödé café — naïve résumé 日本語 🎬", "word " * 600,  # the last one is truncated
          "title: Toy Story (1995)\ngenres: Animation, Children\ntags: pixar"]


@pytest.mark.slow
def test_a_cached_export_loads_without_torch(tmp_path, torch_embedder, catalog_texts):
    """The export keeps the model's tokenizer: a later process tokenizes exactly as sentence-transformers does and
    imports neither torch nor sentence-transformers (what makes `ragrec serve` start in ~2 s)."""
    absent = [p for p in ("onnxruntime", "onnx") if importlib.util.find_spec(p) is None]
    if absent:
        pytest.skip(f"embedding_backend='onnx' needs {', '.join(absent)}, not installed here")
    cache = tmp_path / "shared-models"  # embedding_cache_dir: the export lives there, not in the data dir
    settings = _settings(tmp_path / "data", embedding_backend="onnx", embedding_cache_dir=cache)
    embedder = onnx_embedder(settings)
    folder = model_cache_dir(settings, "onnx") / "fp32"
    assert folder.is_relative_to(cache) and not (tmp_path / "data" / "models").exists()
    st = torch_embedder._model
    expected = st.tokenizer(TRICKY, padding=True, truncation=True, max_length=st.max_seq_length, return_tensors="np")
    got = embedder._tokens(TRICKY)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(got[name], expected[name])
    texts = catalog_texts[:8] + TRICKY
    vectors = embedder.embed(texts)
    assert (vectors * torch_embedder.embed(texts)).sum(axis=1).min() >= 0.9999

    # an export made before ragrec kept the tokenizer gains it on the next load, without being rebuilt
    graph = (folder / "model.onnx").stat().st_mtime_ns
    (folder / TOKENIZER_FILE).unlink()
    (folder / SETTINGS_FILE).unlink()
    onnx_embedder(settings)
    assert (folder / TOKENIZER_FILE).exists() and (folder / "model.onnx").stat().st_mtime_ns == graph

    code = (
        "import json, sys\n"
        "from ragrec.config import Settings\n"
        "from ragrec.embedding import get_embedder\n"
        f"e = get_embedder(Settings(data_dir={str(tmp_path / 'other')!r}, embedding_backend='onnx', "
        f"embedding_cache_dir={str(cache)!r}, _env_file=None))\n"
        f"v = e.embed({texts!r})\n"
        "print(json.dumps({'loaded': sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules), 'vectors': v.tolist()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    np.testing.assert_allclose(np.asarray(result["vectors"], dtype=np.float32), vectors, atol=1e-5)
