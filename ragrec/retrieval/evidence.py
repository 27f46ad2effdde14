"""Why each candidate is there: the user's recent positive items closest to it ("because you liked ...").

Popular candidates already say how many users engaged with them (rank stage); this adds the history evidence.
"""

from __future__ import annotations

import numpy as np

from ragrec.config import Settings
from ragrec.retrieval.models import Candidate, Evidence, History


def attach_evidence(candidates: list[Candidate], history: History, settings: Settings) -> list[Candidate]:
    known = [h for h in history.items if h.item_id in history._vectors]
    scored = [c for c in candidates if c._vector is not None]
    if not known or not scored or settings.evidence_items <= 0:
        return candidates
    past = np.stack([history._vectors[h.item_id] for h in known])
    sims = np.stack([c._vector for c in scored]) @ past.T
    for candidate, row in zip(scored, sims):
        best = np.argsort(-row)[: settings.evidence_items]
        candidate.evidence = [Evidence(item_id=known[j].item_id, title=known[j].title, similarity=round(float(row[j]), 4))
                              for j in best if row[j] >= settings.evidence_min_similarity]
    return candidates
