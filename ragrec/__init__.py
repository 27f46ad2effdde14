"""ragrec: a retrieval-augmented recommender on Qdrant.

    from ragrec import Recommender, RecommendRequest, Settings

    with Recommender(Settings()) as rec:
        for item in rec.recommend(RecommendRequest(user_id="u1", k=10)).items:
            print(item.item_id, item.title, item.score, [str(e) for e in item.evidence])

The public surface is what this module names; everything else is internal and may change.
"""

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
    RecommendRequest,
    Recommendations,
    SourceScores,
)
from ragrec.retrieval.reindex import ReindexReport
from ragrec.store import StoreError, StoreLockedError

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "DeleteReport",
    "Event",
    "EventType",
    "Evidence",
    "FeedbackResult",
    "FieldSpec",
    "FilterSyntaxError",
    "History",
    "HistoryItem",
    "IngestError",
    "IngestFileError",
    "IngestOptions",
    "IngestReport",
    "MassDeleteRefused",
    "NoCatalog",
    "RecommendRequest",
    "Recommendations",
    "Recommender",
    "ReindexReport",
    "Settings",
    "Shard",
    "SourceScores",
    "StoreError",
    "StoreLockedError",
    "UnknownItems",
    "UserInfo",
    "delete_items",
    "ingest",
]
