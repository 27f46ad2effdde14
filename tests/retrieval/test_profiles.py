"""Property tests for the user-vector math (hypothesis)."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import example, given, settings as hsettings, strategies as st
from hypothesis.extra.numpy import arrays

from ragrec.config import Settings
from ragrec.events.models import Event, EventType, StoredEvent
from ragrec.retrieval.feedback import fold
from ragrec.retrieval.profiles import Profile, apply_event, build_profiles, event_weight

SETTINGS = Settings()
DIM = 6
T0 = datetime(2020, 1, 1, tzinfo=timezone.utc)

unit_vectors = arrays(np.float64, DIM, elements=st.floats(-1, 1)).filter(lambda v: np.linalg.norm(v) > 0.1).map(
    lambda v: v / np.linalg.norm(v))
event_types = st.sampled_from(["view", "click", "like", "add_to_cart", "purchase", "dislike", "skip"])
history = st.lists(st.tuples(unit_vectors, event_types, st.floats(0, 400)), min_size=1, max_size=8)


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


BY_POSITION = Settings(half_life_events=1.0)
BY_TIME = Settings(half_life_events=None)


def build(events, settings=SETTINGS):
    p = Profile(user_id="u")
    for i, (v, kind, days) in enumerate(events):
        apply_event(p, Event(user_id="u", item_id=f"i{i}", type=kind, timestamp=T0 + timedelta(days=days)),
                    {"content": v}, settings)
    return p


def raw_sum(p):
    return np.asarray(p.sums["content"])


@given(history, unit_vectors, st.sampled_from(["like", "purchase", "click", "view", "add_to_cart"]), st.floats(0, 800),
       st.sampled_from([SETTINGS, BY_POSITION]))
@example(events=[(np.eye(DIM)[0], "dislike", 0.0)], item=np.eye(DIM)[0], kind="like", days=0.0, settings=SETTINGS)
def test_a_positive_event_never_lowers_the_cosine_to_its_item(events, item, kind, days, settings):
    p = build(events, settings)
    before = raw_sum(p)
    apply_event(p, Event(user_id="u", item_id="new", type=kind, timestamp=T0 + timedelta(days=days)),
                {"content": item}, settings)
    if np.linalg.norm(raw_sum(p)) <= 1e-9:  # a like that exactly cancels a dislike of the same item: no direction
        assert np.dot(before, item) < 0  # left (the user then gets the cold-start path, as with no events)
    elif np.linalg.norm(before) > 1e-9:
        assert cos(raw_sum(p), item) >= cos(before, item) - 1e-9


@given(history, unit_vectors, st.sampled_from(["dislike", "skip"]), st.floats(0, 800),
       st.sampled_from([SETTINGS, BY_POSITION]))
def test_a_negative_event_never_raises_the_cosine_to_its_item(events, item, kind, days, settings):
    p = build(events, settings)
    before = raw_sum(p)
    apply_event(p, Event(user_id="u", item_id="new", type=kind, timestamp=T0 + timedelta(days=days)),
                {"content": item}, settings)
    if np.linalg.norm(before) > 1e-9 and np.linalg.norm(raw_sum(p)) > 1e-9:
        assert cos(raw_sum(p), item) <= cos(before, item) + 1e-9


@given(unit_vectors, unit_vectors, st.floats(0, 300), st.floats(0.5, 300), st.sampled_from([SETTINGS, BY_POSITION]))
def test_decay_weighs_the_recent_event_more(a, b, start, gap, settings):
    p = build([(a, "like", start), (b, "like", start + gap)], settings)
    u = p.vector("content")
    assert cos(u, b) >= cos(u, a) - 1e-6


@given(history, st.randoms(use_true_random=False))
def test_order_of_arrival_does_not_matter_with_time_decay_only(events, rnd):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    a, b = build(events, BY_TIME), build(shuffled, BY_TIME)
    ua, ub = a.vector("content"), b.vector("content")
    assert (ua is None) == (ub is None) or min(np.linalg.norm(raw_sum(a)), np.linalg.norm(raw_sum(b))) < 1e-6
    if ua is not None and ub is not None and np.linalg.norm(raw_sum(a)) > 1e-6:
        assert cos(ua, ub) > 1 - 1e-4


@hsettings(max_examples=30)
@given(st.lists(unit_vectors, min_size=2, max_size=5))
def test_years_of_history_neither_overflow_nor_lose_the_recent_item(vectors):
    # 30-day half-life over 60 years: ~730 half-lives, far beyond float range without rebasing
    events = [(v, "like", i * 365 * 15.0) for i, v in enumerate(vectors)]
    p = build(events, BY_POSITION)
    u = p.vector("content")
    assert u is not None and np.all(np.isfinite(u))
    assert cos(u, vectors[-1]) > 0.999


def long_sum_by_hand(events, settings=SETTINGS):
    return sum(event_weight(Event(user_id="u", item_id="i", type=kind), settings) * v for v, kind, _ in events)


@given(history, st.randoms(use_true_random=False), st.sampled_from([SETTINGS, BY_TIME]))
def test_the_long_term_sum_is_the_plain_weighted_sum_in_any_order(events, rnd, settings):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    for p in (build(events, settings), build(shuffled, settings)):
        assert np.allclose(p.long_sums["content"], long_sum_by_hand(events, settings), atol=1e-9)
        positive = sum(w for v, kind, _ in events
                       if (w := event_weight(Event(user_id="u", item_id="i", type=kind), settings)) > 0)
        assert p.long_positive_weight == pytest.approx(positive)


@given(history, st.floats(0, 1))
def test_the_query_vector_mixes_the_unit_long_and_short_vectors(events, share):
    p = build(events)
    short, long = p.vector("content"), p.long_vector("content")
    if short is None or long is None:  # one of them (or both) points nowhere: the other one is used
        got = p.query_vector("content", share)
        expected = long if short is None else short
        assert (got is None and expected is None) or np.array_equal(got, expected)
        return
    assert np.array_equal(p.query_vector("content", 0.0), short)
    assert np.array_equal(p.query_vector("content", 1.0), long)
    assert np.allclose(p.query_vector("content", share), share * long + (1 - share) * short, atol=1e-6)
    item = np.asarray(long_sum_by_hand(events), dtype=np.float32)  # any vector: the score mixes the two cosines
    assert float(p.query_vector("content", share) @ item) == pytest.approx(
        share * float(long @ item) + (1 - share) * float(short @ item), abs=1e-5)


def test_a_profile_without_long_term_sums_is_searched_with_its_short_term_vector():
    p = build([(np.eye(DIM)[0], "like", 0), (np.eye(DIM)[1], "like", 1)])
    old = p.model_copy(update={"long_sums": {}, "long_positive_weight": 0.0})  # as users layout 1 stores it
    assert p.has_long_term and not old.has_long_term and Profile(user_id="cold").has_long_term
    assert np.array_equal(old.query_vector("content", 0.74), p.vector("content"))
    assert not np.allclose(p.query_vector("content", 0.74), p.vector("content"))


# --- reindex's rebuild (sparse products) against the event-by-event fold ------------------------------------------

ITEMS = [f"i{n}" for n in range(6)]
COLLAB_DIM = 3
item_vectors = st.fixed_dictionaries({
    item: st.fixed_dictionaries({"content": unit_vectors}, optional={"collab": arrays(
        np.float64, COLLAB_DIM, elements=st.floats(-1, 1))}) for item in ITEMS})
any_event = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(ITEMS + ["gone"]),  # "gone": an item with no vectors
    st.sampled_from(["view", "like", "purchase", "dislike", "skip", "rating"]), st.sampled_from([0.5, 2.5, 3, 5]),
    st.one_of(st.integers(0, 5), st.floats(0, 5000)))  # days: same-second ties, and years (reference moves)
decays = st.sampled_from([SETTINGS, BY_TIME, Settings(half_life_events=0.2, half_life_days=1.0),
                          Settings(recent_items=2), Settings(recent_items=0)])  # small: the recent list overflows


def events_of(raw):
    return [Event(event_id=f"e{n}", user_id=u, item_id=i, type=kind, value=value if kind == "rating" else None,
                  timestamp=T0 + timedelta(days=days)) for n, (u, i, kind, value, days) in enumerate(raw)]


def assert_same_profile(a: Profile, b: Profile):
    assert a.model_dump(exclude={"sums", "long_sums", "positive_weight"}) == \
        b.model_dump(exclude={"sums", "long_sums", "positive_weight"}) | {"long_positive_weight": pytest.approx(
            a.long_positive_weight)}
    assert a.positive_weight == pytest.approx(b.positive_weight, rel=1e-9, abs=1e-300)
    for field, weight in (("sums", a.positive_weight), ("long_sums", 1.0)):
        sa, sb = getattr(a, field), getattr(b, field)
        assert set(sa) == set(sb)
        for space in sa:
            x, y = np.asarray(sa[space]), np.asarray(sb[space])
            # rounding relative to the size of what was added (a like and a dislike of one item cancel to ~1e-17)
            scale = max(1e-300, weight, np.abs(x).max(), np.abs(y).max())
            assert np.allclose(x, y, rtol=1e-9, atol=1e-9 * scale)


@hsettings(max_examples=150)
@given(st.lists(any_event, min_size=1, max_size=40), item_vectors, decays)
def test_the_sparse_rebuild_makes_what_the_event_by_event_fold_makes(raw, vectors, settings):
    events = events_of(raw)  # in no time order, with ties: both sort by time, ties in the order given
    folded = fold({}, events, vectors, settings, "collab")
    built = build_profiles(events, vectors, settings)
    assert set(built) == set(folded)
    for user, profile in built.items():
        profile.collab_slot = "collab"
        assert_same_profile(profile, folded[user])
    # reindex reads the log as StoredEvent rows: the same profiles, exactly
    rows = [StoredEvent(e.user_id, e.item_id, e.type, e.value, e.timestamp) for e in events]
    from_rows = build_profiles(rows, vectors, settings)
    assert {u: p.model_dump(exclude={"collab_slot"}) for u, p in from_rows.items()} == \
        {u: p.model_dump(exclude={"collab_slot"}) for u, p in built.items()}


def test_the_rebuild_keeps_the_recent_items_the_fold_keeps_when_times_tie():
    """Items liked in the same second: the fold keeps them in arrival order and drops the last one first."""
    vectors = {i: {"content": np.eye(DIM)[n]} for n, i in enumerate(ITEMS)}
    raw = [("u1", "i0", "like", 0, 0), ("u1", "i1", "like", 0, 0), ("u1", "i2", "like", 0, 0),
           ("u1", "i3", "like", 0, 1), ("u1", "i0", "dislike", 0, 2), ("u1", "i4", "like", 0, 2)]
    for keep in (1, 2, 3):
        settings = Settings(recent_items=keep)
        folded = fold({}, events_of(raw), vectors, settings, "collab")["u1"]
        built = build_profiles(events_of(raw), vectors, settings)["u1"]
        assert [r.item_id for r in built.recent] == [r.item_id for r in folded.recent]
    assert [r.item_id for r in folded.recent] == ["i4", "i3", "i1"]  # i0 disliked, i2 dropped before i1


@hsettings(max_examples=100)
@given(st.lists(any_event, min_size=1, max_size=30), st.lists(any_event, min_size=1, max_size=10), item_vectors,
       decays)
def test_a_rebuilt_profile_takes_later_events_as_the_fold_does(raw, later, vectors, settings):
    """reindex's profiles then live feedback = the fold of everything: the rebuild leaves the same reference."""
    events = events_of(raw)
    newer = [e.model_copy(update={"event_id": f"late{n}", "timestamp": e.timestamp + timedelta(days=6000)})
             for n, e in enumerate(events_of(later))]
    built = build_profiles(events, vectors, settings)
    fold(built, newer, vectors, settings, "collab")
    folded = fold({}, events + newer, vectors, settings, "collab")
    assert set(built) == set(folded)
    for user, profile in built.items():
        profile.collab_slot = "collab"
        assert_same_profile(profile, folded[user])


def test_weights_follow_settings():
    like = Event(user_id="u", item_id="i", type="like")
    five = Event(user_id="u", item_id="i", type="rating", value=5)
    one = Event(user_id="u", item_id="i", type="rating", value=1)
    assert event_weight(like, SETTINGS) == 1.0
    assert event_weight(five, SETTINGS) == 1.0 and event_weight(one, SETTINGS) == -1.0


def test_only_negative_feedback_leaves_a_cold_user():
    p = build([(np.eye(DIM)[0], "dislike", 0)])
    assert p.vector("content") is None and p.recent == []


def test_position_decay_halves_per_later_event():
    e = np.eye(DIM)
    p = build([(e[0], "like", 0), (e[1], "like", 0), (e[2], "like", 0)], BY_POSITION)  # same second, by position
    s = raw_sum(p)
    assert s[1] == pytest.approx(2 * s[0]) and s[2] == pytest.approx(2 * s[1])


def test_a_dislike_weighs_as_much_as_the_latest_like_and_no_more():
    e = np.eye(DIM)
    p = build([(e[0], "like", 0), (e[1], "like", 0), (e[2], "dislike", 0)], BY_POSITION)
    s = raw_sum(p)
    assert s[2] == pytest.approx(-s[1])  # beside the latest like, not one position later (2x)
    assert cos(p.vector("content"), e[1]) > cos(p.vector("content"), e[0]) > 0  # the likes still lead, in order
    later = build([(e[0], "like", 0), (e[1], "like", 0), (e[2], "dislike", 0), (e[3], "like", 0)], BY_POSITION)
    t = raw_sum(later)
    assert t[3] == pytest.approx(2 * t[1]) and t[2] == pytest.approx(-t[1])  # the next like is one step on


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_rating_value_gives_a_weight_beyond_the_bound(value):
    """Whatever an older ragrec stored (1e308, inf, nan), one event weighs at most max_event_weight."""
    w = event_weight(Event.model_construct(user_id="u", item_id="i", type=EventType.rating, value=value), SETTINGS)
    assert np.isfinite(w) and abs(w) <= SETTINGS.max_event_weight
    p = Profile(user_id="u")
    apply_event(p, Event.model_construct(user_id="u", item_id="i", type=EventType.rating, value=value,
                                         timestamp=T0), {"content": np.eye(DIM)[0]}, SETTINGS)
    assert np.all(np.isfinite(raw_sum(p)))


def test_a_profile_that_is_not_finite_is_never_saved(tmp_path):
    from ragrec.retrieval.users import NonFiniteProfile, UserProfiles
    from ragrec.store.edge import EdgeStore

    store = EdgeStore(tmp_path)
    try:
        profiles = UserProfiles(store, "users", {"content": DIM})
        profiles.ensure()
        good = build([(np.eye(DIM)[0], "like", 0)])
        bad = good.model_copy(update={"user_id": "nan", "sums": {"content": [float("nan")] * DIM}})
        huge = good.model_copy(update={"user_id": "huge", "sums": {"content": [1e300] * DIM}})  # inf as float32
        for profile in (bad, huge):
            with pytest.raises(NonFiniteProfile, match=profile.user_id):
                profiles.save([good.model_copy(update={"user_id": "ok"}), profile])
        assert store.count("users") == 0  # the batch is refused as a whole
    finally:
        store.close()
