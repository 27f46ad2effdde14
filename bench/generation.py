"""Generation benchmark: the local LLM's latency (cold load, rerank of 20 candidates by verbalizer and listwise,
10 descriptions with the first streamed), the same through `transformers serve` (the OpenAI protocol's overhead),
and what the rerank and the descriptions do on real MovieLens users.

    python -m bench.generation latency [--repeats 10] [--quantize none]
    python -m bench.generation quality [--users 100] [--describe-users 50]

quality: MovieLens ml-latest-small, the evaluation's temporal split; the candidates are item-kNN's top 20 (the
evaluation's baseline: fitting ragrec's own path takes minutes, and `ragrec eval --rerank` measures that one);
each user's history shown to the LLM = their 5 latest items. The LLM scores each user's 20 once; the fusion weight
is tuned on validation users and NDCG@10 compared on test users. Descriptions: the test top 5 of a fixed sample of
users, evidence = the user's 2 latest items.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ragrec.config import Settings
from ragrec.generation import Describer, Vocabulary, get_llm
from ragrec.generation import prompts as P
from ragrec.generation.models import BUNDLED_SMOLLM2, resolve_llm_model
from ragrec.generation.rerank import LLMReranker
from ragrec.retrieval.models import Candidate, Evidence, History, HistoryItem, RecommendRequest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "models"


def movies() -> dict[str, dict]:
    from ragrec.demo import DEMO_CATALOG

    with open(DEMO_CATALOG, encoding="utf-8") as f:
        return {str(m["movieId"]): m for m in map(json.loads, f)}


def candidate(m: dict, score: float, evidence: list[dict] = ()) -> Candidate:
    text = "\n".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in
                     (("title", m["title"]), ("genres", m["genres"]), ("tags", m["tags"])) if v)
    return Candidate(item_id=str(m["movieId"]), score=score, text=text, path="content",
                     payload={k: m[k] for k in ("title", "year", "genres", "tags") if k in m},
                     evidence=[Evidence(item_id=str(e["movieId"]), title=e["title"], similarity=0.6) for e in evidence])


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms (min {min(samples) * 1000:.0f}, n={len(samples)})"


def load() -> str:
    """Uptime's load averages: the machine is shared."""
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


# --- latency -------------------------------------------------------------------------------------------------------
def cold_load(quantize: str) -> tuple[float, float]:
    """A fresh process: (seconds to import ragrec.generation, torch and transformers; seconds to load the cached
    model and tokenizer, no conversion, and quantize it)."""
    code = ("import time; t = time.perf_counter(); from pathlib import Path; from ragrec.config import Settings; "
            "from ragrec.generation import get_llm; import torch, transformers; "
            "from transformers import AutoModelForCausalLM, AutoTokenizer; i = time.perf_counter() - t; "
            f"llm = get_llm(Settings(llm_cache_dir=Path({str(CACHE)!r}), llm_quantize={quantize!r})); "
            "t = time.perf_counter(); llm.warm(); print(i, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    imports, model = out.stdout.strip().splitlines()[-1].split()
    return float(imports), float(model)


def time_describe(describer: Describer, history: History, items: list[Candidate]) -> tuple[float, ...]:
    """(wall seconds to the first streamed description, to all of them, how many were the LLM's own, CPU seconds
    to the first, to all). On a shared machine the CPU seconds of this 1-thread work estimate an idle machine's
    wall time."""
    async def run():
        t, c, first, first_cpu, sources = time.perf_counter(), time.process_time(), None, None, []
        async for item in describer.astream(history, items):
            if first is None:
                first, first_cpu = time.perf_counter() - t, time.process_time() - c
            sources.append(item.description_source)
        return first, time.perf_counter() - t, sources.count("llm"), first_cpu, time.process_time() - c

    return asyncio.run(run())


def latency(repeats: int, quantize: str) -> None:
    model_dir = resolve_llm_model(BUNDLED_SMOLLM2, CACHE)
    cat = movies()
    liked = [cat[i] for i in ("1", "2355", "3114", "4886", "6377")]
    history = History(user_id="u", items=[HistoryItem(item_id=str(m["movieId"]), title=m["title"]) for m in liked])
    ids = ["2", "3", "6", "10", "11", "32", "47", "50", "260", "296", "318", "356", "480", "527", "588", "589",
           "593", "595", "780", "1196"]
    items = [candidate(cat[i], 0.9 - n * 0.02, liked[:2]) for n, i in enumerate(ids)]
    print(f"load average before: {load()}; local model: llm_quantize={quantize}")
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), llm_cache_dir=CACHE, describe_cache_size=0,
                        llm_quantize=quantize)
    loads = [cold_load(quantize) for _ in range(3)]
    print("cold start, fresh process: imports", ms([a for a, _ in loads]), "| model load (cached safetensors)",
          ms([b for _, b in loads]), "| total", ms([a + b for a, b in loads]))
    llm = get_llm(settings)
    llm.warm()
    verbalizer = LLMReranker(llm, settings, method="verbalizer")
    listwise = LLMReranker(llm, settings, method="listwise")
    request = RecommendRequest(user_id="u")

    prompt = P.VERBALIZER.format_messages(history=P.history_block(history.items),
                                          candidates=P.candidates_block(items, P.LABELS))
    print("verbalizer prompt tokens:", len(llm._tokens(prompt)))
    verbalizer(request, history, items)  # warm-up
    t, cpu = [], []
    for _ in range(repeats):
        s, c = time.perf_counter(), time.process_time()
        assert verbalizer(request, history, items).reranked
        t.append(time.perf_counter() - s)
        cpu.append(time.process_time() - c)
    print("local verbalizer, 20 candidates:", ms(t), "| CPU", ms(cpu))
    t = []
    for _ in range(max(2, repeats // 3)):
        s = time.perf_counter()
        out = listwise(request, history, items)
        t.append(time.perf_counter() - s)
    print("local listwise, 20 candidates:", ms(t), "| reranked:", out.reranked, out.error)
    for first_batch in (settings.describe_first_batch, 0):  # the default, then one batch for comparison
        describer = Describer(llm, settings.model_copy(update={"describe_first_batch": first_batch}),
                              Vocabulary.from_payloads(cat.values()))
        runs = [time_describe(describer, history, items[:10]) for _ in range(3)]
        print(f"local 10 descriptions, describe_first_batch={first_batch}: first", ms([r[0] for r in runs]),
              "| all", ms([r[1] for r in runs]), "| LLM-written", [r[2] for r in runs], "| CPU first",
              ms([r[3] for r in runs]), "| CPU all", ms([r[4] for r in runs]))
    t0 = time.perf_counter()
    cached = Describer(llm, settings.model_copy(update={"describe_cache_size": 100}))
    time_describe(cached, history, items[:10])
    s = time.perf_counter()
    time_describe(cached, history, items[:10])
    print(f"cached 10 descriptions: {(time.perf_counter() - s) * 1000:.1f} ms (first pass incl. "
          f"{time.perf_counter() - t0:.1f} s)")
    # one completion of the same prompt, in-process and through the server: the protocol's own overhead
    short = P.DESCRIBE.format_messages(kind="movie", facts="Heat (1995) is an action, crime and thriller movie.",
                                       liked="", title="Heat")
    t = []
    for _ in range(repeats):
        s = time.perf_counter()
        llm.complete(short, max_tokens=1)
        t.append(time.perf_counter() - s)
    print("local, one 1-token completion:", ms(t))

    sys.path.insert(0, str(REPO / "tests"))  # the server helpers the tests use (tests/conftest.py)
    from conftest import free_port, start_serve, stop

    port = free_port()
    s = time.perf_counter()
    proc = start_serve(model_dir, port)
    print(f"transformers serve start + model load: {time.perf_counter() - s:.1f} s")
    try:
        remote = Settings(data_dir=settings.data_dir, llm="openai", llm_base_url=f"http://127.0.0.1:{port}/v1",
                          llm_model=str(model_dir), llm_timeout=300, describe_cache_size=0)
        rllm = get_llm(remote)
        t = []
        for _ in range(repeats):
            s = time.perf_counter()
            rllm.complete(short, max_tokens=1)
            t.append(time.perf_counter() - s)
        print("serve, one 1-token completion:", ms(t))
        t = []
        for _ in range(max(2, repeats // 3)):
            s = time.perf_counter()
            out = LLMReranker(rllm, remote)(request, history, items)
            t.append(time.perf_counter() - s)
        print("serve listwise (generic), 20 candidates:", ms(t), "| reranked:", out.reranked, out.error)
        rdesc = Describer(rllm, remote, Vocabulary.from_payloads(cat.values()))
        runs = [time_describe(rdesc, history, items[:10]) for _ in range(2)]
        print("serve 10 descriptions (concurrency 8): first", ms([r[0] for r in runs]), "| all",
              ms([r[1] for r in runs]), "| LLM-written", [r[2] for r in runs])
    finally:
        stop(proc)
    print(f"load average after: {load()}")


# --- quality on real users -------------------------------------------------------------------------------------------
def quality(n_users: int, describe_users: int, seed: int = 0, n_rerank: bool = True) -> None:
    from ragrec.evaluation.baselines import ItemKNN
    from ragrec.evaluation.data import load_movielens
    from ragrec.evaluation.generation import (description_metrics, markdown, rerank_sample, rerank_table,
                                              tune_rerank_weight)
    from ragrec.evaluation.protocol import temporal_split
    print(f"load average before: {load()}")
    t0 = time.perf_counter()
    ds = load_movielens()
    split = temporal_split(ds)
    cat = movies()
    users = np.random.default_rng(seed).choice(split.eval_users(), size=n_users, replace=False)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), llm_cache_dir=CACHE)
    llm = get_llm(settings)
    llm.warm()
    reranker = LLMReranker(llm, settings)
    samples = {}
    for phase in ("validation", "test"):
        train = split.fit_data(phase)
        knn = ItemKNN(neighbors=20)
        knn.fit(train)
        scores = knn.score(users).astype(np.float64)
        out = []
        for row, u in enumerate(users):
            hist, stamps = train.history(int(u))
            scores[row, hist] = -np.inf
            top = np.argsort(-scores[row])[:20]
            recent = [str(int(train.item_ids[i])) for i in hist[np.argsort(stamps, kind="stable")][::-1][:5]]
            history = History(user_id=str(u), items=[HistoryItem(item_id=i, title=cat[i]["title"])
                                                     for i in recent if i in cat])
            items = [candidate(cat[str(int(train.item_ids[i]))], float(scores[row, i]),
                               [cat[i] for i in recent[:2] if i in cat]) for i in top]
            target = str(int(train.item_ids[split.targets(phase)[u]]))
            out.append((history, items, target))
        samples[phase] = out
        print(f"{phase}: candidates ready ({time.perf_counter() - t0:.0f} s)")
    scored = {}
    for phase, rows in (samples.items() if n_rerank else ()):
        s = time.perf_counter()
        scored[phase] = [rerank_sample(reranker, h, items, target) for h, items, target in rows]
        print(f"{phase}: LLM scored {len(rows)} users x 20 in {time.perf_counter() - s:.0f} s")
    test = None
    if n_rerank:
        best = tune_rerank_weight(scored["validation"])
        print("validation:", json.dumps(rerank_table(scored["validation"]), indent=None))
        print(f"best validation weight: {best['weight']} (NDCG@10 {best['ndcg']:.4f})")
        weights = sorted({0.0, best["weight"], 0.1, 0.3, 1.0})
        test = rerank_table(scored["test"], weights)
    hit = sum(r[2] in {c.item_id for c in r[1]} for r in samples["test"])
    print(f"test: target among the 20 candidates for {hit}/{len(users)} users")
    vocab = Vocabulary.from_payloads(cat.values())
    describer = Describer(llm, settings, vocab)
    results = []
    s = time.perf_counter()
    for history, items, _ in samples["test"][:describe_users]:
        results += describer.describe_results(history, items[:5])
    print(f"descriptions: {len(results)} in {time.perf_counter() - s:.0f} s")
    metrics = description_metrics(results)
    print(markdown(test, metrics, users=describe_users, model=f"{BUNDLED_SMOLLM2} (local, verbalizer)"))
    for r in results[:15]:
        print(f"- [{r.item.description_source}] {r.raw!r} {r.check.failed if r.check else r.error}")
    print(f"load average after: {load()}; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--repeats", type=int, default=10)
    lat.add_argument("--quantize", choices=["auto", "int8", "none"], default=Settings().llm_quantize,
                     help="the local model's llm_quantize (none: the float model, as before int8)")
    q = sub.add_parser("quality")
    q.add_argument("--users", type=int, default=100)
    q.add_argument("--describe-users", type=int, default=50)
    q.add_argument("--no-rerank", action="store_true", help="descriptions only")
    args = parser.parse_args()
    if args.what == "latency":
        latency(args.repeats, args.quantize)
    else:
        quality(args.users, args.describe_users, n_rerank=not args.no_rerank)
