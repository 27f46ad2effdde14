"""Bulk catalog ingestion: CSV, JSON Lines and Parquet files into the Qdrant items collection."""

from ragrec.ingestion.job import (
    DeleteReport,
    IngestError,
    IngestFileError,
    IngestOptions,
    IngestReport,
    MassDeleteRefused,
    delete_items,
    ingest,
)
from ragrec.ingestion.rows import FieldSpec

__all__ = ["DeleteReport", "FieldSpec", "IngestError", "IngestFileError", "IngestOptions", "IngestReport",
           "MassDeleteRefused", "delete_items", "ingest"]
