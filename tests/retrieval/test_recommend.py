"""Candidates end to end: real MiniLM vectors of the demo catalog, real event log, on both Qdrant engines."""

from __future__ import annotations

import csv
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient

from conftest import MOVIELENS, need, private_items
from ragrec.config import Settings
from ragrec.events.log import EventLog
from ragrec.events.models import Event
from ragrec.recommender import Recommender
from ragrec.retrieval.candidates import UnknownItems
from ragrec.retrieval.models import RecommendRequest
from ragrec.store import PointIn, point_id
from ragrec.store.base import copy_points
from ragrec.store.server import ServerStore

ANIMATED = ["1", "2355", "4886", "6377", "3114"]  # Toy Story, A Bug's Life, Monsters Inc., Finding Nemo, Toy Story 2
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def demo_server(demo):
    """The demo catalog copied, vectors and all, into qdrant-client's local mode (the server stand-in)."""
    _, edge, _ = demo
    server = ServerStore(client=QdrantClient(":memory:"))
    target = edge.resolve("items")
    server.create_collection(target, edge.vector_sizes("items"), metadata=edge.metadata("items"))
    server.set_alias("items", target)
    copy_points(edge, "items", server, "items")
    return server


@pytest.fixture(params=["edge", "server"])
def rec(request, demo, demo_server, embedder, tmp_path):
    """A Recommender with its own event log and users collection, on the shared demo items (read only), or on a
    private copy of them for tests marked `mutates_items` (reindex writes popularity and collab vectors)."""
    base, edge, _ = demo
    store = edge if request.param == "edge" else demo_server
    items = "items"
    if request.node.get_closest_marker("mutates_items"):
        items = private_items(store)
    settings = Settings(data_dir=base.data_dir, users_collection=f"users-{uuid.uuid4().hex[:8]}",
                        items_collection=items)
    log = EventLog(f"sqlite:///{tmp_path / 'events.db'}")
    r = Recommender(settings, store=store, log=log, embedder=embedder)
    try:
        yield r
    finally:
        for name in {settings.users_collection, items} - {"items"}:
            store.drop_collection(name)
        log.close()


def likes(user, items, start=0, kind="like"):
    return [Event(event_id=f"{user}-{kind}-{i}", user_id=user, item_id=i, type=kind,
                  timestamp=T0 + timedelta(hours=start + n)) for n, i in enumerate(items)]


def genres(results):
    return [r.payload.get("genres", []) for r in results]


def ids(results):
    return [r.item_id for r in results]


def test_a_fan_of_animated_family_films_gets_more_of_them(rec):
    result = rec.record_feedback(likes("ann", ANIMATED))
    assert result.accepted == 5 and result.users_updated == ["ann"]
    top = rec.recommend(RecommendRequest(user_id="ann", k=10)).items
    assert len(top) == 10
    assert sum("Animation" in g for g in genres(top)) >= 8
    assert not set(ids(top)) & set(ANIMATED)  # seen items are excluded
    assert top == sorted(top, key=lambda r: -r.score)
    # no collab vectors before a reindex: the content path, scored by the user's content vector alone
    assert {r.path for r in top} == {"content"}
    assert all(r.scores.content == pytest.approx(r.score, abs=1e-4) and r.scores.collab is None for r in top)
    # evidence: the liked films it is closest to, with their titles and similarities, best first
    titles = {"1": "Toy Story (1995)", "2355": "Bug's Life, A (1998)", "4886": "Monsters, Inc. (2001)",
              "6377": "Finding Nemo (2003)", "3114": "Toy Story 2 (1999)"}
    for r in top[:5]:
        assert r.evidence and all(e.kind == "liked" and titles[e.item_id] == e.title for e in r.evidence)
        sims = [e.similarity for e in r.evidence]
        assert sims == sorted(sims, reverse=True) and min(sims) >= rec.settings.evidence_min_similarity
        assert str(r.evidence[0]).startswith("because you liked ")
    assert top[0].text.startswith(f"title: {top[0].payload['title']}")  # the embedded text travels with the item


HORROR = ["1258", "1387", "1997", "2710"]  # The Shining, Jaws, The Exorcist, The Blair Witch Project
MORE_HORROR = ["1350", "1982", "2455", "1974", "3499"]  # The Omen, Halloween, The Fly, Friday the 13th, Misery


def test_a_dislike_removes_a_genre_from_the_top(rec):
    """Default settings (strong recency): the latest dislikes push the horror fan away from horror."""
    rec.record_feedback(likes("bob", HORROR))
    before = rec.recommend(RecommendRequest(user_id="bob", k=10)).items
    assert sum("Horror" in g for g in genres(before)) >= 5
    rec.record_feedback(likes("bob", MORE_HORROR[:3], start=100, kind="dislike"))
    after = rec.recommend(RecommendRequest(user_id="bob", k=10)).items
    assert sum("Horror" in g for g in genres(after)) == 0


def test_a_dislike_keeps_the_rest_of_the_taste_with_time_decay_only(rec):
    rec.settings = rec.settings.model_copy(update={"half_life_events": None})
    rec.record_feedback(likes("bo2", ANIMATED[:3] + HORROR))
    before = rec.recommend(RecommendRequest(user_id="bo2", k=10)).items
    assert sum("Horror" in g for g in genres(before)) >= 2
    rec.record_feedback(likes("bo2", HORROR + MORE_HORROR, start=100, kind="dislike"))
    after = rec.recommend(RecommendRequest(user_id="bo2", k=10)).items
    assert sum("Horror" in g for g in genres(after)) == 0
    assert sum("Animation" in g for g in genres(after)) >= 6


def test_filters_and_exclusions_hold(rec):
    rec.record_feedback(likes("cat", ANIMATED))
    comedies = rec.recommend(RecommendRequest(user_id="cat", k=15, filters=["genres=Comedy", "year>=2000"])).items
    assert len(comedies) == 15
    assert all("Comedy" in r.payload["genres"] and r.payload["year"] >= 2000 for r in comedies)
    no_animation = rec.recommend(RecommendRequest(user_id="cat", k=15, filters=["genres!=Animation"])).items
    assert len(no_animation) == 15 and all("Animation" not in r.payload["genres"] for r in no_animation)
    with_seen = rec.recommend(RecommendRequest(user_id="cat", k=10, exclude_seen=False)).items
    assert set(ANIMATED) & set(ids(with_seen))
    shown = ids(rec.recommend(RecommendRequest(user_id="cat", k=5)).items)
    more = rec.recommend(RecommendRequest(user_id="cat", k=5, exclude=shown)).items  # "show me others"
    assert len(more) == 5 and not set(shown) & set(ids(more))


def test_a_query_is_blended_into_a_warm_users_content_target(rec):
    rec.record_feedback(likes("qin", ANIMATED))
    blended = rec.recommend(RecommendRequest(user_id="qin", k=10, query="underwater adventure with fish")).items
    w = rec.settings.query_weight
    for r in blended:  # the content target is (1 − w)·user + w·query: the reported scores add up to the final one
        assert r.path == "content"
        assert r.score == pytest.approx((1 - w) * r.scores.content + w * r.scores.query, abs=1e-4)
    assert "6377" not in ids(blended)  # Finding Nemo is seen: still excluded
    # what the query asks for, ordered by the user's taste: more animated films than the query alone brings, all
    # of them among its top blend_candidates
    alone = rec.recommend(RecommendRequest(user_id="nobody-qin", k=rec.settings.blend_candidates,
                                           query="underwater adventure with fish")).items
    assert sum("Animation" in g for g in genres(blended)) > sum("Animation" in g for g in genres(alone[:10]))
    assert set(ids(blended)) <= set(ids(alone))


def test_a_query_leads_a_short_history(rec):
    rec.record_feedback(likes("heist-fan", ["1"]))  # one film: Toy Story
    asked = rec.recommend(RecommendRequest(user_id="heist-fan", k=5, query="heist movie")).items
    assert {r.path for r in asked} == {"content"}
    assert sum("Heist" in r.payload["title"] for r in asked) >= 3  # was 0 of 5 over the whole catalog


@pytest.mark.mutates_items
def test_cold_start_with_a_query_and_with_popularity(rec):
    query = rec.recommend(RecommendRequest(user_id="nobody", k=5, query="space opera with starships and a galactic empire")).items
    assert any("Sci-Fi" in g for g in genres(query)) and {r.path for r in query} == {"query"}
    assert ids(query) == ids(rec.similar(query="space opera with starships and a galactic empire", k=5).items)

    # popularity comes from the event log, written into the item payload by reindex
    events = likes("u1", ["296", "356", "318"]) + likes("u2", ["296", "356"]) + likes("u3", ["296"])
    rec.record_feedback(events)
    rec.reindex()
    popular = rec.recommend(RecommendRequest(user_id="newcomer", k=4)).items
    assert ids(popular[:3]) == ["296", "356", "318"]
    assert [r.score for r in popular[:3]] == [3, 2, 1]
    assert [str(r.evidence[0]) for r in popular[:3]] == ["popular with 3 users", "popular with 2 users",
                                                        "popular with 1 user"]
    assert {r.path for r in popular} == {"popular"} and popular[0].scores.popularity == pytest.approx(np.log(4))
    assert len(popular) == 4 and popular[3].evidence == []  # items nobody touched fill the rest
    filtered = rec.recommend(RecommendRequest(user_id="newcomer", k=2, filters=["genres=Drama"])).items
    assert len(filtered) == 2 and all("Drama" in g for g in genres(filtered))


def test_duplicate_events_change_nothing(rec):
    events = likes("dan", ANIMATED[:3])
    rec.record_feedback(events)
    before = rec.user("dan").profile
    again = rec.record_feedback(events)
    assert (again.accepted, again.duplicates) == (0, 3)
    after = rec.user("dan").profile
    assert after.n_events == before.n_events == 3
    assert np.allclose(after.sums["content"], before.sums["content"])


def test_unknown_items_are_rejected_with_a_reason(rec):
    result = rec.record_feedback([Event(user_id="eve", item_id="no-such-movie", type="like"),
                                  Event(user_id="eve", item_id="1", type="like")])
    assert result.accepted == 1 and len(result.rejected) == 1
    assert "no-such-movie" in result.rejected[0].reason
    with pytest.raises(UnknownItems):
        rec.recommend(RecommendRequest(user_id="eve", positive=["nope"]))


def test_example_items_strategies_and_diversity(rec):
    for strategy in ("average_vector", "best_score", "sum_scores"):
        out = rec.recommend(RecommendRequest(positive=["1", "2355"], negative=["1258"], strategy=strategy, k=10)).items
        assert len(out) == 10 and not {"1", "2355", "1258"} & set(ids(out))
        assert sum("Animation" in g for g in genres(out)) >= 5, strategy
        assert {r.path for r in out} == {"examples"}
    rec.record_feedback(likes("fay", ANIMATED))
    plain = rec.recommend(RecommendRequest(user_id="fay", k=10)).items
    diverse = rec.recommend(RecommendRequest(user_id="fay", k=10, diversity=0.7)).items
    assert len(diverse) == 10 and ids(plain) != ids(diverse)

    def spread(results):  # mean pairwise distance between result vectors
        v = rec.embedder.embed([r.text for r in results])
        sims = v @ v.T
        return 1 - sims[np.triu_indices(len(v), 1)].mean()

    assert spread(diverse) > spread(plain)


@pytest.mark.mutates_items
def test_new_items_are_retrievable_at_once(rec):
    vec = rec.embedder.embed(["title: Toy Robots Go Camping (2031)\ngenres: Animation, Children, Comedy"])[0]
    rec.store.upsert(rec.settings.items_collection, [PointIn(
        id=point_id("robots-2031"), vectors={"content": vec},
        payload={"item_id": "robots-2031", "title": "Toy Robots Go Camping (2031)",
                 "genres": ["Animation", "Children", "Comedy"], "year": 2031})])
    rec.record_feedback(likes("gus", ANIMATED))
    top = rec.recommend(RecommendRequest(user_id="gus", k=30)).items
    assert "robots-2031" in ids(top)


@pytest.mark.mutates_items
def test_forget_and_reindex_are_idempotent(rec):
    rec.record_feedback(likes("hal", ANIMATED) + likes("ivy", ["296", "318"]))
    live = rec.user("hal").profile
    first = rec.reindex()
    assert first.users == 2 and first.events == 7 and first.events_replayed == first.users_dropped == 0
    rebuilt = rec.user("hal").profile
    assert np.allclose(rebuilt.sums["content"], live.sums["content"], atol=1e-5)
    assert np.allclose(rebuilt.long_sums["content"], live.long_sums["content"], atol=1e-5)
    assert (rebuilt.positive_weight, rebuilt.long_positive_weight) == pytest.approx(
        (live.positive_weight, live.long_positive_weight))
    second = rec.reindex()
    assert second.users == 2 and second.items_popularity_changed == 0
    assert first.items_popularity_changed <= 7  # not the whole catalog's first 0s: those were 0 before too
    assert np.allclose(rec.user("hal").profile.sums["content"], rebuilt.sums["content"])
    assert rec.forget_user("hal") == 5
    assert rec.user("hal").profile is None and rec.user("hal").events == 0
    cold = rec.recommend(RecommendRequest(user_id="hal", k=3)).items  # a forgotten user is a cold user again
    assert len(cold) == 3 and {r.path for r in cold} == {"popular"}
    assert rec.reindex().users == 1  # and the next reindex does not bring them back


def test_feedback_arriving_out_of_time_order_gives_what_reindex_gives(rec):
    """The short-term sums position events by time: an event older than the user's latest, folded as it came,
    counted as the newest (live and rebuilt vectors had cosine 0.956). Such a user is rebuilt from the log."""
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rec.record_feedback([Event(user_id="oz", item_id="1", type="like", timestamp=t0 + timedelta(days=2))])
    rec.record_feedback([Event(user_id="oz", item_id="260", type="like", timestamp=t0 + timedelta(days=3))])
    rec.record_feedback([Event(user_id="oz", item_id="2355", type="like", timestamp=t0)])  # late: the oldest
    live = rec.user("oz").profile
    assert [r.item_id for r in live.recent] == ["260", "1", "2355"]
    rec.reindex()
    rebuilt = rec.user("oz").profile
    for space in ("sums", "long_sums"):
        assert np.allclose(getattr(rebuilt, space)["content"], getattr(live, space)["content"], atol=1e-5)
    assert (live.positive_weight, live.n_events) == (pytest.approx(rebuilt.positive_weight), 3)


@pytest.mark.mutates_items
def test_movielens_ratings_load_end_to_end(rec, tmp_path):
    from ragrec.events.load import EventMapping, load_events
    from ragrec.retrieval.feedback import known_items

    ratings = need(MOVIELENS / "ratings.csv")
    report = load_events(ratings, EventMapping.movielens(), rec.log, known_items(rec.store, rec.settings.items_collection),
                         rejects_path=tmp_path / "rejects.jsonl")
    assert report.stored == 100_836 and report.rejected == 0
    reindexed = rec.reindex()
    assert reindexed.users == 610 and reindexed.events == 100_836
    top = rec.recommend(RecommendRequest(user_id="1", k=10)).items
    seen = {e.item_id for e in rec.log.user_events("1")}
    assert rec.log.seen_items("1") == seen and len(seen) == 232
    assert len(top) == 10 and not seen & set(ids(top))
    assert rec.recommend(RecommendRequest(k=1)).items[0].item_id == "356"  # Forrest Gump: most users rated it
    # reindex trained the collaborative vectors: users get the hybrid (content + collab) blend
    assert reindexed.collab_items > 9000
    assert rec.user("1").profile.vector("collab") is not None
    assert {r.path for r in top} == {"hybrid"}
    s = rec.settings
    for r in top:  # the formula Qdrant ranked by, recomputed from the per-source scores
        prior = s.blend_popularity * (r.scores.popularity or 0.0)
        assert r.score == pytest.approx(s.blend_content * r.scores.content + s.blend_collab * r.scores.collab + prior,
                                        abs=1e-3)

    # the horizon: the collab score is the share's mix of the cosines with the long- and short-term vectors
    profile = rec.user("1").profile
    short, long = profile.vector("collab"), profile.long_vector("collab")
    assert float(short @ long) < 0.9  # 232 movies over years: the latest ones are not the whole history
    slot = profile.collab_slot
    for share in (None, 0.0, 1.0):
        got = rec.recommend(RecommendRequest(user_id="1", k=10, long_term_share=share)).items
        expected = s.long_term_share_collab if share is None else share
        records = rec.store.retrieve(s.items_collection, [point_id(r.item_id) for r in got], payload=["item_id"],
                                     vectors=[slot])
        item = {x.payload["item_id"]: np.asarray(x.vectors[slot]) for x in records}
        for r in got:
            mix = expected * float(item[r.item_id] @ long) + (1 - expected) * float(item[r.item_id] @ short)
            assert r.scores.collab == pytest.approx(mix, abs=1e-3)
        if share == 0.0:
            assert ids(got) != ids(top)  # the latest items alone rank other movies first
    examples = rec.recommend(RecommendRequest(k=3, positive=["1"], long_term_share=0.5))  # anonymous: no collab
    assert examples.warnings == ["long_term_share applies to a warm user's collab vector, which this request does "
                                 "not use (path 'examples')"]

    # "because you liked": the mean of the content and collab cosines picks the user's items that the same
    # MovieLens users liked (a co-like lift >= 2: liked together twice as often as chance) more often than the
    # content cosine alone did, whose best matches were often a shared year or word
    likers = defaultdict(set)
    with open(ratings, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if float(row["rating"]) >= 4:
                likers[row["movieId"]].add(row["userId"])

    def co_liked(a: str, b: str) -> bool:
        return len(likers[a] & likers[b]) * 610 >= 2 * len(likers[a]) * len(likers[b]) > 0

    picked = {"evidence": [], "content alone": []}
    for user in map(str, range(1, 21)):
        history, got = rec.retrieve(RecommendRequest(user_id=user, k=10))
        past, past_collab = history._vectors, history._collab
        for r in got.items:
            for e in r.evidence:
                collab = float(r._collab @ past_collab[e.item_id]) / float(
                    np.linalg.norm(r._collab) * np.linalg.norm(past_collab[e.item_id]))
                assert e.similarity == pytest.approx((float(r._vector @ past[e.item_id]) + collab) / 2, abs=1e-3)
                assert e.similarity >= s.evidence_min_similarity
                picked["evidence"].append(co_liked(r.item_id, e.item_id))
            closest = sorted(past, key=lambda i: -float(r._vector @ past[i]))[: s.evidence_items]
            picked["content alone"] += [co_liked(r.item_id, i) for i in closest if float(r._vector @ past[i]) >= 0.3]
    rate = {k: sum(v) / len(v) for k, v in picked.items()}
    assert len(picked["evidence"]) >= 100 and rate["evidence"] >= rate["content alone"] + 0.08, rate


@pytest.mark.mutates_items
def test_an_older_users_collection_serves_until_reindex_brings_the_long_term_sums(rec):
    """A users collection stored before the long-term sums (profile layout 1: no `*_long_sum` vectors) keeps
    serving and taking feedback with the short-term vectors, and says that a reindex would add the long-term
    ones; the reindex does."""
    rec.record_feedback(likes("kim", ANIMATED))
    live = rec.user("kim").profile
    store, alias, spaces = rec.store, rec.settings.users_collection, rec.profiles.spaces
    old = f"{alias}-g9"  # as an older ragrec made it: no long-term sums, no layout in the metadata
    store.create_collection(old, {n: d for space, d in spaces.items() for n in (space, f"{space}_sum")},
                            metadata={"spaces": spaces, "collab_slot": "collab"}, searched=False)
    store.create_payload_index(old, "user_id", "keyword")
    rec.profiles.save([live], collection=old)
    new = store.resolve(alias)
    store.set_alias(alias, old)
    store.drop_collection(new)

    with Recommender(rec.settings, store=store, log=rec.log, embedder=rec.embedder) as older:
        assert older.profiles.layout() == 1
        stored = older.user("kim").profile
        assert stored.long_sums == {} and not stored.has_long_term
        assert np.allclose(stored.sums["content"], live.sums["content"], atol=1e-5)
        got = older.recommend(RecommendRequest(user_id="kim", k=5))
        assert len(got.items) == 5 and {c.path for c in got.items} == {"content"}
        assert any("ragrec reindex" in w for w in got.warnings)
        assert older.record_feedback(likes("kim", ["1907"], start=10)).accepted == 1  # Mulan: still taken
        assert older.user("kim").profile.n_events == 6 and older.user("kim").profile.long_sums == {}

        report = older.reindex()
        assert report.users == 1 and older.profiles.layout() == 2
        rebuilt = older.user("kim").profile
        assert rebuilt.has_long_term and rebuilt.n_events == 6
        assert rebuilt.long_vector("content") is not None and rebuilt.long_vector("collab") is not None
        assert older.recommend(RecommendRequest(user_id="kim", k=5)).warnings == []


@pytest.mark.mutates_items
def test_hybrid_serves_single_event_users_and_new_items(rec):
    """After reindex trained collab vectors: a user with one event gets the hybrid blend at once, and an item
    nobody has touched (no collab vector) still comes through the content side."""
    rec.record_feedback(likes("w1", ["1", "2355", "3114"]) + likes("w2", ["1", "3114", "4886"]) +
                        likes("w3", ["2355", "4886", "6377"]))
    report = rec.reindex()
    assert report.collab_items == 5
    twin = "title: Toy Story (1995)\ngenres: Adventure, Animation, Children, Comedy, Fantasy\ntags: pixar, fun"
    vec = rec.embedder.embed([twin])[0]
    rec.store.upsert(rec.settings.items_collection, [PointIn(
        id=point_id("twin"), vectors={"content": vec},
        payload={"item_id": "twin", "title": "Toy Story (re-release)", "genres": ["Animation"], "year": 2031})])
    rec.record_feedback(likes("solo", ["1"]))
    profile = rec.user("solo").profile
    assert profile.vector("collab") is not None  # one event is enough for both vectors
    top = rec.recommend(RecommendRequest(user_id="solo", k=10)).items
    twin_hit = next(r for r in top if r.item_id == "twin")
    assert twin_hit.path == "hybrid" and twin_hit.scores.collab is None and twin_hit.scores.content > 0.9


@pytest.mark.mutates_items
def test_a_query_steers_a_hybrid_users_list_and_diversity_keeps_the_blend(rec):
    """With a query, a warm user's list is a personalized search (every item among the query's top N); diversity
    re-ranks the blend's own top candidates, so a diversity near 0 is the list without it."""
    rec.record_feedback(likes("w1", ["1", "2355", "3114", "260"]) + likes("w2", ["1", "3114", "4886", "1196"]) +
                        likes("w3", ["2355", "4886", "6377", "260", "1196"]) + likes("hy", ANIMATED[:3]))
    rec.reindex()
    plain = rec.recommend(RecommendRequest(user_id="hy", k=10)).items
    assert {r.path for r in plain} == {"hybrid"}

    query = "zombie horror"
    searched = rec.recommend(RecommendRequest(user_id="hy", k=10, query=query)).items
    pool = rec.similar(query=query, k=rec.settings.blend_candidates + 3).items  # + the user's 3 seen items
    assert set(ids(searched)) <= set(ids(pool))
    assert sum("Horror" in g for g in genres(searched)) >= 6 > sum("Horror" in g for g in genres(plain))
    s = rec.settings
    for r in searched:  # the blend, term by term, adds up to the final score
        assert r.path == "hybrid"
        assert r.score == pytest.approx(s.blend_query * r.scores.query + s.blend_content * r.scores.content +
                                        s.blend_collab * (r.scores.collab or 0.0), abs=1e-4)

    # example items make the pool too ("like Star Wars" from an animation fan), ordered by the same blend
    liked = rec.recommend(RecommendRequest(user_id="hy", k=10, positive=["260"])).items
    assert {r.path for r in liked} == {"hybrid"} and "260" not in ids(liked)
    assert sum("Sci-Fi" in g for g in genres(liked)) >= 6 > sum("Sci-Fi" in g for g in genres(plain))
    for r in liked:
        assert r.score == pytest.approx(s.blend_query * r.scores.query + s.blend_content * r.scores.content +
                                        s.blend_collab * (r.scores.collab or 0.0), abs=1e-4)
    # a negative example leaves out of the user's own list what resembles it, and nothing else moves
    avoided = plain[0]
    without = rec.recommend(RecommendRequest(user_id="hy", k=10, negative=[avoided.item_id])).items
    close = {r.item_id for r in plain if float(r._vector @ avoided._vector) >= s.negative_similarity}
    assert ids(without)[: 10 - len(close)] == [i for i in ids(plain) if i not in close]

    assert ids(rec.recommend(RecommendRequest(user_id="hy", k=10, diversity=1e-6)).items) == ids(plain)
    diverse = rec.recommend(RecommendRequest(user_id="hy", k=10, diversity=0.7)).items
    assert len(diverse) == 10 and ids(diverse) != ids(plain) and {r.path for r in diverse} == {"hybrid"}
    newcomer = rec.recommend(RecommendRequest(user_id="newcomer", k=5, diversity=0.7)).items  # popular, diversified
    assert len(newcomer) == 5 and {r.path for r in newcomer} == {"popular"} and ids(newcomer)[0] in ("1", "2355", "4886")  # the most popular first


@given(st.lists(st.floats(-1, 1), min_size=0, max_size=30), st.integers(1, 12), st.floats(0, 1), st.integers(0, 9))
@hypothesis_settings(max_examples=60, deadline=None)
def test_diversify_takes_distinct_candidates_and_keeps_the_order_at_0(relevance, k, diversity, seed):
    from ragrec.retrieval.models import Candidate, SourceScores
    from ragrec.retrieval.rank import diversify

    vectors = np.random.default_rng(seed).normal(size=(len(relevance), 8))
    candidates = []
    for i, (score, v) in enumerate(zip(relevance, vectors)):
        c = Candidate(item_id=str(i), score=score, payload={}, scores=SourceScores(), path="hybrid")
        c._vector = v.astype(np.float32)
        candidates.append(c)
    ranked = sorted(candidates, key=lambda c: -c.score)
    out = diversify(ranked, [c.score for c in ranked], k, diversity)
    assert len(out) == min(k, len(ranked)) and len(set(ids(out))) == len(out)
    if diversity == 0 and len({c.score for c in ranked}) == len(ranked):
        assert ids(out) == ids(ranked[:k])


# --- robustness ----------------------------------------------------------------------------------------------------


def test_extreme_feedback_is_rejected_with_a_reason_and_never_poisons_the_user(rec):
    bad = [Event(user_id="wes", item_id="1", type="rating", value=1e308),
           Event(user_id="wes", item_id="1", type="rating", value=99),
           Event(user_id="wes", item_id="1", type="rating", value=float("nan")),
           Event(user_id="wes", item_id="1", type="rating", value=float("-inf")),
           Event(user_id="wes", item_id="1", type="like", value=5),
           Event(user_id="wes", item_id="1", type="like", timestamp=datetime(2100, 1, 1, tzinfo=timezone.utc))]
    result = rec.record_feedback(bad)
    assert result.accepted == 0 and len(result.rejected) == len(bad)
    reasons = [r.reason for r in result.rejected]
    assert "outside the rating range 0.5-5" in reasons[0] and "outside" in reasons[1]
    assert "not a finite number" in reasons[2] and "not a finite number" in reasons[3]
    assert "has no value" in reasons[4] and "in the future" in reasons[5]
    assert rec.log.count("wes") == 0 and rec.user("wes").profile is None

    rec.record_feedback(likes("wes", ANIMATED[:3]) + [Event(user_id="wes", item_id="2355", type="rating", value=0.5,
                                                             timestamp=T0 + timedelta(hours=5))])
    top = rec.recommend(RecommendRequest(user_id="wes", k=5)).items
    assert len(top) == 5 and all(np.isfinite(r.score) for r in top)
    rec.record_feedback(likes("wes", HORROR, start=10))  # later likes still move the user
    assert sum("Horror" in g for g in genres(rec.recommend(RecommendRequest(user_id="wes", k=10)).items)) >= 5


def test_cold_start_works_before_any_reindex_with_and_without_filters(rec):
    """A fresh catalog (no popularity written yet): a new user, and a user whose events were bulk-loaded but who
    has no vector until reindex, both get the popular path."""
    rec.log.append(likes("loaded", ANIMATED), lambda ids: set(ids))  # as `ragrec events load` stores them
    for user in ("nobody", "loaded", None):
        plain = rec.recommend(RecommendRequest(user_id=user, k=5)).items
        assert len(plain) == 5 and {r.path for r in plain} == {"popular"}
        dramas = rec.recommend(RecommendRequest(user_id=user, k=5, filters=["genres=Drama", "year>=1990"])).items
        assert len(dramas) == 5 and all("Drama" in r.payload["genres"] and r.payload["year"] >= 1990 for r in dramas)


def test_the_popular_path_works_on_a_collection_made_without_the_popularity_index(rec):
    """Catalogs ingested before ingest created the `popularity` index: nothing to order by, the items still come."""
    store, name = rec.store, f"old-{uuid.uuid4().hex[:8]}"
    store.create_collection(name, {"content": 384}, metadata={"model": "m", "dim": 384})
    try:
        store.upsert(name, [PointIn(id=point_id(str(i)), vectors={"content": np.eye(384)[i]},
                                    payload={"item_id": str(i), "title": f"t{i}", "year": 1990 + i}) for i in range(6)])
        old = Recommender(rec.settings.model_copy(update={"items_collection": name}), store=store, log=rec.log,
                          embedder=rec.embedder)
        assert "popularity" not in store.payload_indexes(name)
        assert len(old.recommend(RecommendRequest(user_id="new", k=4)).items) == 4
        assert {r.payload["year"] for r in old.recommend(RecommendRequest(k=4, filters=["year>=1994"])).items} == \
            {1994, 1995}
    finally:
        store.drop_collection(name)


def test_a_filter_on_a_field_or_a_value_no_item_has_says_so(rec):
    rec.record_feedback(likes("zed", ANIMATED))
    result = rec.recommend(RecommendRequest(user_id="zed", k=5, filters=["nosuchfield=1", "year>=1990"]))
    assert result.items == []
    assert len(result.warnings) == 1 and "no item has a field 'nosuchfield'" in result.warnings[0]
    assert "'nosuchfield=1'" in result.warnings[0]
    known = rec.recommend(RecommendRequest(user_id="zed", k=5, filters=["genres=NoSuchGenre"]))
    assert known.items == [] and known.warnings == ["no item has genres='NoSuchGenre'"]  # the field exists
    cased = rec.recommend(RecommendRequest(user_id="zed", k=5, filters=["genres=comedy", "genres!=horor"]))
    assert cased.items == [] and cased.warnings == [
        "no item has genres='comedy' (values are case-sensitive: did you mean 'Comedy'?)"]  # not for what is left out
    apart = rec.recommend(RecommendRequest(user_id="zed", k=5, filters=["year>=1990", "year<1980"]))
    assert apart.items == [] and apart.warnings == ["the filters on 'year' leave no value between them"]
    beyond = rec.recommend(RecommendRequest(user_id="zed", k=5, filters=["year>=2090", "year<2100"]))
    assert beyond.items == [] and beyond.warnings == ["no item has a year >= 2090 and < 2100"]  # past the catalog
    full = rec.recommend(RecommendRequest(user_id="zed", k=5, filters=["genres=Comedy"]))
    assert len(full.items) == 5 and full.warnings == []
    both = rec.recommend(RecommendRequest(user_id="zed", k=5, filters=["year=1995", "year=1996"]))
    assert both.items == [] and both.warnings == ["no item matches all the filters together (each one alone may)"]
    # unquoted digits match an id kept as text too: "item_id=1" finds Toy Story, "item_id!=1" leaves it out
    assert ids(rec.similar(query="toys", k=3, filters=["item_id=1"]).items) == ["1"]
    assert "1" not in ids(rec.recommend(RecommendRequest(user_id="nobody", query="toy story", k=20,
                                                         filters=["item_id!=1"])).items)
