"""Research for the hybrid design: which collaborative signal can live inside Qdrant as a dot product?

Everything is measured with ragrec.evaluation on the full temporal protocol (610 users, full ranking). Every grid
point is measured on validation only (fit = history); the test phase (fit = history + validation) is computed once,
for the configuration chosen on validation (the best blend), so no choice is made with test numbers in view.
Superseded for the long/short-term question by bench/quality_research.py.

Signals (user vectors are sums over the time-ordered history h_1..h_n with weights w_j = 0.5 ** ((n-j)/half_life)):
  ease-full       sum_j w_j B[h_j]                          (EASE, 9.7k-dim: reference, not storable)
  ease-svd-r      (sum_j w_j P[h_j]) . Q[i],  B ~ P Q^T       (rank r truncated SVD of B)
  puresvd-r       (sum_j w_j V[h_j]) . V[i],  X ~ U S V^T
  als-r           (sum_j w_j P[h_j]) . Y[i],  P = (1+a)(Y^T Y + l I)^-1 Y  (linear fold-in of implicit ALS)
  content-hl      cos(sum_j w_j C[h_j], C[i])               (MiniLM title/genres/tags vectors)
  blend           w_c content + w_f collab + w_p log(1+count)   (Qdrant formula query over prefetches)
  rrf             sum_s w_s / (k + rank_s)

Run: .venv/bin/python bench/eval_research.py [--out /tmp/eval_research.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ragrec.evaluation.baselines import ease_matrix
from ragrec.evaluation.content import content_vectors
from ragrec.evaluation.data import DEFAULT_DATASET, load_movielens
from ragrec.evaluation.protocol import Interactions, Split, temporal_split
from ragrec.evaluation.runner import rank_scores, score_ranked

HALF_LIVES = [1.0, 3.0, 10.0, np.inf]
RANKS = [64, 128, 256]
ALS_RANKS = [64, 128]  # a Python-loop ALS: rank 256 costs minutes and the linear fold-in caps it anyway
EASE_LAMBDAS = [50.0, 200.0, 500.0]
KEYS = ("ndcg@10", "hr@10", "recall@100", "coverage@10")


def recency_matrix(train: Interactions, half_life: float) -> sp.csr_matrix:
    """User x item weights 0.5 ** (age / half_life), age = items since (0 for the latest)."""
    n = np.diff(train.indptr)
    pos = np.arange(len(train.items)) - np.repeat(train.indptr[:-1], n)
    age = np.repeat(n, n) - 1 - pos
    w = np.ones_like(age, dtype=np.float32) if np.isinf(half_life) else (0.5 ** (age / half_life)).astype(np.float32)
    m = sp.csr_matrix((w, train.items.copy(), train.indptr.copy()), shape=(train.n_users, train.n_items))  # scipy sorts in place
    m.sum_duplicates()
    return m


def randomized_svd(a, rank: int, oversample: int = 32, iters: int = 4, seed: int = 0):
    """Halko et al.; `a` dense or sparse. Returns U, s, Vt of the leading `rank` triplets."""
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((a.shape[1], rank + oversample)).astype(np.float32)
    y = a @ omega
    for _ in range(iters):
        y, _ = np.linalg.qr(y)
        z, _ = np.linalg.qr(a.T @ y)
        y = a @ z
    q, _ = np.linalg.qr(y)
    b = np.asarray(q.T @ a) if not sp.issparse(a) else np.asarray((a.T @ q).T)
    ub, s, vt = np.linalg.svd(b, full_matrices=False)
    return (q @ ub)[:, :rank], s[:rank], vt[:rank]


def implicit_als(x: sp.csr_matrix, rank: int, alpha: float = 10.0, lam: float = 10.0, iters: int = 8, seed: int = 0):
    """Hu-Koren-Volinsky weighted ALS with confidence 1 + alpha*x; returns item factors Y."""
    rng = np.random.default_rng(seed)
    n_users, n_items = x.shape
    y = (rng.standard_normal((n_items, rank)) * 0.01).astype(np.float64)
    xu = x.tocsr()
    xi = x.T.tocsr()

    def solve(fixed, rows):
        gram = fixed.T @ fixed + lam * np.eye(rank)
        out = np.zeros((rows.shape[0], rank))
        for r in range(rows.shape[0]):
            idx = rows.indices[rows.indptr[r] : rows.indptr[r + 1]]
            if idx.size == 0:
                continue
            f = fixed[idx]
            out[r] = np.linalg.solve(gram + alpha * f.T @ f, (1 + alpha) * f.sum(axis=0))
        return out

    for _ in range(iters):
        u = solve(y, xu)
        y = solve(u, xi)
    return y


class Phase:
    """All component scores of one phase (610 x 9742 float32 blocks)."""

    def __init__(self, split: Split, phase: str, content: np.ndarray, log):
        self.split, self.phase, self.log = split, phase, log
        self.train = split.fit_data(phase)
        self.users = split.eval_users()
        self.x = self.train.matrix()
        self.w = {hl: recency_matrix(self.train, hl)[self.users] for hl in HALF_LIVES}
        self.content = content
        self.logpop = np.log1p(self.train.item_counts()).astype(np.float32)
        self.timings: dict[str, float] = {}

    def measure(self, scores: np.ndarray) -> dict[str, float]:
        ranked = rank_scores(scores, self.train, self.users)
        m = score_ranked(ranked, self.split, self.phase, self.users)
        return {k: m[k].mean for k in KEYS} | {"hr@10_se": m["hr@10"].se, "ndcg@10_se": m["ndcg@10"].se}

    def timed(self, key: str, fn):
        t = time.perf_counter()
        out = fn()
        self.timings[key] = round(time.perf_counter() - t, 2)
        self.log(f"  [{self.phase}] {key}: {self.timings[key]} s")
        return out

    # --- signals ---------------------------------------------------------------------------------------
    def content_scores(self, hl: float) -> np.ndarray:
        u = np.asarray(self.w[hl] @ self.content)
        u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
        return (u @ self.content.T).astype(np.float32)

    def factor_scores(self, p: np.ndarray, q: np.ndarray, hl: float, norm: str = "sum") -> np.ndarray:
        u = np.asarray(self.w[hl] @ p)
        if norm == "mean":
            u /= np.asarray(self.w[hl].sum(axis=1))
        elif norm == "unit":
            u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
        return (u @ q.T).astype(np.float32)


def rrf(score_list, weights, k: float) -> np.ndarray:
    out = np.zeros_like(score_list[0])
    for s, w in zip(score_list, weights):
        if w == 0:
            continue
        rank = np.argsort(np.argsort(-s, axis=1), axis=1)
        out += w / (k + rank + 1.0)
    return out


def restrict_to_prefetch(blend: np.ndarray, sources, n: int) -> np.ndarray:
    """What a Qdrant formula query sees: only the union of each prefetch's top n."""
    keep = np.zeros(blend.shape, dtype=bool)
    for s in sources:
        top = np.argpartition(-s, n, axis=1)[:, :n]
        np.put_along_axis(keep, top, True, axis=1)
    return np.where(keep, blend, -np.inf)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--out", type=Path, default=Path("/tmp/eval_research.json"))
    args = ap.parse_args()
    t_start = time.perf_counter()
    split = temporal_split(load_movielens(args.dataset))
    content = content_vectors(split)
    rows: list[dict] = []

    def log(msg):
        print(msg, flush=True)

    phases = {p: Phase(split, p, content, log) for p in ("validation", "test")}

    scorers = {}  # row index -> fn(phase) -> scores, to test the chosen row once at the end

    def record(name, params, val, fn=None):
        rows.append({"name": name, "params": params, "validation": val, "test": None})
        scorers[len(rows) - 1] = fn
        log(f"{name:<14} {json.dumps(params):<60} val ndcg {val['ndcg@10']:.4f} hr {val['hr@10']:.4f}")

    def both(name, params, fn):
        """fn(phase) -> scores; measured on validation only (test comes once, for the chosen row)."""
        record(name, params, phases["validation"].measure(fn(phases["validation"])), fn)

    # ----- popularity and content --------------------------------------------------------------------------
    both("popularity", {}, lambda ph: np.broadcast_to(ph.logpop, (len(ph.users), len(ph.logpop))).copy())
    for hl in HALF_LIVES:
        both("content", {"half_life": hl}, lambda ph: ph.content_scores(hl))

    # ----- EASE and its low-rank factors --------------------------------------------------------------------
    factors: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {p: {} for p in phases}
    for lam in EASE_LAMBDAS:
        for pname, ph in phases.items():
            b = ph.timed(f"ease lam={lam}", lambda: ease_matrix(ph.x, lam))
            ph.ease = b
            u, s, vt = ph.timed(f"svd(B) lam={lam} r={max(RANKS)}", lambda: randomized_svd(b, max(RANKS)))
            for r in RANKS:
                factors[pname][f"ease-svd-{r}/lam={lam}"] = ((u[:, :r] * s[:r]).astype(np.float32), vt[:r].T.astype(np.float32))
        for hl in HALF_LIVES:
            both("ease-full", {"lam": lam, "half_life": hl}, lambda ph: np.asarray(ph.w[hl] @ ph.ease, dtype=np.float32))
        for r in RANKS:
            for hl in HALF_LIVES:
                key = f"ease-svd-{r}/lam={lam}"
                both("ease-svd", {"rank": r, "lam": lam, "half_life": hl}, lambda ph: ph.factor_scores(*factors[ph.phase][key], hl))
        for ph in phases.values():
            del ph.ease

    # ----- PureSVD of X ---------------------------------------------------------------------------------------
    for pname, ph in phases.items():
        _, _, vt = ph.timed(f"puresvd r={max(RANKS)}", lambda: randomized_svd(ph.x, max(RANKS)))
        for r in RANKS:
            v = vt[:r].T.astype(np.float32)
            factors[pname][f"puresvd-{r}"] = (v, v)
    for r in RANKS:
        for hl in HALF_LIVES:
            both("puresvd", {"rank": r, "half_life": hl}, lambda ph: ph.factor_scores(*factors[ph.phase][f"puresvd-{r}"], hl))

    # ----- implicit ALS, linear fold-in -------------------------------------------------------------------------
    als_lam, als_alpha = 10.0, 10.0
    for pname, ph in phases.items():
        for r in ALS_RANKS:
            y = ph.timed(f"als r={r}", lambda: implicit_als(ph.x, r, alpha=als_alpha, lam=als_lam))
            p = (1 + als_alpha) * y @ np.linalg.inv(y.T @ y + als_lam * np.eye(r))
            factors[pname][f"als-{r}"] = (p.astype(np.float32), y.astype(np.float32))
    for r in ALS_RANKS:
        for hl in HALF_LIVES:
            both("als", {"rank": r, "alpha": als_alpha, "lam": als_lam, "half_life": hl},
                 lambda ph: ph.factor_scores(*factors[ph.phase][f"als-{r}"], hl))

    # ----- blends: best storable collab (by validation) + content + popularity --------------------------------
    def best(name, **fixed):
        cands = [r for r in rows if r["name"] == name and all(r["params"].get(k) == v for k, v in fixed.items())]
        return max(cands, key=lambda r: r["validation"]["ndcg@10"])

    best_content = best("content")
    collab_choices = [best("ease-svd", rank=r) for r in RANKS] + [best("puresvd"), best("als")]
    c_hl = best_content["params"]["half_life"]
    log(f"blend inputs: content {best_content['params']}, collab {[c['name'] + str(c['params']) for c in collab_choices]}")

    def collab_key(row):
        p = row["params"]
        if row["name"] == "ease-svd":
            return f"ease-svd-{p['rank']}/lam={p['lam']}"
        return f"{row['name']}-{p['rank']}"

    w_c_grid = [0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0]
    w_p_grid = [0.0, 0.01, 0.03, 0.1, 0.3]
    blend_rows = []
    for crow in collab_choices:
        key, f_hl = collab_key(crow), crow["params"]["half_life"]
        for norm in ("unit", "mean"):
            comps = {}
            for pname, ph in phases.items():
                f = ph.factor_scores(*factors[pname][key], f_hl, norm)
                # one global scale per phase-independent design: divide by the validation std so grids are comparable
                comps[pname] = (ph.content_scores(c_hl), f)
            scale = float(comps["validation"][1].std()) / float(comps["validation"][0].std())
            t0 = time.perf_counter()
            results = []
            for w_c, w_p in itertools.product(w_c_grid, w_p_grid):
                ph = phases["validation"]
                c, f = comps["validation"]
                s = w_c * scale * c + f + w_p * scale * ph.logpop
                results.append(((w_c, w_p), ph.measure(s)))
            (w_c, w_p), val = max(results, key=lambda t: t[1]["ndcg@10"])

            def blend_fn(ph, comps=comps, w_c=w_c, w_p=w_p, scale=scale):
                c, f = comps[ph.phase]
                return w_c * scale * c + f + w_p * scale * ph.logpop

            params = {"collab": key, "collab_half_life": f_hl, "user_norm": norm, "content_half_life": c_hl,
                      "w_content": round(w_c * scale, 6), "w_collab": 1.0, "w_logpop": round(w_p * scale, 6),
                      "grid_seconds": round(time.perf_counter() - t0, 1)}
            record("blend", params, val, blend_fn)
            blend_rows.append((rows[-1], comps))

    # RRF of the best blend's components (collab, content, popularity)
    brow, comps = max(blend_rows, key=lambda t: t[0]["validation"]["ndcg@10"])
    results = []
    for k, w_c, w_p in itertools.product([10.0, 60.0], [0.0, 0.2, 0.5, 1.0], [0.0, 0.2]):
        ph = phases["validation"]
        c, f = comps["validation"]
        pop = np.broadcast_to(ph.logpop, f.shape)
        results.append(((k, w_c, w_p), ph.measure(rrf([f, c, pop], [1.0, w_c, w_p], k))))
    (k, w_c, w_p), val = max(results, key=lambda t: t[1]["ndcg@10"])

    def rrf_fn(ph, k=k, w_c=w_c, w_p=w_p):
        c, f = comps[ph.phase]
        return rrf([f, c, np.broadcast_to(ph.logpop, f.shape)], [1.0, w_c, w_p], k)

    record("rrf", {"collab": brow["params"]["collab"], "k": k, "w_collab": 1.0, "w_content": w_c, "w_pop": w_p}, val,
           rrf_fn)

    # prefetch restriction of the best blend: only the union of top-n collab / content candidates is re-scored
    bp = brow["params"]
    for n in (50, 100, 200, 500):
        def prefetch_fn(ph, n=n):
            c, f = comps[ph.phase]
            return restrict_to_prefetch(bp["w_content"] * c + f + bp["w_logpop"] * ph.logpop, [f, c], n)

        record("blend-prefetch", {"prefetch_limit": n, **{k: v for k, v in bp.items() if k != "grid_seconds"}},
               phases["validation"].measure(prefetch_fn(phases["validation"])), prefetch_fn)

    # the one test number: the deployable configuration (a blend inside Qdrant's prefetches) best on validation
    chosen = max((i for i, r in enumerate(rows) if r["name"] == "blend-prefetch"),
                 key=lambda i: rows[i]["validation"]["ndcg@10"])
    rows[chosen]["test"] = phases["test"].measure(scorers[chosen](phases["test"]))
    t = rows[chosen]["test"]
    log(f"chosen on validation: {json.dumps(rows[chosen]['params'])} | test ndcg {t['ndcg@10']:.4f} "
        f"hr {t['hr@10']:.4f} r100 {t['recall@100']:.3f} cov {t['coverage@10']:.3f}")

    out = {"rows": rows, "timings": {p: ph.timings for p, ph in phases.items()},
           "runtime_seconds": round(time.perf_counter() - t_start, 1), "dataset_sha256": split.dataset.sha256}
    args.out.write_text(json.dumps(out, indent=1, default=float))
    log(f"wrote {args.out} in {out['runtime_seconds']} s")


if __name__ == "__main__":
    main()
