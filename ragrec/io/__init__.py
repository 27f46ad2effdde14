"""Files in and out, shared by catalog ingestion and event loading: streaming readers, the rejects file, batching."""

from ragrec.io.batching import batched
from ragrec.io.readers import CatalogFileError, Format, RawRow, detect_format, open_rows
from ragrec.io.rejects import RejectsWriter

__all__ = ["CatalogFileError", "Format", "RawRow", "RejectsWriter", "batched", "detect_format", "open_rows"]
