"""Item content texts and their embeddings (for content methods and intra-list diversity).

tags.csv has no time cut-off: some users tagged their own held-out items. `leak_safe_tags` drops every tag a
user wrote on one of their targets and, in the temporal protocol, every tag from their validation timestamp on, so
item texts carry no trace of the held-out items of the very user being evaluated (tags of other users stay, as they
would in production). Given several splits it drops the union, so one set of vectors serves every protocol.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragrec.evaluation.data import Dataset, Tags, load_tags
from ragrec.evaluation.protocol import Split

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "ragrec-eval"


def leak_safe_tags(splits: Split | Sequence[Split], tags: Tags) -> Tags:
    """Tags minus those written by a user on one of their targets (of any split) or, for temporal splits, from
    the validation time on."""
    u = tags.users
    known = u >= 0
    uu = np.where(known, u, 0)
    drop = np.zeros(len(u), dtype=bool)
    for split in [splits] if isinstance(splits, Split) else splits:
        drop |= known & ((tags.items == split.validation_item[uu]) | (tags.items == split.test_item[uu]))
        if split.protocol == "temporal":
            ts = split.validation_timestamp[uu]
            drop |= known & (ts >= 0) & (tags.timestamps >= ts)
    keep = ~drop
    return Tags(tags.users[keep], tags.items[keep], tags.timestamps[keep], [t for t, k in zip(tags.texts, keep) if k])


def item_texts(ds: Dataset, tags: Tags | None = None, max_tags: int = 20) -> list[str]:
    """The text ragrec embeds per movie: title, genres, most frequent distinct tags."""
    by_item: dict[int, dict[str, int]] = defaultdict(dict)
    if tags is not None:
        for i, t in zip(tags.items.tolist(), tags.texts):
            key = t.lower()
            by_item[i][key] = by_item[i].get(key, 0) + 1
    texts = []
    for i, (title, genres) in enumerate(zip(ds.titles, ds.genres)):
        top = sorted(by_item.get(i, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:max_tags]
        genre_text = "" if genres == "(no genres listed)" else genres.replace("|", ", ")
        texts.append(f"title: {title}\ngenres: {genre_text}\ntags: {', '.join(t for t, _ in top)}")
    return texts


def embed_texts(texts: list[str], cache_dir: Path = DEFAULT_CACHE) -> np.ndarray:
    """Unit-norm MiniLM vectors, cached by the hash of the texts (embedding 9.7k items costs ~40 s)."""
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"content-{key}.npy"
    if path.exists():
        return np.load(path)
    from ragrec.config import Settings
    from ragrec.embedding import get_embedder

    vectors = get_embedder(Settings()).embed(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def content_vectors(splits: Split | Sequence[Split], cache_dir: Path = DEFAULT_CACHE, with_tags: bool = True) -> np.ndarray:
    """Leak-safe content vectors of every catalog item (safe for all the given splits at once)."""
    first = splits if isinstance(splits, Split) else splits[0]
    tags = leak_safe_tags(splits, load_tags(first.dataset)) if with_tags else None
    return embed_texts(item_texts(first.dataset, tags), cache_dir)
