"""ragrec's evaluation pipeline keeps its fits for `--rerank`: the same fit data and Settings reopen the kept fit,
anything else fits anew."""

import numpy as np

from ragrec.evaluation.pipeline import RagrecPipeline, fit_key
from ragrec.evaluation.protocol import Interactions
from ragrec.recommender import Recommender


def interactions(rows: list[tuple[int, list[int]]]) -> Interactions:
    """Users (raw id, the demo catalog's movieIds in time order) as fit data over movieIds 1..20."""
    item_ids = np.arange(1, 21, dtype=np.int64)
    items = np.concatenate([np.searchsorted(item_ids, movies) for _, movies in rows]).astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum([len(m) for _, m in rows])]).astype(np.int64)
    return Interactions(indptr=indptr, items=items, timestamps=1_600_000_000 + np.arange(len(items), dtype=np.int64),
                        n_items=len(item_ids), user_ids=np.array([u for u, _ in rows], dtype=np.int64),
                        item_ids=item_ids)


def test_kept_fits_are_reopened_for_the_same_data_only(tmp_path, shared_catalog, monkeypatch):
    reindexed = []
    reindex = Recommender.reindex
    monkeypatch.setattr(Recommender, "reindex", lambda self, *a, **kw: reindexed.append(1) or reindex(self, *a, **kw))
    train = interactions([(7, [1, 2, 3, 4]), (8, [2, 3, 5]), (9, [1, 5, 6, 7])])

    first = RagrecPipeline(tmp_path, keep_fits=True)
    first.fit(train)
    expected = first.recommend(7, [], [], 10)
    first.close()
    assert len(reindexed) == 1 and len(list((tmp_path / "fits").iterdir())) == 1

    again = RagrecPipeline(tmp_path, keep_fits=True)
    again.fit(train)
    assert len(reindexed) == 1  # reopened, not fitted again
    assert again.recommend(7, [], [], 10) == expected and expected and not {1, 2, 3, 4} & set(expected)
    again.close()
    assert len(list((tmp_path / "fits").iterdir())) == 1


def test_a_fit_is_known_by_its_data_and_its_settings():
    train = interactions([(7, [1, 2, 3, 4]), (8, [2, 3, 5])])
    key = fit_key(train, {})
    assert key == fit_key(interactions([(7, [1, 2, 3, 4]), (8, [2, 3, 5])]), {})
    others = [interactions([(7, [1, 2, 3, 4]), (8, [2, 3])]), interactions([(7, [1, 2, 4, 3]), (8, [2, 3, 5])]),
              interactions([(7, [1, 2, 3, 4]), (9, [2, 3, 5])])]
    assert len({key, *(fit_key(t, {}) for t in others), fit_key(train, {"collab_dim": 64})}) == 5
    later = interactions([(7, [1, 2, 3, 4]), (8, [2, 3, 5])])
    later.timestamps[-1] += 1
    assert fit_key(later, {}) != key
