"""ragrec: a retrieval-augmented recommender on Qdrant.

    from ragrec import Recommender, RecommendRequest, Settings

    with Recommender(Settings()) as rec:
        for item in rec.recommend(RecommendRequest(user_id="u1", k=10)).items:
            print(item.item_id, item.title, item.score, [str(e) for e in item.evidence])

The public surface is what this module names; everything else is internal and may change.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names below, for type checkers; at run time each is imported on first use
    from ragrec.config import Settings
    from ragrec.events.models import Event, EventType
    from ragrec.ingestion import (
        DeleteReport,
        FieldSpec,
        IngestError,
        IngestFileError,
        IngestOptions,
        IngestReport,
        MassDeleteRefused,
        Shard,
        delete_items,
        ingest,
    )
    from ragrec.recommender import NoCatalog, Recommender, UserInfo
    from ragrec.retrieval.candidates import UnknownItems
    from ragrec.retrieval.feedback import FeedbackResult
    from ragrec.retrieval.filters import FilterSyntaxError
    from ragrec.retrieval.models import (
        Candidate,
        Evidence,
        History,
        HistoryItem,
        Recommendations,
        RecommendRequest,
        SourceScores,
    )
    from ragrec.retrieval.reindex import ReindexReport
    from ragrec.store import StoreError, StoreLockedError

# Imported on first use (PEP 562): `import ragrec.config` or `ragrec.generation` (the LLM's cold start, the API's)
# does not pay for the ingestion, the event log's migrations and the store clients it does not touch.
_EXPORTS = {
    "Candidate": "ragrec.retrieval.models",
    "DeleteReport": "ragrec.ingestion",
    "Event": "ragrec.events.models",
    "EventType": "ragrec.events.models",
    "Evidence": "ragrec.retrieval.models",
    "FeedbackResult": "ragrec.retrieval.feedback",
    "FieldSpec": "ragrec.ingestion",
    "FilterSyntaxError": "ragrec.retrieval.filters",
    "History": "ragrec.retrieval.models",
    "HistoryItem": "ragrec.retrieval.models",
    "IngestError": "ragrec.ingestion",
    "IngestFileError": "ragrec.ingestion",
    "IngestOptions": "ragrec.ingestion",
    "IngestReport": "ragrec.ingestion",
    "MassDeleteRefused": "ragrec.ingestion",
    "NoCatalog": "ragrec.recommender",
    "RecommendRequest": "ragrec.retrieval.models",
    "Recommendations": "ragrec.retrieval.models",
    "Recommender": "ragrec.recommender",
    "ReindexReport": "ragrec.retrieval.reindex",
    "Settings": "ragrec.config",
    "Shard": "ragrec.ingestion",
    "SourceScores": "ragrec.retrieval.models",
    "StoreError": "ragrec.store",
    "StoreLockedError": "ragrec.store",
    "UnknownItems": "ragrec.retrieval.candidates",
    "UserInfo": "ragrec.recommender",
    "delete_items": "ragrec.ingestion",
    "ingest": "ragrec.ingestion",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ragrec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [*_EXPORTS]
