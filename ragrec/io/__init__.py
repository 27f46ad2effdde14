"""Files in and out, shared by catalog ingestion and event loading: streaming readers, the rejects file, batching."""

from ragrec.io.batching import MAX_BATCH_SIZE, batched
from ragrec.io.readers import CatalogFileError, Format, RawRow, detect_format, open_rows, printable
from ragrec.io.rejects import RejectsPathError, RejectsWriter

__all__ = ["MAX_BATCH_SIZE", "CatalogFileError", "Format", "RawRow", "RejectsPathError", "RejectsWriter", "batched",
           "detect_format", "open_rows", "printable"]
