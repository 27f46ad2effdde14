"""Reindex as a unit of change: a killed reindex changes nothing that serves, a finished one leaves nothing stale
(no factor of an item nobody engages with any more, nothing derived from a forgotten user), and a catalog made
before the two collab slots is moved to them. Real MiniLM, real Qdrant Edge, a real `ragrec reindex` process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from ragrec.config import Settings
from ragrec.demo import demo_options
from ragrec.events.models import Event
from ragrec.ingestion import ingest
from ragrec.recommender import Recommender
from ragrec.retrieval.collab import train_item_factors
from ragrec.retrieval.models import RecommendRequest
from ragrec.schema import COLLAB_SLOTS, POPULARITY, other_slot
from ragrec.store import PointIn, point_id
from ragrec.store.edge import EdgeStore

from conftest import private_items

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
N_MOVIES = 400
TASTES = ["Animation", "Horror", "Romance", "Sci-Fi"]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, embedder, demo_movies):
    """A data dir with the first 400 demo movies (copied per test: tests change it)."""
    folder = tmp_path_factory.mktemp("reindex")
    movies = folder / "movies.jsonl"
    movies.write_text("".join(json.dumps(m) + "\n" for m in demo_movies[:N_MOVIES]), encoding="utf-8")
    ingest(movies, demo_options(), settings=Settings(data_dir=folder / "data"), embedder=embedder)
    return folder / "data"


@pytest.fixture
def data_dir(catalog, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(catalog, target)
    return target


def taste_events(demo_movies, users=range(120), taste_of=lambda u: TASTES[u % 4], start=0, per_user=8, seed=0):
    """Each user likes `per_user` movies, mostly of their taste: enough structure for ALS to learn."""
    rng = np.random.default_rng(seed)
    movies = demo_movies[:N_MOVIES]
    by_genre = {g: [str(m["movieId"]) for m in movies if g in m["genres"]] for g in TASTES}
    everything = [str(m["movieId"]) for m in movies]
    events = []
    for u in users:
        picks = list(rng.choice(by_genre[taste_of(u)], per_user - 2, replace=False)) + \
            list(rng.choice(everything, 2, replace=False))
        events += [Event(event_id=f"u{u:03d}-{start}-{n}", user_id=f"u{u:03d}", item_id=item, type="like",
                         timestamp=T0 + timedelta(hours=start + n)) for n, item in enumerate(picks)]
    return events


def top(rec, users, k=8):
    return {u: [(c.item_id, round(c.score, 5), c.path) for c in rec.recommend(RecommendRequest(user_id=u, k=k)).items]
            for u in users}


def collab_vectors(store, slot) -> dict[str, np.ndarray]:
    return collab_vectors_of(store, "items", slot)


def collab_vectors_of(store, items, slot) -> dict[str, np.ndarray]:
    return {r.payload["item_id"]: r.vectors[slot] for r in store.scroll(items, payload=["item_id"], vectors=[slot])
            if r.vectors and slot in r.vectors}


# a real `ragrec -v reindex` in small chunks that parks itself after writing its first chunk of users, so the test
# can SIGKILL it at a known point of its user phase
PARKED_REINDEX = """
import sys, time
from ragrec.retrieval import reindex
reindex.USERS_PER_CHUNK = 5
info = reindex.logger.info
def parked(message, *args):
    info(message, *args)
    if message.startswith("users written"):
        time.sleep(600)
reindex.logger.info = parked
from ragrec.cli import app
app()
"""


def test_a_reindex_killed_in_its_user_phase_changes_no_recommendation(data_dir, embedder, demo_movies):
    settings = Settings(data_dir=data_dir)
    users = ["u001", "u002", "u005", "u010", "u042", "u077"]
    with Recommender(settings, embedder=embedder) as rec:
        rec.record_feedback(taste_events(demo_movies))
        rec.reindex()
        # new events: a third of the users change taste; their vectors move at once (live feedback)
        rec.record_feedback(taste_events(demo_movies, users=range(40), taste_of=lambda u: TASTES[(u + 1) % 4],
                                         start=100))
        before = top(rec, users)
        live_users, live_slot = rec.store.resolve("users"), rec.profiles.slot()
    assert all(path == "hybrid" for items in before.values() for _, _, path in items)

    env = {**os.environ, "RAGREC_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", PARKED_REINDEX, "-v", "reindex"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env)
    deadline, parked = time.time() + 300, False
    for line in proc.stderr:
        if "users written" in line:
            parked = True
            break
        if time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert parked, "the reindex never reached its user phase"

    with Recommender(settings, embedder=embedder) as rec:
        assert top(rec, users) == before  # the old users and the item factors they were built on still serve
        # it was killed after retraining the item factors, into the other slot
        assert rec.store.resolve("users") == live_users and rec.profiles.slot() == live_slot
        assert len(collab_vectors(rec.store, other_slot(live_slot))) > 100

        report = rec.reindex()  # a complete one switches users and factors together
        assert report.collab_slot == other_slot(live_slot) and rec.store.resolve("users") == report.users_collection
        assert collab_vectors(rec.store, live_slot) == {}  # the factors nobody is built on any more are gone
        after = top(rec, users)
        assert all(path == "hybrid" for items in after.values() for _, _, path in items)
        assert after != before


def test_a_finished_reindex_leaves_nothing_of_what_is_no_longer_in_the_log(data_dir, embedder, demo_movies):
    settings = Settings(data_dir=data_dir)
    with Recommender(settings, embedder=embedder) as rec:
        events = taste_events(demo_movies)
        loner = "6"  # Heat: the loner is the only one who likes it
        events = [e for e in events if e.item_id != loner]
        events.append(Event(event_id="loner-1", user_id="loner", item_id=loner, type="like", timestamp=T0))
        events.append(Event(event_id="loner-2", user_id="loner", item_id="1", type="like", timestamp=T0))
        rec.record_feedback(events)
        first = rec.reindex()
        assert loner in collab_vectors(rec.store, first.collab_slot)

        rec.forget_user("loner")
        second = rec.reindex()
        stored = collab_vectors(rec.store, second.collab_slot)
        assert loner not in stored and collab_vectors(rec.store, first.collab_slot) == {}
        [heat] = rec.store.retrieve("items", [point_id(loner)], payload=[POPULARITY])
        assert heat.payload[POPULARITY] == 0
        # every factor left is exactly what the log without the forgotten user trains
        expected, _ = train_item_factors(rec.log, settings)
        assert set(stored) == set(expected)
        assert all(np.allclose(stored[i], expected[i], atol=1e-5) for i in stored)

        # and a log of three events leaves three items with factors, not the whole catalog's old ones
        for user in {e.user_id for e in events} - {"loner", "u000"}:
            rec.forget_user(user)
        kept = rec.log.user_events("u000")[:3]
        rec.forget_user("u000")
        rec.record_feedback(kept)
        third = rec.reindex()
        assert set(collab_vectors(rec.store, third.collab_slot)) == {e.item_id for e in kept}
        assert collab_vectors(rec.store, other_slot(third.collab_slot)) == {}


def test_a_catalog_made_with_one_collab_vector_moves_to_two_slots_at_the_next_reindex(data_dir, embedder,
                                                                                     demo_movies):
    """Catalogs ingested before the slots have one `collab` vector; neither engine adds a vector to an existing
    collection, so reindex copies the items (payload indexes too) into a new generation with both slots."""
    store = EdgeStore(data_dir)
    meta = store.metadata("items")
    store.create_collection("items-g7", {"content": meta["dim"], "collab": meta["collab_dim"]}, metadata=meta)
    for key, kind in store.payload_indexes("items").items():
        store.create_payload_index("items-g7", key, kind)
    store.upsert("items-g7", [PointIn(id=r.id, vectors={"content": r.vectors["content"]}, payload=r.payload)
                              for r in store.scroll("items", vectors=["content"])])
    old = store.resolve("items")
    store.set_alias("items", "items-g7")
    store.drop_collection(old)
    store.close()

    settings = Settings(data_dir=data_dir)
    with Recommender(settings, embedder=embedder) as rec:
        rec.record_feedback(taste_events(demo_movies))
        report = rec.reindex()
        assert rec.store.resolve("items") == "items-g8"
        assert set(rec.store.vector_sizes("items")) == {"content", *COLLAB_SLOTS}
        assert rec.store.count("items") == N_MOVIES
        assert {"item_id", "year", "genres", POPULARITY} <= set(rec.store.payload_indexes("items"))
        assert report.collab_slot == COLLAB_SLOTS[1] and len(collab_vectors(rec.store, COLLAB_SLOTS[1])) > 100
        got = rec.recommend(RecommendRequest(user_id="u003", k=5, filters=["year>=1990"])).items
        assert len(got) == 5 and {c.path for c in got} == {"hybrid"} and all(c.payload["year"] >= 1990 for c in got)


def test_a_reindex_leaves_the_items_indexed(demo, embedder, demo_movies, tmp_path):
    """Emptying the old collab slot after the switch moves every point out of the HNSW segments (Qdrant rewrites
    a point it updates): without an index build after it, every query went exact (2x slower at 10k items, 10x at
    100k: bench/RESULTS.md). The demo catalog is big enough to be indexed; 400 items are not."""
    settings, store, _ = demo
    items = private_items(store)
    settings = settings.model_copy(update={"items_collection": items, "users_collection": f"users-{items}",
                                           "events_url": f"sqlite:///{tmp_path / 'events.db'}"})
    try:
        with Recommender(settings, store=store, embedder=embedder) as rec:
            rec.record_feedback(taste_events(demo_movies))
            report = rec.reindex()  # fills the other slot and empties the one the first users were built on
            assert report.collab_slot != COLLAB_SLOTS[0]
            live = len(collab_vectors_of(store, items, report.collab_slot))
            [info] = [c for c in store.collections() if c.name == items]
            # Qdrant counts the vectors of indexed segments, including those a later update left behind there
            assert info.indexed == info.count + live
    finally:
        store.drop_collection(items)


def test_chunks_and_the_item_vector_cache_change_no_profile(data_dir, embedder, demo_movies, monkeypatch):
    """Item vectors are read once per reindex (up to CACHED_ITEMS), not per chunk of users: profiles built in small
    chunks with a cache full part way through equal those of one chunk, and events on an item no longer in the
    catalog are skipped whether or not the cache remembers that it is gone."""
    from ragrec.retrieval import reindex as reindex_module

    events = taste_events(demo_movies, users=range(40))
    gone = events[0].item_id
    with Recommender(Settings(data_dir=data_dir), embedder=embedder) as rec:
        rec.record_feedback(events)
        rec.record_feedback([Event(user_id="only-gone", item_id=gone, type="like")])  # nothing of theirs is left
        rec.store.delete("items", [point_id(gone)])
        users = sorted({e.user_id for e in events})

        one = rec.reindex()
        whole = rec.profiles.get_many(users)
        monkeypatch.setattr(reindex_module, "USERS_PER_CHUNK", 3)
        monkeypatch.setattr(reindex_module, "CACHED_ITEMS", 25)
        chunked = rec.reindex()
        again = rec.profiles.get_many(users)

        read: list[str] = []
        counted = reindex_module.item_vectors

        def counting(store, collection, item_ids, names):
            read.extend(item_ids)
            return counted(store, collection, item_ids, names)

        monkeypatch.setattr(reindex_module, "item_vectors", counting)
        monkeypatch.setattr(reindex_module, "CACHED_ITEMS", 10_000)
        rec.reindex()
        assert sorted(read) == sorted({e.item_id for e in events})  # each item read once, over 14 chunks

    skipped = sum(e.item_id == gone for e in events) + 1
    assert one.events_unknown_item == chunked.events_unknown_item == skipped > 0
    assert one.users == len(users) + 1 and one.users_without_vector == chunked.users_without_vector == 1
    assert one.events == chunked.events == len(events) + 1 - skipped
    assert set(whole) == set(again) == set(users)
    for user in users:  # the second reindex trained the other collab slot: compare what does not depend on it
        a, b = whole[user], again[user]
        assert (a.n_events, a.counts, a.recent) == (b.n_events, b.counts, b.recent)
        np.testing.assert_allclose(a.sums["content"], b.sums["content"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.long_sums["content"], b.long_sums["content"], rtol=1e-5, atol=1e-6)


def test_stored_events_ragrec_would_reject_today_are_skipped_and_counted(data_dir, embedder, demo_movies):
    """Rows an older ragrec (or a hand edit) left in the log: reindex skips each one, counts it, and builds the
    user from the rest, as if they had never been stored."""
    from sqlalchemy import text

    events = taste_events(demo_movies, users=range(2))
    item = events[0].item_id
    with Recommender(Settings(data_dir=data_dir), embedder=embedder) as rec:
        rec.record_feedback(events)
        bad = [("b1", "rating", 99.0, 0), ("b2", "rating", None, 0), ("b3", "like", 5.0, 0),
               ("b4", "rating", float("nan"), 0), ("b5", "like", None, 4_102_444_800_000_000),  # 2100-01-01
               ("b6", "teleport", None, 0),  # a type this ragrec does not know (a newer one wrote it?)
               ("b7", "like", None, -62_135_614_800_000_000),  # 0001-01-01T00:00+05:00: before datetime's range in UTC
               ("b8", "like", None, 2**62)]  # far beyond year 9999
        with rec.log.engine.begin() as conn:
            for event_id, kind, value, ts_us in bad:
                conn.execute(text("INSERT INTO events (event_id, user_id, item_id, type, value, ts_us) "
                                  "VALUES (:e, 'u000', :i, :t, :v, :ts)"),
                             {"e": event_id, "i": item, "t": kind, "v": value, "ts": ts_us or 1_700_000_000_000_000})
        lonely = next(m for m in demo_movies if m["movieId"] not in {int(e.item_id) for e in events})
        with rec.log.engine.begin() as conn:  # the only events of an item: invalid, so it stays unpopular
            conn.execute(text("INSERT INTO events (event_id, user_id, item_id, type, value, ts_us) VALUES "
                              "('c1', 'u001', :i, 'rating', 99, 1700000000000000), "
                              "('c2', 'u001', :i, 'like', NULL, 4102444800000000)"), {"i": str(lonely["movieId"])})
        bad += [None, None]
        report = rec.reindex()
        assert report.events_invalid == len(bad) and report.events == len(events)
        [stored] = rec.store.retrieve(rec.settings.items_collection, [point_id(str(lonely["movieId"]))],
                                      payload=[POPULARITY], vectors=True)
        assert not stored.payload.get(POPULARITY) and not set(COLLAB_SLOTS) & set(stored.vectors or {})
        profile = rec.profiles.get("u000")
        assert profile.n_events == sum(e.user_id == "u000" for e in events)
        assert all(np.isfinite(profile.sums["content"])) and all(np.isfinite(profile.long_sums["content"]))
