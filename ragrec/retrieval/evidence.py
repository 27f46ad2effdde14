"""Why each candidate is there: the user's recent positive items closest to it ("because you liked ...").

Closeness is the mean of two cosines when the candidate and the history item both have a collab vector (the hybrid
path, after a reindex): the content cosine and the cosine of their ALS item factors, i.e. "liked by the same
users". The content cosine alone is a weak witness: MiniLM gives unrelated titles 0.4–0.5, mostly for a shared year
or a shared word ("Dr. Strangelove (1964)" was there "because you liked A Hard Day's Night (1964)"). Without collab
vectors (before the first reindex, an item nobody else touched yet) the content cosine alone is the score.

Popular candidates already say how many users engaged with them (rank stage); this adds the history evidence.
"""

from __future__ import annotations

import numpy as np

from ragrec.config import Settings
from ragrec.retrieval.models import Candidate, Evidence, History


def _unit_rows(vectors: list, dim: int) -> np.ndarray:
    """Unit rows (ALS factors are not normalized), zeros where an item has no vector."""
    rows = np.stack([np.zeros(dim, dtype=np.float32) if v is None else v for v in vectors])
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 1e-12)


def attach_evidence(candidates: list[Candidate], history: History, settings: Settings) -> list[Candidate]:
    # private attributes of pydantic models cost microseconds a read: each is read once
    vectors, collabs = history._vectors, history._collab
    known = [h for h in history.items if h.item_id in vectors]
    scored = [(c, c._vector, c._collab) for c in candidates]
    scored = [s for s in scored if s[1] is not None]
    if not known or not scored or settings.evidence_items <= 0:
        return candidates
    sims = np.stack([v for _, v, _ in scored]) @ np.stack([vectors[h.item_id] for h in known]).T
    past_collab = [collabs.get(h.item_id) for h in known]
    here_collab = [c for _, _, c in scored]
    dims = {v.shape[0] for v in past_collab + here_collab if v is not None}
    if len(dims) == 1:  # some items have collab vectors (all of the user's slot: one size)
        dim = dims.pop()
        collab = _unit_rows(here_collab, dim) @ _unit_rows(past_collab, dim).T
        both = np.outer([v is not None for v in here_collab], [v is not None for v in past_collab])
        sims = np.where(both, (sims + collab) / 2, sims)
    for (candidate, _, _), row in zip(scored, sims):
        best = np.argsort(-row)[: settings.evidence_items]
        candidate.evidence = [Evidence(item_id=known[j].item_id, title=known[j].title,
                                       similarity=round(float(row[j]), 4))
                              for j in best if row[j] >= settings.evidence_min_similarity]
    return candidates
