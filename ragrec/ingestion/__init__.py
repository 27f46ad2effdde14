"""Bulk catalog ingestion: CSV, JSON Lines and Parquet files into the Qdrant items collection."""

from ragrec.ingestion.job import (
    DeleteReport,
    IngestError,
    IngestFileError,
    IngestInterrupted,
    IngestOptions,
    IngestReport,
    MassDeleteRefused,
    check_items_collection,
    check_options,
    delete_items,
    ingest,
)
from ragrec.ingestion.rows import FieldSpec
from ragrec.ingestion.shard import Shard

__all__ = ["DeleteReport", "FieldSpec", "IngestError", "IngestFileError", "IngestInterrupted", "IngestOptions",
           "IngestReport", "MassDeleteRefused", "Shard", "check_items_collection", "check_options", "delete_items",
           "ingest"]
