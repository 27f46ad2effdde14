"""MovieLens folders as compact integer arrays.

The harness works on dense indices (0..n_users-1, 0..n_items-1) so that scores are plain numpy rows; the raw
MovieLens ids are kept in sorted id maps so generic methods can speak userId / movieId.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ragrec.io import CatalogFileError

DEFAULT_DATASET = Path("/work/shared/datasets/movielens-latest-small")


def dataset_hash(path: Path) -> str:
    """sha256 over ratings.csv then movies.csv: names the exact data a report was computed on."""
    digest = hashlib.sha256()
    for name in ("ratings.csv", "movies.csv"):
        with open(Path(path) / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Dataset:
    """All ratings as implicit interactions; item index i is movie `item_ids[i]` (catalog = movies.csv)."""

    path: Path
    sha256: str
    users: np.ndarray  # int32 user index per interaction
    items: np.ndarray  # int32 item index per interaction
    timestamps: np.ndarray  # int64 seconds
    user_ids: np.ndarray  # raw userId per user index (sorted)
    item_ids: np.ndarray  # raw movieId per item index (sorted)
    titles: list[str] = field(repr=False)
    genres: list[str] = field(repr=False)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.users)

    def item_index(self, movie_ids: np.ndarray | list[int]) -> np.ndarray:
        """Raw movieIds -> item indices (raises on unknown ids, which would be silent misses otherwise)."""
        ids = np.asarray(movie_ids, dtype=np.int64)
        idx = np.searchsorted(self.item_ids, ids)
        idx = np.minimum(idx, len(self.item_ids) - 1)
        if ids.size and not np.array_equal(self.item_ids[idx], ids):
            unknown = ids[self.item_ids[idx] != ids]
            raise KeyError(f"unknown movieIds: {unknown[:5].tolist()}")
        return idx.astype(np.int32)


def load_movielens(path: Path | str = DEFAULT_DATASET) -> Dataset:
    """Read ratings.csv + movies.csv. Ratings of movies missing from movies.csv are added to the catalog
    (untitled) rather than dropped, so no interaction disappears silently."""
    path = Path(path)
    if path.is_file():
        raise CatalogFileError(f"{path}: a file, not a dataset folder (ratings.csv and movies.csv)")
    file = path / "ratings.csv"
    try:
        with warnings.catch_warnings(action="ignore"):  # numpy's "input contained no data": said below, once
            ratings = np.loadtxt(file, delimiter=",", skiprows=1, usecols=(0, 1, 3), dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise CatalogFileError(f"{file}: not MovieLens ratings (userId,movieId,rating,timestamp): {exc}") from None
    if not len(ratings):
        raise CatalogFileError(f"{file}: no ratings, nothing to evaluate")
    titles_by_id: dict[int, tuple[str, str]] = {}
    with open(path / "movies.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            titles_by_id[int(row["movieId"])] = (row["title"], row["genres"])
    movie_ids = np.union1d(np.fromiter(titles_by_id, dtype=np.int64), ratings[:, 1])
    user_ids = np.unique(ratings[:, 0])
    return Dataset(
        path=path,
        sha256=dataset_hash(path),
        users=np.searchsorted(user_ids, ratings[:, 0]).astype(np.int32),
        items=np.searchsorted(movie_ids, ratings[:, 1]).astype(np.int32),
        timestamps=ratings[:, 2].astype(np.int64),
        user_ids=user_ids,
        item_ids=movie_ids,
        titles=[titles_by_id.get(int(m), ("", ""))[0] for m in movie_ids],
        genres=[titles_by_id.get(int(m), ("", ""))[1] for m in movie_ids],
    )


@dataclass(frozen=True, eq=False)
class Tags:
    """tags.csv as arrays (user index -1 for users without ratings)."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    texts: list[str]


def load_tags(dataset: Dataset) -> Tags:
    """tags.csv of the dataset folder; empty if absent. Tags of unknown movies are dropped."""
    users, items, stamps, texts = [], [], [], []
    path = dataset.path / "tags.csv"
    if path.exists():
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                movie = int(row["movieId"])
                i = int(np.searchsorted(dataset.item_ids, movie))
                if i >= dataset.n_items or dataset.item_ids[i] != movie:
                    continue
                uid = int(row["userId"])
                u = int(np.searchsorted(dataset.user_ids, uid))
                users.append(u if u < dataset.n_users and dataset.user_ids[u] == uid else -1)
                items.append(i)
                stamps.append(int(row["timestamp"]))
                texts.append(row["tag"].strip())
    return Tags(
        users=np.asarray(users, dtype=np.int32),
        items=np.asarray(items, dtype=np.int32),
        timestamps=np.asarray(stamps, dtype=np.int64),
        texts=texts,
    )
