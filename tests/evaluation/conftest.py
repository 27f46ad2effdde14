import os
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


@pytest.fixture(scope="session")
def harness_catalog(tmp_path_factory):
    """The bundled catalog ingested once per session exactly as the harness ingests it (`ensure_catalog`, with the
    code defaults: no RAGREC_* variables, no .env); 1-4 min on 2 shared cores, so the harness's runs in these tests
    share it."""
    from ragrec.evaluation.pipeline import ensure_catalog

    root = tmp_path_factory.mktemp("harness-catalog")
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("RAGREC_")]:
            mp.delenv(key)
        mp.chdir(root)
        ensure_catalog(root / "catalog")
    return root / "catalog"


@pytest.fixture
def shared_catalog(harness_catalog, monkeypatch):
    """A harness run in this test copies the session's ingested catalog into its fresh data dir instead of
    ingesting it again (a copy of the catalog is what every phase starts from anyway)."""
    from ragrec.evaluation import pipeline

    ingest = pipeline.ensure_catalog

    def ensure(catalog_dir, **overrides):
        if overrides or (catalog_dir / "collections.json").exists():
            return ingest(catalog_dir, **overrides)
        shutil.copytree(harness_catalog, catalog_dir)

    monkeypatch.setattr(pipeline, "ensure_catalog", ensure)
    return harness_catalog
