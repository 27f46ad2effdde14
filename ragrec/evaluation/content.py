"""Item content texts and their embeddings (for content methods and intra-list diversity).

tags.csv has no time cut-off: some users tagged their own held-out items. `leak_safe_tags` drops every tag a
user wrote on one of their targets or at/after their validation timestamp, so item texts carry no trace of the
future of the very user being evaluated (tags of other users stay, as they would in production).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from ragrec.evaluation.data import Dataset, Tags, load_tags
from ragrec.evaluation.protocol import Split

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "ragrec-eval"


def leak_safe_tags(split: Split, tags: Tags) -> Tags:
    """Tags minus those written by a user on a held-out item or from the validation time on."""
    u = tags.users
    known = u >= 0
    uu = np.where(known, u, 0)
    on_target = known & ((tags.items == split.validation_item[uu]) | (tags.items == split.test_item[uu]))
    late = known & (split.validation_timestamp[uu] >= 0) & (tags.timestamps >= split.validation_timestamp[uu])
    keep = ~(on_target | late)
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


def content_vectors(split: Split, cache_dir: Path = DEFAULT_CACHE, with_tags: bool = True) -> np.ndarray:
    """Leak-safe content vectors of every catalog item."""
    tags = leak_safe_tags(split, load_tags(split.dataset)) if with_tags else None
    return embed_texts(item_texts(split.dataset, tags), cache_dir)
