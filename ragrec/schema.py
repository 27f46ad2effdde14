"""Names every layer shares: the named vectors of an item point and the payload keys ragrec itself owns.

A catalog's own fields live beside these keys in the item payload, so a catalog field may not take one of the
reserved names (ingestion refuses it).
"""

from __future__ import annotations

import math
import re
from typing import Any

# --- named vectors of an item point ---------------------------------------------------------------------------
CONTENT = "content"  # the embedding of the item's text, written by ingestion
COLLAB = "collab"  # the collaborative vector space: the users' vector, and the first of the items' two slots
# Items keep collaborative factors in two slots: reindex fills the one the live users generation does not use, and
# the users alias switch changes both at once (each user point names its slot). A killed reindex leaves the pair
# that was serving untouched.
COLLAB_SLOTS = (COLLAB, "collab_b")


def other_slot(slot: str) -> str:
    return COLLAB_SLOTS[1] if slot == COLLAB_SLOTS[0] else COLLAB_SLOTS[0]

# --- payload keys owned by ragrec -----------------------------------------------------------------------------
ITEM_ID = "item_id"  # the catalog's id (the point id is UUIDv5 of it)
TEXT = "text"  # the text that was embedded (title: ...\ngenres: ...), for display and the LLM stage
TEXT_HASH = "text_hash"  # of the embedded text and model: an equal hash means the vector is still right
CONTENT_HASH = "content_hash"  # of the row's source fields as read: an equal hash means nothing to redo
POPULARITY = "popularity"  # distinct users who engaged with the item, written by reindex
# the item's catalog blurb (`ragrec describe-catalog`): shown to every user, and the hash of what it was written
# from (the item's facts, the catalog prompt's version, the model). Not carried over when ingest changes an item:
# a blurb of the old facts could state what is no longer true, and the next describe-catalog run writes a new one.
BLURB = "blurb"
BLURB_HASH = "blurb_hash"

RESERVED = (ITEM_ID, TEXT, TEXT_HASH, CONTENT_HASH, POPULARITY, BLURB, BLURB_HASH)
# Qdrant's payload integers (and so its filter values) are 64-bit: a larger one comes back as a float
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SYSTEM_FIELDS = (POPULARITY,)  # written by reindex, not the catalog file: a catalog update carries them over
HIDDEN = (TEXT_HASH, CONTENT_HASH, TEXT, BLURB_HASH)  # not part of an item's public payload (the text is shown on its own)


# --- ids ------------------------------------------------------------------------------------------------------
# Item and user ids, as every layer accepts them: an item the catalog takes must be one feedback can name
MAX_ID_CHARS = 200  # the event log's id columns (PostgreSQL refuses longer ones; SQLite would keep them)
# SQLite's JSON path cuts a string at NUL ("bob\0evil" was stored as "bob"): no control character in an id
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A lone surrogate (JSON's "\ud800", or a byte that is not UTF-8 read with surrogateescape) is no Unicode text: no
# database, hash or UTF-8 file takes it, and it failed a whole event load
SURROGATE = re.compile("[\ud800-\udfff]")


class NotAnId(ValueError):
    """A value read from a file that cannot be an id; the message says why (completes "the id ...")."""


def id_text(value: Any) -> str | None:
    """An id read from a file (CSV text, a JSON or Parquet value) as text; None when missing or blank.

    A number is its digits (a float column's 12.0 is "12"); a NaN or an infinity is no id (it became item "nan"),
    nor are a boolean, a list or an object; bytes (a Parquet binary column) are UTF-8 text, not "b'abc'"."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise NotAnId("is bytes that are not UTF-8 text") from None
    if isinstance(value, (bool, list, dict)):
        raise NotAnId(f"must be text or a number, not {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotAnId(f"must be text or a finite number, not {value}")
        if value.is_integer():
            value = int(value)
    return str(value).strip() or None


def id_problem(value: str) -> str | None:
    """Why `value` (stripped, not blank) cannot be an id, or None."""
    if len(value) > MAX_ID_CHARS:
        return f"is longer than {MAX_ID_CHARS} characters"
    if _CONTROL.search(value):
        return "holds a control character"
    if m := SURROGATE.search(value):
        return f"is not valid Unicode (a lone surrogate, U+{ord(m[0]):04X})"
    return None


# --- collection names -----------------------------------------------------------------------------------------
# The embedded store makes a folder of each collection's name: a name is never a path ("/tmp/x", "../esc", "a/b").
# Qdrant servers take these names too. Names ragrec derives (`items-g2`) add a short suffix, hence the store's
# own limit a little above the one for names given.
MAX_COLLECTION_CHARS = 64
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def collection_problem(name: str, max_chars: int = MAX_COLLECTION_CHARS) -> str | None:
    """Why `name` cannot name a collection, or None."""
    if not 1 <= len(name) <= max_chars or not _COLLECTION_NAME.fullmatch(name):
        return (f"{name!r} is not a collection name: use 1 to {max_chars} letters, digits, '_', '-' and '.' "
                "(not first)")
    return None


def public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The catalog's fields of an item (plus its id and popularity), without ragrec's bookkeeping."""
    return {k: v for k, v in payload.items() if k not in HIDDEN}
