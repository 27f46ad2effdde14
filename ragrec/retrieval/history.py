"""Stage 1, history: what ragrec knows of the user behind a request.

The profile comes from the users collection (one point read by id), the items to leave out from the event log
(one indexed query for the user's distinct items, not a scan of their events), and the user's recent positive
items with their titles, texts, content vectors and (with the user's collab slot) collab vectors from the items
collection (one retrieve): evidence and the LLM stage show them.
"""

from __future__ import annotations

import numpy as np

from ragrec.config import Settings
from ragrec.retrieval.models import History, HistoryItem, RecommendRequest
from ragrec.retrieval.users import UserProfiles
from ragrec.schema import COLLAB, CONTENT, ITEM_ID, TEXT
from ragrec.store import VectorStore, point_id


def load_history(request: RecommendRequest, *, store: VectorStore, profiles: UserProfiles, log,
                 settings: Settings) -> History:
    if not request.user_id:
        return History()
    profile = profiles.get(request.user_id)
    exclude_seen = settings.exclude_seen if request.exclude_seen is None else request.exclude_seen
    seen = frozenset(log.seen_items(request.user_id)) if exclude_seen else frozenset()
    history = History(user_id=request.user_id, profile=profile, seen=seen)
    if profile and profile.recent and settings.evidence_history:
        recent = [r.item_id for r in profile.recent[: settings.evidence_history]]
        slot = profile.collab_slot or COLLAB  # the slot the user's collab vector, and so the candidates', are in
        records = store.retrieve(settings.items_collection, [point_id(i) for i in recent],
                                 payload=[ITEM_ID, "title", TEXT], vectors=[CONTENT, slot])
        by_id = {r.payload[ITEM_ID]: r for r in records}
        for item_id in recent:  # newest first; items since deleted from the catalog drop out
            record = by_id.get(item_id)
            if record is None:
                continue
            title = record.payload.get("title")
            history.items.append(HistoryItem(item_id=item_id, title=title if isinstance(title, str) else None,
                                             text=record.payload.get(TEXT)))
            vectors = record.vectors or {}
            if vectors.get(CONTENT) is not None:
                history._vectors[item_id] = np.asarray(vectors[CONTENT], dtype=np.float32)
            if vectors.get(slot) is not None:
                history._collab[item_id] = np.asarray(vectors[slot], dtype=np.float32)
    return history
