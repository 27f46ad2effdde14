import shutil

import numpy as np
import pytest

from ragrec.evaluation.data import Dataset


def make_dataset(rows: list[tuple[int, int, int]], n_movies: int | None = None) -> Dataset:
    """A Dataset from (userId, movieId, timestamp) rows; movies 0..n_movies-1 (or those rated)."""
    arr = np.array(rows, dtype=np.int64)
    user_ids = np.unique(arr[:, 0])
    item_ids = np.arange(n_movies) if n_movies else np.unique(arr[:, 1])
    return Dataset(
        path=__import__("pathlib").Path("/nonexistent"),
        sha256="test",
        users=np.searchsorted(user_ids, arr[:, 0]).astype(np.int32),
        items=np.searchsorted(item_ids, arr[:, 1]).astype(np.int32),
        timestamps=arr[:, 2],
        user_ids=user_ids,
        item_ids=item_ids,
        titles=[f"m{i}" for i in item_ids],
        genres=["Drama"] * len(item_ids),
    )


@pytest.fixture
def tiny() -> Dataset:
    return make_dataset([(1, 0, 10), (1, 1, 20), (1, 2, 30), (1, 3, 30), (2, 4, 5), (2, 0, 6), (2, 1, 7)], 6)


@pytest.fixture
def shared_catalog(demo_catalog, monkeypatch):
    """A harness run in this test copies the run's ingested demo catalog (`demo_catalog`: made by the harness's
    own `ensure_catalog` with the code defaults) into its fresh data dir instead of ingesting it again (a copy of
    the catalog is what every phase starts from anyway)."""
    from ragrec.evaluation import pipeline

    ingest = pipeline.ensure_catalog

    def ensure(catalog_dir, **overrides):
        if overrides or (catalog_dir / "collections.json").exists():
            return ingest(catalog_dir, **overrides)
        shutil.copytree(demo_catalog / "data", catalog_dir)

    monkeypatch.setattr(pipeline, "ensure_catalog", ensure)
    return demo_catalog / "data"
