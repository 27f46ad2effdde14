"""Research for issue 14: one user representation that serves the temporal AND the random-holdout protocol.

numpy prototypes of what ragrec's one Qdrant query computes, measured with ragrec.evaluation's metrics on the
VALIDATION phase of both protocols (610 users each, full ranking); the test phase is computed once, at the end, for
the configuration chosen on validation (`--stage test`).

What is simulated, faithfully to the real path:
  * item vectors: `content` = the MiniLM vectors ragrec ingests for the bundled catalog (read back from Qdrant Edge
    after a real ingest); `collab` = implicit-ALS item factors with the fold-in baked in, Z = Y·L, L·Lᵀ = (YᵀY+λI)⁻¹,
    as ragrec/retrieval/collab.py (items without events have no collab vector);
  * user vectors: unit(Σ_j w_j v_{h_j}) per space, w_j = 2^(-later_j / half_life_events - days_before_last_j /
    half_life_days): a decayed sum, i.e. sufficient statistics with an O(d) update per event (profiles.py);
  * the query: every prefetch brings its top-N unseen items; the union is re-scored by every user vector (Dot), and
    the formula is Σ_k w_k · score_k + w_pop · ln(1 + popularity); items lacking a vector score 0 on it. int8/HNSW
    effects are left out (negligible, reports/eval-full.md).

The objective for one default: max over configurations of min(NDCG_T / ref_T, NDCG_R / ref_R) on validation, where
ref_P is the best baseline's validation NDCG@10 on protocol P (read from the harness report, every baseline tuned on
its own validation). The targets in these units: temporal > 1 (above every baseline), random >= 1.1.

Run (each stage caches what the next needs under bench/.cache):
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage collab     # ALS / low-rank EASE grid
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage designs    # user representations
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage fusion     # non-linear fusions of them
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage sparse     # EASE rows as sparse vectors
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage latency    # Qdrant Edge, 2 vs 3-4 prefetches
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage compare    # paired: chosen vs today / best
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage frontier   # temporal vs random trade-off
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage test       # the chosen one, once
  PYTHONPATH=. HF_HUB_OFFLINE=1 python -m bench.quality_research --stage timing     # ALS + rebuild at 100k users
Results go to reports/quality-research.json (merged per stage); the write-up is reports/quality-research.md.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ragrec.evaluation import metrics as M
from ragrec.evaluation.baselines import decay_matrix, ease_matrix
from ragrec.evaluation.data import DEFAULT_DATASET, Dataset, load_movielens
from ragrec.evaluation.protocol import Interactions, Split, make_split
from ragrec.evaluation.runner import per_user_metrics

CACHE = Path(__file__).resolve().parent / ".cache"
OUT = Path("reports/quality-research.json")
CONTENT = "content"  # ragrec's named vectors (ragrec.schema after the refactor)
COLLAB = "collab"
PROTOCOLS = ("temporal", "random")
K = 100

# decays: (half_life_events, half_life_days); None = no decay of that kind
SHORT = (1.0, 30.0)  # today's default
LONG = (None, None)


def log(msg: str) -> None:
    print(msg, flush=True)


# --- data -------------------------------------------------------------------------------------------------------


def catalog_content(ds: Dataset) -> np.ndarray:
    """The content vectors ragrec's real path uses: ingest the bundled catalog into a throwaway Qdrant Edge data dir
    with ragrec's own ingest and read the vectors back (cached by the catalog's hash)."""
    from ragrec.demo import DEMO_CATALOG, demo_options

    key = hashlib.sha256(DEMO_CATALOG.read_bytes()).hexdigest()[:12]
    path = CACHE / f"catalog-content-{key}.npy"
    if path.exists():
        return np.load(path)
    from ragrec.config import Settings
    from ragrec.embedding import get_embedder
    from ragrec.ingestion import ingest
    from ragrec.store import open_store

    with tempfile.TemporaryDirectory() as d:
        settings = Settings(data_dir=Path(d))
        store = open_store(settings)
        try:
            ingest(DEMO_CATALOG, demo_options(), settings=settings, store=store, embedder=get_embedder(settings))
            vectors = np.zeros((ds.n_items, 384), dtype=np.float32)
            for r in store.scroll(settings.items_collection, payload=["item_id"], vectors=[CONTENT]):
                vectors[ds.item_index([int(r.payload["item_id"])])[0]] = r.vectors[CONTENT]
        finally:
            store.close()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


@dataclass(eq=False)
class Phase:
    """One (protocol, phase): its fit data, evaluated users, the seen mask and popularity."""

    protocol: str
    phase: str
    split: Split
    train: Interactions = field(init=False)
    users: np.ndarray = field(init=False)
    seen: np.ndarray = field(init=False)
    logpop: np.ndarray = field(init=False)

    def __post_init__(self):
        self.train = self.split.fit_data(self.phase)
        self.users = self.split.eval_users()
        self.seen = self.train.matrix()[self.users].toarray() > 0
        # ragrec's popularity payload: distinct users per item in the event log
        self.logpop = np.log1p(np.asarray(self.train.matrix().sum(axis=0)).ravel()).astype(np.float32)

    @property
    def name(self) -> str:
        return f"{self.protocol}/{self.phase}"

    def weights(self, decay: tuple[float | None, float | None]) -> sp.csr_matrix:
        return decay_matrix(self.train, *decay)[self.users]

    def measure(self, ranked: np.ndarray) -> dict[str, Any]:
        per_user = per_user_metrics(ranked, self.split, self.phase, self.users)
        out: dict[str, Any] = {}
        for key in ("ndcg@10", "hr@10", "recall@100"):
            v = per_user[key]
            out[key] = float(v.mean())
            out[key + "_se"] = float(v.std(ddof=1) / np.sqrt(v.size))
        out["coverage@10"] = M.catalog_coverage_at_k(ranked, self.train.n_items, 10)
        out["_ndcg"] = per_user["ndcg@10"]  # per user, for paired differences (dropped from JSON)
        return out


def phases(ds: Dataset, phase: str, seed: int = 0) -> dict[str, Phase]:
    return {p: Phase(p, phase, make_split(ds, p, seed)) for p in PROTOCOLS}


# --- item vectors: collaborative ----------------------------------------------------------------------------------


@dataclass
class ItemSpace:
    """Item vectors of one collaborative space: `user_side` builds the user sum, `item_side` is searched (the
    same matrix for ALS; P and Q for a low-rank EASE). `has`: items that carry a vector."""

    user_side: np.ndarray
    item_side: np.ndarray
    has: np.ndarray
    seconds: float


def als_space(train: Interactions, factors: int, reg: float, alpha: float, iterations: int = 15) -> ItemSpace:
    """implicit ALS on the items with events, fold-in baked in exactly as ragrec/retrieval/collab.py does."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    t = time.perf_counter()
    x = train.matrix()
    has = np.asarray(x.sum(axis=0)).ravel() > 0
    compact = x[:, has].tocsr()
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=factors, regularization=reg, alpha=alpha, iterations=iterations,
                                        random_state=0)
        model.fit(compact, show_progress=False)
    y = np.asarray(model.item_factors, dtype=np.float64)[:, :factors]
    m = np.linalg.inv(y.T @ y + reg * np.eye(factors))
    z = np.zeros((train.n_items, factors), dtype=np.float32)
    z[has] = y @ np.linalg.cholesky(m)
    return ItemSpace(z, z, has, time.perf_counter() - t)


def randomized_svd(a: np.ndarray, rank: int, oversample: int = 32, iters: int = 4, seed: int = 0):
    """Halko et al.: leading `rank` singular triplets of a dense matrix."""
    rng = np.random.default_rng(seed)
    y = a @ rng.standard_normal((a.shape[1], rank + oversample)).astype(np.float32)
    for _ in range(iters):
        y, _ = np.linalg.qr(y)
        z, _ = np.linalg.qr(a.T @ y)
        y = a @ z
    q, _ = np.linalg.qr(y)
    ub, s, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return (q @ ub)[:, :rank], s[:rank], vt[:rank]


def ease_svd_space(train: Interactions, lam: float, rank: int) -> ItemSpace:
    """EASE's B ≈ P·Qᵀ (rank r): a user is Σ w·P[h] (a second, unsearched item vector), items are searched by Q."""
    t = time.perf_counter()
    b = ease_matrix(train.matrix(), lam)
    u, s, vt = randomized_svd(b, rank)
    has = np.asarray(train.matrix().sum(axis=0)).ravel() > 0
    return ItemSpace((u * s).astype(np.float32), vt.T.astype(np.float32), has, time.perf_counter() - t)


# --- the query simulation ------------------------------------------------------------------------------------------


@dataclass
class Source:
    """One user vector in one space: its Dot score for every item; `prefetch`: it brings its own top-N."""

    name: str
    scores: np.ndarray  # (users, items) float32; 0 where the item lacks the vector
    has: np.ndarray | None = None  # items with this vector (None: all)
    prefetch: bool = True


def unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def source(name: str, ph: Phase, decay, user_side: np.ndarray, item_side: np.ndarray, has=None,
           prefetch: bool = True) -> Source:
    u = unit_rows(np.asarray(ph.weights(decay) @ user_side, dtype=np.float64)).astype(np.float32)
    s = u @ item_side.T
    if has is not None:
        s[:, ~has] = 0.0
    return Source(name, s, has, prefetch)


def candidate_mask(ph: Phase, sources: list[Source], n: int) -> np.ndarray:
    """The union of every prefetch's top-n unseen items (items lacking the vector cannot be found by it)."""
    mask = np.zeros(ph.seen.shape, dtype=bool)
    for src in sources:
        if not src.prefetch:
            continue
        s = np.where(ph.seen, -np.inf, src.scores)
        if src.has is not None:
            s[:, ~src.has] = -np.inf
        top = np.argpartition(-s, n - 1, axis=1)[:, :n]
        np.put_along_axis(mask, top, True, axis=1)
    return mask & ~ph.seen


def own_top(ph: Phase, src: Source, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask, 1-based rank) of a prefetch's own top-n unseen items."""
    s = np.where(ph.seen, -np.inf, src.scores)
    if src.has is not None:
        s[:, ~src.has] = -np.inf
    top = np.argpartition(-s, n - 1, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1)
    ranks = np.zeros(s.shape, dtype=np.float32)
    np.put_along_axis(ranks, np.take_along_axis(top, order, axis=1), np.arange(1, n + 1, dtype=np.float32)[None, :],
                      axis=1)
    return ranks > 0, ranks


def fused(ph: Phase, sources: list[Source], weights: list[float], formula: str, n: int, k: float) -> np.ndarray:
    """The formula part over the sources (popularity is added by the caller).

    linear: Σ w·score (Qdrant formula). max: max(w0·s0, w1·s1) + max(w2·s2, w3·s3) (formula with Max; sources in
    pairs: long and short of a space). rrf: Σ w / (k + rank) over each prefetch's own top-n (weighted RRF fusion).
    dbsf: Σ w · (s − (μ − 3σ)) / 6σ per prefetch and user over its own top-n (Qdrant's DBSF; weighted here)."""
    if formula == "linear":
        out = np.zeros(ph.seen.shape, dtype=np.float32)
        for src, w in zip(sources, weights):
            if w:
                out += np.float32(w) * src.scores
        return out
    if formula == "max":
        out = np.zeros(ph.seen.shape, dtype=np.float32)
        for a, b in zip(range(0, len(sources), 2), range(1, len(sources), 2)):
            out += np.maximum(np.float32(weights[a]) * sources[a].scores, np.float32(weights[b]) * sources[b].scores)
        return out
    out = np.zeros(ph.seen.shape, dtype=np.float32)
    for src, w in zip(sources, weights):
        if not w:
            continue
        mask, ranks = own_top(ph, src, n)
        if formula == "rrf":
            out += np.where(mask, np.float32(w) / (k + ranks), 0)
        else:
            top = np.where(mask, src.scores, np.nan)
            mu, sd = np.nanmean(top, axis=1, keepdims=True), np.nanstd(top, axis=1, keepdims=True)
            low = mu - 3 * sd
            out += np.where(mask, np.float32(w) * (src.scores - low) / np.maximum(6 * sd, 1e-9), 0)
    return out


def rank(ph: Phase, sources: list[Source], weights: list[float], w_pop: float, mask: np.ndarray,
         formula: str = "linear", n: int = 200, k: float = 60.0) -> np.ndarray:
    s = fused(ph, sources, weights, formula, n, k)
    if w_pop:
        s += np.float32(w_pop) * ph.logpop
    s[~mask] = -np.inf
    return M.top_k(s, K)


@dataclass
class Design:
    """A user representation + query: per protocol its sources, the formula weights apply to them in order.

    `groups`: which sources share one prefetch (a mixed query vector Σ w_k u_k, whose Dot score is Σ w_k score_k);
    None = every source with `prefetch` is its own prefetch. `own_only`: sources whose score counts only for their
    own top-N (a prefetch whose candidates are not re-scored by it: multi-interest, max-like)."""

    name: str
    sources: dict[str, list[Source]]
    n: int = 200
    groups: list[list[int]] | None = None
    own_only: list[int] = field(default_factory=list)
    formula: str = "linear"
    k: float = 60.0  # RRF
    masks: dict[Any, np.ndarray] = field(default_factory=dict)

    def mask(self, ph: Phase, weights: list[float]) -> np.ndarray:
        srcs = self.sources[ph.protocol]
        if self.groups is None:
            key = ph.protocol
            prefetches = srcs
        else:
            key = (ph.protocol, tuple(weights))
            prefetches = [Source("mix", sum(np.float32(weights[i]) * srcs[i].scores for i in g)) for g in self.groups]
        if key not in self.masks:
            if self.groups is not None:
                self.masks = {k: v for k, v in self.masks.items() if not isinstance(k, tuple)}  # one at a time
            self.masks[key] = candidate_mask(ph, prefetches, self.n)
        return self.masks[key]

    def own(self, ph: Phase, i: int) -> np.ndarray:
        key = (ph.protocol, "own", i)
        if key not in self.masks:
            self.masks[key] = candidate_mask(ph, [self.sources[ph.protocol][i]], self.n)
        return self.masks[key]

    def measure(self, ph: Phase, weights: list[float], w_pop: float) -> dict[str, Any]:
        srcs = self.sources[ph.protocol]
        if self.own_only:
            srcs = [Source(s.name, np.where(self.own(ph, i), s.scores, 0).astype(np.float32)) if i in self.own_only
                    else s for i, s in enumerate(srcs)]
        return ph.measure(rank(ph, srcs, weights, w_pop, self.mask(ph, weights), self.formula, self.n, self.k))


class Objective:
    """min over protocols of NDCG@10 / best baseline's NDCG@10 (validation)."""

    def __init__(self, refs: dict[str, float]):
        self.refs = refs

    def __call__(self, res: dict[str, dict[str, Any]]) -> float:
        return min(res[p]["ndcg@10"] / self.refs[p] for p in PROTOCOLS)

    def mean(self, res: dict[str, dict[str, Any]]) -> float:
        return float(np.mean([res[p]["ndcg@10"] / self.refs[p] for p in PROTOCOLS]))


def evaluate(design: Design, phs: dict[str, Phase], weights: list[float], w_pop: float) -> dict[str, dict]:
    return {p: design.measure(phs[p], weights, w_pop) for p in PROTOCOLS}


def tune(design: Design, phs: dict[str, Phase], obj: Objective, start: list[float], w_pop: float = 0.0,
         fixed: int = 0, rounds: int = 4) -> tuple[list[float], float, dict[str, dict], int]:
    """Coordinate ascent of the formula weights (weight `fixed` stays, it sets the scale) and the popularity
    weight, on the objective. Returns (weights, w_pop, results, points tried)."""
    weights, best = list(start), evaluate(design, phs, start, w_pop)
    tried = 1
    factors = (0.0, 0.25, 0.5, 0.7, 1.4, 2.0, 4.0)
    for _ in range(rounds):
        improved = False
        for k in [i for i in range(len(weights)) if i != fixed] + ["pop"]:
            current = w_pop if k == "pop" else weights[k]
            options = {round(current * f, 6) for f in factors} if current else {0.02, 0.05, 0.1, 0.2, 0.5, 1.0}
            for value in sorted(options - {current}):
                w = weights if k == "pop" else weights[:k] + [value] + weights[k + 1:]
                p = value if k == "pop" else w_pop
                res = evaluate(design, phs, w, p)
                tried += 1
                if obj(res) > obj(best) + 1e-6:
                    best, improved = res, True
                    if k == "pop":
                        w_pop = value
                    else:
                        weights = w
        if not improved:
            break
    return weights, w_pop, best, tried


# --- results file -----------------------------------------------------------------------------------------------


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(path: Path, update: dict[str, Any]) -> None:
    data = load_results(path) | update
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=_json))


def _json(o):
    if isinstance(o, np.ndarray):
        return None
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(type(o))


def clean(res: dict[str, dict]) -> dict[str, dict]:
    return {p: {k: round(v, 5) if isinstance(v, float) else v for k, v in r.items() if not k.startswith("_")}
            for p, r in res.items()}


def baseline_refs(report: Path) -> dict[str, dict[str, Any]]:
    """Best baseline per protocol on validation (every tuning point of every non-ragrec method)."""
    data = json.loads(report.read_text())
    refs = {}
    for run in data["runs"]:
        best = max((r for r in run["validation"] if r["name"] != "ragrec"), key=lambda r: r["metrics"]["ndcg@10"]["mean"])
        refs[run["protocol"]] = {"name": best["name"], "params": best["params"],
                                 "ndcg@10": best["metrics"]["ndcg@10"]["mean"], "se": best["metrics"]["ndcg@10"]["se"]}
    return refs


# --- stage: collaborative vectors -----------------------------------------------------------------------------------

ALS_GRID = [{"factors": f, "reg": r, "alpha": a} for f in (64, 128, 256) for r in (1.0, 10.0, 50.0, 200.0)
            for a in (1.0, 3.0, 10.0, 30.0)]
EASE_SVD_GRID = [{"lam": lam, "rank": r} for lam in (50.0, 200.0, 500.0) for r in (128, 256)]


def collab_only(space: ItemSpace, phs: dict[str, Phase]) -> dict[str, dict]:
    """Collab-only NDCG per protocol with the short and the long user vector (N irrelevant: one prefetch)."""
    out = {}
    for p, ph in phs.items():
        for label, decay in (("short", SHORT), ("long", LONG)):
            src = source(COLLAB, ph, decay, space.user_side, space.item_side, space.has)
            out[f"{p}/{label}"] = Design("collab", {p: [src]}, n=K).measure(ph, [1.0], 0.0)
    return out


def stage_collab(ds: Dataset, refs: dict[str, float], out: Path) -> None:
    phs = phases(ds, "validation")
    rows = []

    def record(kind: str, params: dict, res: dict[str, dict], seconds: float) -> None:
        score = min(res["temporal/short"]["ndcg@10"] / refs["temporal"], res["random/long"]["ndcg@10"] / refs["random"])
        rows.append({"kind": kind, "params": params, "objective": round(score, 4), "fit_seconds": round(seconds, 2),
                     "results": clean(res)})
        log(f"{kind:<9} {json.dumps(params):<46} T/short {res['temporal/short']['ndcg@10']:.4f} "
            f"T/long {res['temporal/long']['ndcg@10']:.4f} R/long {res['random/long']['ndcg@10']:.4f} "
            f"R/short {res['random/short']['ndcg@10']:.4f} obj {score:.3f} ({seconds:.1f}s)")

    for params in ALS_GRID:
        spaces = {p: als_space(ph.train, params["factors"], params["reg"], params["alpha"]) for p, ph in phs.items()}
        res = {k: v for p in PROTOCOLS for k, v in collab_only(spaces[p], {p: phs[p]}).items()}
        record("als", params, res, np.mean([s.seconds for s in spaces.values()]))
    best_als = max((r for r in rows if r["kind"] == "als"), key=lambda r: r["objective"])["params"]
    for iterations in (30, 50):  # more iterations for the best point
        params = best_als | {"iterations": iterations}
        spaces = {p: als_space(ph.train, best_als["factors"], best_als["reg"], best_als["alpha"], iterations)
                  for p, ph in phs.items()}
        res = {k: v for p in PROTOCOLS for k, v in collab_only(spaces[p], {p: phs[p]}).items()}
        record("als", params, res, np.mean([s.seconds for s in spaces.values()]))

    # low-rank EASE (P for the user sum, Q searched) and full EASE with the same decays (not storable: reference)
    for lam in sorted({g["lam"] for g in EASE_SVD_GRID}):
        bs = {}
        for p, ph in phs.items():
            t = time.perf_counter()
            bs[p] = (ease_matrix(ph.train.matrix(), lam), time.perf_counter() - t)
        res = {}
        for p, ph in phs.items():
            for label, decay in (("short", SHORT), ("long", LONG)):
                scores = np.asarray(ph.weights(decay) @ bs[p][0], dtype=np.float32)
                res[f"{p}/{label}"] = Design("ease", {p: [Source("ease", scores)]}, n=K).measure(ph, [1.0], 0.0)
        record("ease-full", {"lam": lam}, res, np.mean([b[1] for b in bs.values()]))
        for rank in sorted({g["rank"] for g in EASE_SVD_GRID if g["lam"] == lam}):
            spaces = {}
            for p, ph in phs.items():
                t = time.perf_counter()
                u, s, vt = randomized_svd(bs[p][0], rank)
                has = np.asarray(ph.train.matrix().sum(axis=0)).ravel() > 0
                spaces[p] = ItemSpace((u * s).astype(np.float32), vt.T.astype(np.float32), has,
                                      bs[p][1] + time.perf_counter() - t)
            res = {k: v for p in PROTOCOLS for k, v in collab_only(spaces[p], {p: phs[p]}).items()}
            record("ease-svd", {"lam": lam, "rank": rank}, res, np.mean([s.seconds for s in spaces.values()]))
        del bs
    storable = [r for r in rows if r["kind"] != "ease-full"]
    chosen = max(storable, key=lambda r: r["objective"])
    log(f"chosen collab (validation objective {chosen['objective']}): {chosen['kind']} {chosen['params']}")
    save_results(out, {"refs": refs, "collab": {"rows": rows, "chosen": chosen}})


# --- stage: user representations ---------------------------------------------------------------------------------


def make_space(kind: str, params: dict[str, Any], train: Interactions) -> ItemSpace:
    if kind == "als":
        return als_space(train, params["factors"], params["reg"], params["alpha"], params.get("iterations", 15))
    return ease_svd_space(train, params["lam"], params["rank"])


TODAY_ALS = {"factors": 128, "reg": 10.0, "alpha": 10.0}


class Spaces:
    """Per protocol: content vectors, collab space, and a cache of user-vector sources by (space, decay)."""

    def __init__(self, phs: dict[str, Phase], content: np.ndarray, collab: dict[str, ItemSpace]):
        self.phs, self.content, self.collab = phs, content, collab
        self._cache: dict[tuple, Source] = {}

    def get(self, protocol: str, space: str, decay) -> Source:
        key = (protocol, space, decay)
        if key not in self._cache:
            ph = self.phs[protocol]
            if space == CONTENT:
                self._cache[key] = source(f"{CONTENT}{decay}", ph, decay, self.content, self.content)
            else:
                c = self.collab[protocol]
                self._cache[key] = source(f"{COLLAB}{decay}", ph, decay, c.user_side, c.item_side, c.has)
        return self._cache[key]

    def design(self, name: str, spec: list[tuple[str, Any]], **kw) -> Design:
        return Design(name, {p: [self.get(p, sp_, d) for sp_, d in spec] for p in PROTOCOLS}, **kw)


def kmeans(x: np.ndarray, k: int, iters: int = 25, seed: int = 0) -> np.ndarray:
    """Spherical k-means labels of the rows of x."""
    xn = unit_rows(x)
    rng = np.random.default_rng(seed)
    centers = xn[rng.choice(len(xn), k, replace=False)]
    for _ in range(iters):
        labels = np.argmax(xn @ centers.T, axis=1)
        for j in range(k):
            members = xn[labels == j]
            if len(members):
                centers[j] = members.sum(axis=0) / max(np.linalg.norm(members.sum(axis=0)), 1e-12)
    return labels


def interest_sources(ph: Phase, space: ItemSpace, k: int, m: int) -> list[Source]:
    """Multi-interest: items in k global clusters (k-means of the collab vectors, so an event updates exactly one
    per-cluster sum: O(d), and reindex rebuilds them); a user's m heaviest clusters each give a unit interest vector."""
    labels = np.full(ph.train.n_items, -1)
    labels[space.has] = kmeans(space.item_side[space.has], k)
    w = ph.weights(LONG).tocsr()
    sums = np.zeros((k, len(ph.users), space.user_side.shape[1]), dtype=np.float32)
    weight = np.zeros((len(ph.users), k))
    for j in range(k):
        wj = w.multiply((labels == j)[None, :].astype(np.float32)).tocsr()
        sums[j] = wj @ space.user_side
        weight[:, j] = np.asarray(wj.sum(axis=1)).ravel()
    order = np.argsort(-weight, axis=1)[:, :m]
    out = []
    for slot in range(m):
        j = order[:, slot]
        u = unit_rows(sums[j, np.arange(len(ph.users))])
        u[weight[np.arange(len(ph.users)), j] == 0] = 0  # users with fewer clusters than slots
        s = u @ space.item_side.T
        s[:, ~space.has] = 0
        out.append(Source(f"interest{slot}", s.astype(np.float32), space.has))
    return out


def recorder(rows: list[dict], obj: Objective):
    """A function that appends a design's validation result to `rows` and logs it."""

    def record(name: str, params: dict, weights, w_pop, res, tried: int = 1) -> None:
        row = {"design": name, "params": params, "weights": [round(w, 4) for w in weights],
               "w_pop": round(w_pop, 4), "objective_min": round(obj(res), 4), "objective_mean": round(obj.mean(res), 4),
               "points_tried": tried, "results": clean(res)}
        rows.append(row)
        log(f"{name:<28} {json.dumps(params):<44} w={row['weights']} pop={row['w_pop']} | "
            f"T {res['temporal']['ndcg@10']:.4f}±{res['temporal']['ndcg@10_se']:.4f} "
            f"R {res['random']['ndcg@10']:.4f}±{res['random']['ndcg@10_se']:.4f} "
            f"cov {res['temporal']['coverage@10']:.3f}/{res['random']['coverage@10']:.3f} "
            f"min {obj(res):.3f} mean {obj.mean(res):.3f} ({tried} pts)")

    return record


def stage_designs(ds: Dataset, refs: dict[str, float], out: Path, collab_kind: str, collab_params: dict) -> None:
    phs = phases(ds, "validation")
    content = catalog_content(ds)
    obj = Objective(refs)
    rows = []

    record = recorder(rows, obj)

    # today's design with today's ALS: the faithfulness check against the real path's validation numbers
    today_sp = Spaces(phs, content, {p: als_space(ph.train, **TODAY_ALS) for p, ph in phs.items()})
    d = today_sp.design("today", [(CONTENT, SHORT), (COLLAB, SHORT)])
    record("today (today's ALS)", {"als": TODAY_ALS, "decay": SHORT}, [0.2, 1.0], 0.0, evaluate(d, phs, [0.2, 1.0], 0.0))
    d = today_sp.design("today", [(CONTENT, LONG), (COLLAB, LONG)])
    record("no decay (today's ALS)", {"als": TODAY_ALS, "decay": LONG}, [0.2, 1.0], 0.0, evaluate(d, phs, [0.2, 1.0], 0.0))
    del today_sp

    sp_ = Spaces(phs, content, {p: make_space(collab_kind, collab_params, ph.train) for p, ph in phs.items()})
    base = {"collab": {collab_kind: collab_params}}

    # one decay per space, weights tuned (the best a single vector per space can do)
    for decay in [(h, d) for h in (1.0, 3.0, 10.0, 30.0, None) for d in (30.0, None)]:
        dsg = sp_.design("single", [(CONTENT, decay), (COLLAB, decay)])
        w, pop, res, n = tune(dsg, phs, obj, [0.2, 1.0], fixed=1)
        record("single decay", base | {"decay": decay}, w, pop, res, n)

    # long + short per space: 4 prefetches, every candidate re-scored by all four vectors
    for long_decay in (LONG, (30.0, None), (10.0, None)):
        spec = [(CONTENT, long_decay), (CONTENT, SHORT), (COLLAB, long_decay), (COLLAB, SHORT)]
        dsg = sp_.design("long+short", spec)
        w, pop, res, n = tune(dsg, phs, obj, [0.1, 0.1, 1.0, 1.0], fixed=2)
        record("long+short, 4 prefetches", base | {"long": long_decay, "short": SHORT}, w, pop, res, n)
        # the same formula with one prefetch per space: a mixed query vector Σ w·unit(sum) (today's query cost)
        mixed = sp_.design("long+short mixed", spec, groups=[[0, 1], [2, 3]])
        record("long+short, 2 prefetches", base | {"long": long_decay, "short": SHORT}, w, pop,
               evaluate(mixed, phs, w, pop))
        w2, pop2, res2, n2 = tune(mixed, phs, obj, w, pop, fixed=2, rounds=2)
        record("long+short, 2 prefetches*", base | {"long": long_decay, "short": SHORT, "retuned": True}, w2, pop2,
               res2, n2)
        for limit in (100, 400):
            mixed_n = sp_.design("long+short mixed", spec, groups=[[0, 1], [2, 3]], n=limit)
            record("long+short, 2 prefetches*", base | {"long": long_decay, "N": limit}, w2, pop2,
                   evaluate(mixed_n, phs, w2, pop2))

    # multi-interest: m interest vectors (global clusters) + the short-term vectors
    for k, m in itertools.product((8, 16), (2, 3)):
        interests = {p: interest_sources(phs[p], sp_.collab[p], k, m) for p in PROTOCOLS}
        srcs = {p: interests[p] + [sp_.get(p, COLLAB, SHORT), sp_.get(p, CONTENT, SHORT), sp_.get(p, CONTENT, LONG)]
                for p in PROTOCOLS}
        dsg = Design("multi-interest", srcs, own_only=list(range(m)))
        w, pop, res, n = tune(dsg, phs, obj, [1.0] * m + [1.0, 0.1, 0.1], fixed=0, rounds=3)
        record("multi-interest", base | {"clusters": k, "interests": m}, w, pop, res, n)
        del interests, srcs, dsg

    chosen = choose(rows)
    log(f"chosen on validation: {chosen['design']} {chosen['params']} w={chosen['weights']} pop={chosen['w_pop']}")
    save_results(out, {"designs": {"rows": rows, "chosen": chosen, "objective": "min over protocols of "
                                   "NDCG@10 / best baseline NDCG@10 (validation)"}})


# designs whose Qdrant query has today's shape (2 prefetches, 2 re-scoring stages): the latency stage measured
# 3.4x today's p50 for 4 prefetches + 4 re-scorings and 2.4-3x for 3 + 4, far past the issue's 20 % budget
SAME_QUERY_COST = ("single decay", "long+short, 2 prefetches*")


def choose(rows: list[dict]) -> dict:
    """The best objective among the designs that keep today's query cost."""
    return max((r for r in rows if r["design"] in SAME_QUERY_COST), key=lambda r: r["objective_min"])


LONG_SHORT = [(CONTENT, LONG), (CONTENT, SHORT), (COLLAB, LONG), (COLLAB, SHORT)]


def stage_fusion(ds: Dataset, refs: dict[str, float], out: Path, collab_kind: str, collab_params: dict) -> None:
    """Non-linear fusions of the long and short vectors (all expressible in one Qdrant query: Max in a formula,
    weighted RRF and DBSF fusion), and a second collab space for the long vectors; appended to the designs."""
    phs = phases(ds, "validation")
    obj = Objective(refs)
    results = load_results(out)
    rows = results["designs"]["rows"]
    record = recorder(rows, obj)
    sp_ = Spaces(phs, catalog_content(ds), {p: make_space(collab_kind, collab_params, ph.train) for p, ph in phs.items()})
    base = {"collab": {collab_kind: collab_params}, "long": LONG, "short": SHORT}

    dsg = sp_.design("max", LONG_SHORT, formula="max")
    w, pop, res, n = tune(dsg, phs, obj, [0.05, 0.05, 1.0, 0.5], fixed=2)
    record("long+short, max formula", base | {"formula": "max"}, w, pop, res, n)
    for k in (10.0, 60.0):
        dsg = sp_.design("rrf", LONG_SHORT, formula="rrf", k=k)
        w, pop, res, n = tune(dsg, phs, obj, [0.2, 0.2, 1.0, 1.0], fixed=2, rounds=3)
        record("long+short, weighted RRF", base | {"formula": "rrf", "k": k}, w, pop, res, n)
    dsg = sp_.design("dbsf", LONG_SHORT, formula="dbsf")
    record("long+short, DBSF (equal)", base | {"formula": "dbsf"}, [1.0] * 4, 0.0, evaluate(dsg, phs, [1.0] * 4, 0.0))
    w, pop, res, n = tune(dsg, phs, obj, [0.2, 0.2, 1.0, 1.0], fixed=2, rounds=3)
    record("long+short, weighted DBSF", base | {"formula": "dbsf"}, w, pop, res, n)

    # a second collab space for the long vectors: the ALS grid's best long-term point
    long_als = max((r for r in results["collab"]["rows"] if r["kind"] == "als"),
                   key=lambda r: r["results"]["random/long"]["ndcg@10"])["params"]
    if long_als != collab_params:
        sp2 = Spaces(phs, sp_.content, {p: make_space("als", long_als, ph.train) for p, ph in phs.items()})
        srcs = {p: [sp_.get(p, CONTENT, LONG), sp_.get(p, CONTENT, SHORT), sp2.get(p, COLLAB, LONG),
                    sp_.get(p, COLLAB, SHORT)] for p in PROTOCOLS}
        for formula in ("linear", "max"):
            dsg = Design("two collab spaces", srcs, formula=formula)
            w, pop, res, n = tune(dsg, phs, obj, [0.05, 0.05, 1.0, 0.5], fixed=2)
            record("long+short, 2 collab spaces", base | {"formula": formula, "collab_long": {"als": long_als}},
                   w, pop, res, n)
    chosen = choose(rows)
    log(f"chosen on validation: {chosen['design']} {chosen['params']} w={chosen['weights']} pop={chosen['w_pop']}")
    save_results(out, {"designs": results["designs"] | {"rows": rows, "chosen": chosen}})


def stage_frontier(ds: Dataset, refs: dict[str, float], out: Path, collab_kind: str, collab_params: dict) -> None:
    """The trade-off one default faces: the chosen long+short design with the short-term collab weight swept from
    0 (long only) to all-short, other weights as chosen. Validation (T, R) pairs: the Pareto front of this family."""
    phs = phases(ds, "validation")
    obj = Objective(refs)
    results = load_results(out)
    chosen = results["designs"]["chosen"]
    if not chosen["design"].startswith("long+short"):
        log("frontier: the chosen design is not long+short; nothing to sweep")
        return
    sp_ = Spaces(phs, catalog_content(ds), {p: make_space(collab_kind, collab_params, ph.train) for p, ph in phs.items()})
    dsg = build(chosen, sp_, phs)
    points = []
    for ratio in (0.0, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5, 2.0, 4.0, 10.0, 1000.0):
        w = list(chosen["weights"])
        w[3] = ratio * w[2] if ratio < 1000 else w[2]  # short-term collab weight relative to the long one
        if ratio == 1000.0:
            w[2] = 0.0
        res = evaluate(dsg, phs, w, chosen["w_pop"])
        points.append({"short_over_long": ratio, "weights": [round(x, 4) for x in w], "results": clean(res),
                       "objective_min": round(obj(res), 4)})
        log(f"short/long {ratio:>7}: T {res['temporal']['ndcg@10']:.4f} R {res['random']['ndcg@10']:.4f} "
            f"min {obj(res):.3f}")
    save_results(out, {"frontier": points})


def ease_rows(train: Interactions, lam: float, keep: int) -> sp.csr_matrix:
    """EASE's B with each row pruned to its `keep` largest entries: the user-side sparse item vectors."""
    b = ease_matrix(train.matrix(), lam)
    top = np.argpartition(-b, keep - 1, axis=1)[:, :keep]
    rows = np.repeat(np.arange(b.shape[0]), keep)
    return sp.csr_matrix((np.take_along_axis(b, top, axis=1).ravel(), (rows, top.ravel())), shape=b.shape)


def stage_sparse(ds: Dataset, refs: dict[str, float], out: Path, collab_kind: str, collab_params: dict) -> None:
    """EASE inside Qdrant as sparse vectors: items carry a one-hot sparse vector, a user the decayed sum of the
    (pruned) EASE rows of their items (O(keep) per event); the sparse Dot score is the EASE score. Long and short
    sums, with the content vectors, fused by the linear formula."""
    phs = phases(ds, "validation")
    obj = Objective(refs)
    results = load_results(out)
    rows = results["designs"]["rows"]
    record = recorder(rows, obj)
    content = catalog_content(ds)
    sp_ = Spaces(phs, content, {p: make_space(collab_kind, collab_params, ph.train) for p, ph in phs.items()})
    for lam, keep in ((50.0, 200),):
        srcs = {}
        for p, ph in phs.items():
            b = ease_rows(ph.train, lam, keep)
            srcs[p] = [sp_.get(p, CONTENT, LONG), sp_.get(p, CONTENT, SHORT)] + [
                Source(f"ease{d}", np.asarray((ph.weights(d) @ b).todense(), dtype=np.float32)) for d in (LONG, SHORT)]
        dsg = Design("ease-sparse", srcs)
        w, pop, res, n = tune(dsg, phs, obj, [0.05, 0.05, 1.0, 0.5], fixed=2)
        record("long+short, EASE sparse", {"ease": {"lam": lam, "keep": keep}, "long": LONG, "short": SHORT}, w, pop,
               res, n)
    save_results(out, {"designs": results["designs"] | {"rows": rows}})


def stage_compare(ds: Dataset, refs: dict[str, float], out: Path, collab_kind: str, collab_params: dict) -> None:
    """Paired per-user NDCG@10 differences on validation: the chosen design against today's default and against
    the best design overall (whatever its query cost)."""
    phs = phases(ds, "validation")
    obj = Objective(refs)
    results = load_results(out)
    rows = results["designs"]["rows"]
    chosen = choose(rows)
    best = max((r for r in rows if not r["design"].startswith(("today", "no decay"))), key=lambda r: r["objective_min"])
    sp_ = Spaces(phs, catalog_content(ds), {p: make_space(collab_kind, collab_params, ph.train) for p, ph in phs.items()})
    today = Spaces(phs, sp_.content, {p: als_space(ph.train, **TODAY_ALS) for p, ph in phs.items()})
    runs = {
        "chosen": evaluate(build(chosen, sp_, phs), phs, chosen["weights"], chosen["w_pop"]),
        "today": evaluate(today.design("today", [(CONTENT, SHORT), (COLLAB, SHORT)]), phs, [0.2, 1.0], 0.0),
        "best overall": evaluate(build(best, sp_, phs), phs, best["weights"], best["w_pop"]),
    }
    out_rows = {}
    for other in ("today", "best overall"):
        for p in PROTOCOLS:
            d = runs["chosen"][p]["_ndcg"] - runs[other][p]["_ndcg"]
            out_rows[f"chosen − {other} ({p})"] = {"mean": round(float(d.mean()), 4),
                                                    "se": round(float(d.std(ddof=1) / np.sqrt(d.size)), 4)}
            log(f"chosen − {other} [{p}]: {d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f}")
    log(f"objective: chosen {obj(runs['chosen']):.3f}, today {obj(runs['today']):.3f}, best {obj(runs['best overall']):.3f}")
    save_results(out, {"designs": results["designs"] | {"chosen": chosen, "best_overall": best},
                       "paired_validation": out_rows})


# --- stage: the chosen configuration, once on test -------------------------------------------------------------------


def build(row: dict[str, Any], sp_: Spaces, phs: dict[str, Phase]) -> Design:
    """The Design of a results row (the deployable kinds)."""
    p = row["params"]
    dec = lambda d: tuple(d) if d is not None else None  # noqa: E731 (JSON lists back to tuples)
    if row["design"] == "single decay":
        return sp_.design("single", [(CONTENT, dec(p["decay"])), (COLLAB, dec(p["decay"]))])
    if row["design"].startswith("long+short"):
        long_decay = dec(p["long"])
        spec = [(CONTENT, long_decay), (CONTENT, SHORT), (COLLAB, long_decay), (COLLAB, SHORT)]
        groups = [[0, 1], [2, 3]] if "2 prefetches" in row["design"] else None
        formula = p.get("formula", "linear")
        if "collab_long" in p:
            sp2 = Spaces(phs, sp_.content, {q: make_space("als", p["collab_long"]["als"], ph.train)
                                            for q, ph in phs.items()})
            srcs = {q: [sp_.get(q, CONTENT, LONG), sp_.get(q, CONTENT, SHORT), sp2.get(q, COLLAB, LONG),
                        sp_.get(q, COLLAB, SHORT)] for q in PROTOCOLS}
            return Design(row["design"], srcs, formula=formula)
        return sp_.design(row["design"], spec, groups=groups, n=p.get("N", 200), formula=formula, k=p.get("k", 60.0))
    k, m = p["clusters"], p["interests"]
    srcs = {q: interest_sources(phs[q], sp_.collab[q], k, m)
            + [sp_.get(q, COLLAB, SHORT), sp_.get(q, CONTENT, SHORT), sp_.get(q, CONTENT, LONG)] for q in PROTOCOLS}
    return Design("multi-interest", srcs, own_only=list(range(m)))


def stage_test(ds: Dataset, out: Path) -> None:
    results = load_results(out)
    chosen = results["designs"]["chosen"]
    (kind, params), = chosen["params"]["collab"].items()
    phs = phases(ds, "test")
    sp_ = Spaces(phs, catalog_content(ds), {p: make_space(kind, params, ph.train) for p, ph in phs.items()})
    res = evaluate(build(chosen, sp_, phs), phs, chosen["weights"], chosen["w_pop"])
    for p in PROTOCOLS:
        log(f"TEST {p}: ndcg@10 {res[p]['ndcg@10']:.4f} ± {res[p]['ndcg@10_se']:.4f} hr@10 {res[p]['hr@10']:.4f} "
            f"recall@100 {res[p]['recall@100']:.4f} coverage@10 {res[p]['coverage@10']:.4f}")
    save_results(out, {"test": {"design": chosen["design"], "params": chosen["params"], "weights": chosen["weights"],
                                "w_pop": chosen["w_pop"], "results": clean(res),
                                "note": "numpy simulation of the Qdrant query, test phase computed once"}})


# --- stage: reindex cost at 100k users ---------------------------------------------------------------------------


def stage_timing(ds: Dataset, out: Path, users: int = 100_000) -> None:
    """Synthetic 100k users (real MovieLens users resampled), the chosen ALS, the fold-in, and the rebuild of every
    user's sums as sparse products (W·V per decay and space); plus the per-event Python fold of today's reindex."""
    results = load_results(out)
    chosen = results["designs"]["chosen"]["params"]
    (kind, params), = chosen["collab"].items()
    trained = [(kind, params)] + ([("als", chosen["collab_long"]["als"])] if "collab_long" in chosen else [])
    full = make_split(ds, "temporal").validation  # any fit data: only its shape matters
    rng = np.random.default_rng(0)
    picks = rng.integers(0, full.n_users, size=users)
    lengths = np.diff(full.indptr)[picks]
    items = np.concatenate([full.history(int(u))[0] for u in picks])
    stamps = np.concatenate([full.history(int(u))[1] for u in picks])
    big = Interactions(indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), items=items,
                       timestamps=stamps, n_items=full.n_items, user_ids=np.arange(users), item_ids=full.item_ids)
    timing: dict[str, Any] = {"users": users, "interactions": int(len(items)), "collab_train_seconds": {}}
    for k, prm in trained:
        t = time.perf_counter()
        space = make_space(k, prm, big)
        timing["collab_train_seconds"][json.dumps({k: prm})] = round(time.perf_counter() - t, 1)
        log(f"trained {k} {prm} on {users} users in {timing['collab_train_seconds'][json.dumps({k: prm})]} s")
    content = catalog_content(ds)
    t = time.perf_counter()
    for decay in (LONG, SHORT):
        w = decay_matrix(big, *decay)
        _ = w @ space.user_side
        _ = w @ content
    timing["user_sums_rebuild_seconds (4 sums, sparse products)"] = round(time.perf_counter() - t, 1)

    # today's reindex folds event by event in Python: its rate, per space
    from datetime import datetime, timezone

    from ragrec.config import Settings
    from ragrec.events.models import Event, EventType
    from ragrec.retrieval.profiles import Profile, apply_event

    settings, n = Settings(), 20_000
    vecs = {CONTENT: content[0], COLLAB: space.item_side[0]}
    profile = Profile(user_id="u")
    events = [Event.model_construct(event_id=str(i), user_id="u", item_id=str(i % 500), type=EventType.like,
                                    value=None, timestamp=datetime.fromtimestamp(1e9 + i, tz=timezone.utc))
              for i in range(n)]
    t = time.perf_counter()
    for e in events:
        apply_event(profile, e, vecs, settings)
    per_event = (time.perf_counter() - t) / n
    timing["python_fold_seconds_per_event_2_spaces"] = per_event
    timing["python_fold_projected_seconds"] = {"2 sums (today)": round(per_event * len(items)),
                                               "4 sums (long + short)": round(2 * per_event * len(items))}
    log(json.dumps(timing, indent=1))
    save_results(out, {"timing": timing})


# --- stage: Qdrant Edge latency of the query shapes ----------------------------------------------------------------


def stage_latency(ds: Dataset, out: Path, queries: int = 300) -> None:
    """Qdrant Edge latency of the query shapes (HNSW + int8, as ragrec opens a store): today's 2 prefetches + 2
    re-scoring stages against long + short vectors with 3 or 4 prefetches and 4 re-scoring stages. Items carry
    content (384), collab (128) and collab_long (256) vectors and a popularity payload; the filter excludes each
    user's seen items, as recommend() does."""
    from ragrec.config import Settings
    from ragrec.store import Blend, Filter, HasId, Nearest, PointIn, Prefetch, open_store, point_id

    ph = phases(ds, "validation")["random"]
    short_space = als_space(ph.train, 128, 10.0, 3.0)
    long_space = als_space(ph.train, 256, 10.0, 3.0)
    content = catalog_content(ds)
    pop = np.asarray(ph.train.matrix().sum(axis=0)).ravel()
    report: dict[str, Any] = {"queries": queries, "note": "p50/p95 of store.query() per user, after 20 warm-up queries"}
    with tempfile.TemporaryDirectory() as d:
        settings = Settings(data_dir=Path(d))
        store = open_store(settings)
        try:
            items = "items"
            store.create_collection(items, {CONTENT: 384, COLLAB: 128, "collab_long": 256})
            store.create_payload_index(items, "popularity", "integer")
            ids = [str(int(m)) for m in ds.item_ids]
            points = []
            for i, item in enumerate(ids):
                vectors = {CONTENT: content[i]}
                if short_space.has[i]:
                    vectors |= {COLLAB: short_space.item_side[i], "collab_long": long_space.item_side[i]}
                points.append(PointIn(id=point_id(item), vectors=vectors,
                                      payload={"item_id": item, "popularity": int(pop[i])}))
            for start in range(0, len(points), 1000):
                store.upsert(items, points[start:start + 1000])
            store.optimize(items)
            vec = {}
            for label, decay in (("long", LONG), ("short", SHORT)):
                w = ph.weights(decay)
                vec[(CONTENT, label)] = unit_rows(np.asarray(w @ content)).astype(np.float32)
            vec[(COLLAB, "short")] = unit_rows(np.asarray(ph.weights(SHORT) @ short_space.user_side)).astype(np.float32)
            vec[("collab_long", "long")] = unit_rows(np.asarray(ph.weights(LONG) @ long_space.user_side)).astype(np.float32)

            def query(row: int, prefetched: list[tuple[str, np.ndarray]], rescored: list[tuple[str, np.ndarray]],
                      n: int = 200) -> None:
                seen = [point_id(ids[i]) for i in ph.train.history(int(ph.users[row]))[0]]
                flt = Filter(must_not=[HasId(ids=seen)])
                union = [Prefetch(query=Nearest(using=u, vector=v.tolist()), limit=n, filter=flt) for u, v in prefetched]
                outer = [Prefetch(query=Nearest(using=u, vector=v.tolist()), limit=len(union) * n, prefetch=union)
                         for u, v in rescored]
                store.query(items, Blend(weights=[1.0] * len(outer), log_payload={"popularity": 0.1}), limit=10,
                            filter=flt, prefetch=outer, vectors=[CONTENT])

            def v(space: str, label: str, r: int) -> tuple[str, np.ndarray]:
                return space, vec[(space, label)][r]

            four = lambda r: [v(CONTENT, "long", r), v(CONTENT, "short", r), v("collab_long", "long", r),  # noqa: E731
                              v(COLLAB, "short", r)]
            shapes = {
                "today: 2 prefetches, 2 re-scorings": lambda r: ([v(CONTENT, "short", r), v(COLLAB, "short", r)],) * 2,
                "long+short: 4 prefetches, 4 re-scorings": lambda r: (four(r), four(r)),
                "long+short: 3 prefetches (content mixed), 4 re-scorings": lambda r: (
                    [(CONTENT, vec[(CONTENT, "long")][r] + vec[(CONTENT, "short")][r]), v("collab_long", "long", r),
                     v(COLLAB, "short", r)], four(r)),
            }
            rows = np.arange(queries) % len(ph.users)
            for _ in range(2):  # two rounds, interleaved, so a busy moment of the machine hits every shape
                for name, shape in shapes.items():
                    for r in rows[:20]:
                        query(int(r), *shape(int(r)))
                    times = []
                    for r in rows:
                        t = time.perf_counter()
                        query(int(r), *shape(int(r)))
                        times.append(time.perf_counter() - t)
                    report.setdefault(name, []).append(
                        {"p50_ms": round(1000 * float(np.percentile(times, 50)), 2),
                         "p95_ms": round(1000 * float(np.percentile(times, 95)), 2)})
                    log(f"{name}: {report[name][-1]}")
        finally:
            store.close()
    save_results(out, {"latency": report})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["collab", "designs", "fusion", "sparse", "compare", "frontier", "test",
                                        "timing", "latency"],
                    required=True)
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--baselines", type=Path, default=Path("reports/eval-full.json"),
                    help="harness report whose validation results give each protocol's best baseline")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    ds = load_movielens(args.dataset)
    if args.stage in ("collab", "designs", "fusion", "sparse", "compare", "frontier"):
        refs = {p: r["ndcg@10"] for p, r in baseline_refs(args.baselines).items()}
        log(f"best baseline validation NDCG@10: {refs}")
        if args.stage == "collab":
            stage_collab(ds, refs, args.out)
        else:
            chosen = load_results(args.out)["collab"]["chosen"]
            stage = {"designs": stage_designs, "fusion": stage_fusion, "sparse": stage_sparse,
                     "compare": stage_compare, "frontier": stage_frontier}[args.stage]
            stage(ds, refs, args.out, chosen["kind"], chosen["params"])
    elif args.stage == "test":
        stage_test(ds, args.out)
    elif args.stage == "timing":
        stage_timing(ds, args.out)
    else:
        stage_latency(ds, args.out)


if __name__ == "__main__":
    main()
