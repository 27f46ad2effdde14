"""User interest vectors: per vector space, a short-term and a long-term sum of the vectors of the items a user
interacted with.

The profile keeps sufficient statistics, so one new event updates it without rereading the history:

    short = Σ wᵢ · 2^((tᵢ − ref_time) / half_life_days + (nᵢ − ref_index) / half_life_events) · vᵢ
    long  = Σ wᵢ · vᵢ

where nᵢ is the event's position among the user's positive events (recency by position: a dislike does not age
the likes, and takes the position of the latest like). Decaying every past event to "now" multiplies the whole
short sum by one positive factor, which leaves its direction unchanged, so the short-term vector is just
`short / ‖short‖` and never needs a rewrite when time passes; the long sum does not decay at all. Negative
weights (dislike, skip, low ratings) subtract the item: they push the user away from it.

The short-term vector follows the last few items (what comes next), the long-term one the taste of years (what
the user liked all along); a query mixes their unit vectors (`Profile.query_vector`), one share per space
(Settings.long_term_share_*). `build_profiles` rebuilds many profiles at once (reindex) with sparse products and
gives what folding their events one by one gives.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
from pydantic import BaseModel, Field

from ragrec.config import Settings
from ragrec.events.models import Event, EventType, StoredEvent

_REBASE = 60.0  # half-lives: past this, fold the scale into the sum to keep floats in range


class RecentItem(BaseModel):
    item_id: str
    ts: float


class Profile(BaseModel):
    user_id: str
    ref_time: float = 0.0
    ref_index: int = 0
    sums: dict[str, list[float]] = Field(default_factory=dict)  # short-term (decayed)
    positive_weight: float = 0.0  # decayed, relative to ref_time: > 0 means the profile points somewhere
    # long-term (no decay); empty in a profile stored before there were long-term sums (users layout 1)
    long_sums: dict[str, list[float]] = Field(default_factory=dict)
    long_positive_weight: float = 0.0
    counts: dict[str, int] = Field(default_factory=dict)
    n_events: int = 0
    n_positive: int = 0  # the position clock: a dislike does not make the user's likes older
    last_event: float | None = None
    recent: list[RecentItem] = Field(default_factory=list)  # positive items, newest first
    collab_slot: str | None = None  # the items' collab slot the collab sum is over (None: made before slots: collab)

    def vector(self, space: str) -> np.ndarray | None:
        """The unit short-term vector in `space`, or None for a user with no positive signal (a cold user)."""
        return _unit(self.sums.get(space), self.positive_weight)

    def long_vector(self, space: str) -> np.ndarray | None:
        """The unit long-term vector in `space` (None: no positive signal, or a profile without long-term sums)."""
        return _unit(self.long_sums.get(space), self.long_positive_weight)

    def query_vector(self, space: str, share: float) -> np.ndarray | None:
        """`share·unit(long) + (1 − share)·unit(short)`: what the user is searched with in `space`; whichever of
        the two exists when the other does not. Not renormalized: its dot product with an item is the same mix of
        the two cosines."""
        short, long = self.vector(space), self.long_vector(space)
        if short is None or long is None:
            return short if long is None else long
        if share <= 0 or share >= 1:
            return long if share >= 1 else short
        return (share * long + (1 - share) * short).astype(np.float32)

    @property
    def has_long_term(self) -> bool:
        """False for a profile stored before there were long-term sums (its users collection needs a reindex)."""
        return bool(self.long_sums) or not self.sums


def _unit(raw: list[float] | None, positive_weight: float) -> np.ndarray | None:
    if raw is None or positive_weight <= 0:
        return None
    v = np.asarray(raw, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # a sum that is not finite is refused when saved
        norm = np.linalg.norm(v)
    return (v / norm).astype(np.float32) if norm > 1e-12 else None


def event_weight(event: Event | StoredEvent, settings: Settings) -> float:
    """The event's weight, within ±max_event_weight (events are checked where they come in; this bound also
    holds for whatever an older ragrec stored)."""
    if event.type is EventType.rating:
        w = (float(event.value) - settings.rating_center) / settings.rating_scale
    else:
        w = settings.event_weights.get(event.type.value, 0.0)
    if not math.isfinite(w):
        return 0.0
    return max(-settings.max_event_weight, min(settings.max_event_weight, w))


def _epoch(ts: datetime) -> float:
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()


class _Tally:
    """The bookkeeping fields of a Profile as a plain object: `build_profiles` updates them once per event, and
    pydantic's attribute assignment (~1 µs each, four per event) was a fifth of a reindex's per-event time."""

    __slots__ = ("ref_time", "ref_index", "n_events", "n_positive", "counts", "last_event")

    def __init__(self) -> None:
        self.ref_time, self.ref_index, self.n_events, self.n_positive = 0.0, 0, 0, 0
        self.counts: dict[str, int] = {}
        self.last_event: float | None = None


def _exponent(profile: Profile | _Tally, t: float, n: int, settings: Settings) -> float:
    """log2 of the event's weight relative to the reference: later in time or in position = heavier."""
    e = (t - profile.ref_time) / (settings.half_life_days * 86400.0)
    if settings.half_life_events:
        e += (n - profile.ref_index) / settings.half_life_events
    return e


def _reference(profile: Profile | _Tally, t: float, n: int, settings: Settings) -> tuple[float, float]:
    """The decay exponent of an event at time t and position n, and the factor the decayed sums must be scaled by:
    past _REBASE half-lives the reference moves to the event (factor 2^-exponent, exponent 0)."""
    if profile.n_events == 0:
        profile.ref_time, profile.ref_index = t, n
    exponent = _exponent(profile, t, n, settings)
    if exponent > _REBASE:
        profile.ref_time, profile.ref_index = t, n
        return 0.0, 2.0 ** -exponent
    return exponent, 1.0


def _position(profile: Profile | _Tally, w: float) -> int:
    """The event's place on the position clock: a positive event comes after every earlier one; a negative one
    sits beside the latest positive, as recent as it and no more (one step later, a dislike weighed twice the
    latest like and could turn the short-term vector away from everything the user liked just before)."""
    return profile.n_positive - 1 if w < 0 and profile.n_positive else profile.n_positive


def _count(profile: Profile | _Tally, event: Event | StoredEvent, t: float, decayed: float) -> None:
    """What an event changes besides the sums and the recent items: positions, counts, the last event time."""
    if decayed > 0:
        profile.n_positive += 1
    profile.counts[event.type.value] = profile.counts.get(event.type.value, 0) + 1
    profile.n_events += 1
    profile.last_event = t if profile.last_event is None else max(profile.last_event, t)


def apply_event(profile: Profile, event: Event, vectors: dict[str, np.ndarray], settings: Settings) -> Profile:
    """Fold one event into the profile in place. `vectors` holds the item's vector per space (e.g. content)."""
    w = event_weight(event, settings)
    t, n = _epoch(event.timestamp), _position(profile, w)
    exponent, scale = _reference(profile, t, n, settings)
    if scale != 1.0:
        profile.sums = {s: (np.asarray(v) * scale).tolist() for s, v in profile.sums.items()}
        profile.positive_weight *= scale
    decayed = w * 2.0 ** exponent
    for space, v in vectors.items():
        v = np.asarray(v, dtype=np.float64)
        current = np.asarray(profile.sums.get(space, np.zeros(len(v))), dtype=np.float64)
        profile.sums[space] = (current + decayed * v).tolist()
        current = np.asarray(profile.long_sums.get(space, np.zeros(len(v))), dtype=np.float64)
        profile.long_sums[space] = (current + w * v).tolist()
    if decayed > 0:
        profile.positive_weight += decayed
    if w > 0:
        profile.long_positive_weight += w
    _count(profile, event, t, decayed)
    if decayed > 0:
        profile.recent = [r for r in profile.recent if r.item_id != event.item_id]
        profile.recent.append(RecentItem(item_id=event.item_id, ts=t))
        profile.recent.sort(key=lambda r: -r.ts)
        del profile.recent[settings.recent_items:]
    elif decayed < 0:  # a disliked item is no evidence of taste
        profile.recent = [r for r in profile.recent if r.item_id != event.item_id]
    if not math.isfinite(profile.positive_weight):
        raise ValueError("profile weights overflowed")  # cannot happen with rebasing; guards the invariant
    return profile


def build_profiles(events: list[Event] | list[StoredEvent], vectors: dict[str, dict[str, np.ndarray]],
                   settings: Settings) -> dict[str, Profile]:
    """The profiles of every user in `events` (any order, from nothing), as folding the events one by one in
    time order with `apply_event` makes them, but with the sums as sparse products: (event weights, decayed or
    not) × (item vectors), one per space. reindex rebuilds millions of events this way: the per-event Python work
    is only the bookkeeping (positions, counts, recent items), not a vector update per event and space."""
    import scipy.sparse as sp

    tallies: dict[str, _Tally] = {}
    # recent items per user as item -> time in insertion order: the events come in time order, so the order
    # apply_event keeps (newest first, ties in insertion order) is this dict's, reversed by time at the end
    recent: dict[str, dict[str, float]] = {}
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    rows, cols, times, positions, weights, positive = [], [], [], [], [], []
    for event in sorted(events, key=lambda e: e.timestamp):  # the order `fold` applies them in
        tally = tallies.get(event.user_id)
        if tally is None:
            tally = tallies[event.user_id] = _Tally()
            users[event.user_id] = len(users)
            recent[event.user_id] = {}
        w = event_weight(event, settings)
        t, n = _epoch(event.timestamp), _position(tally, w)
        exponent, _ = _reference(tally, t, n, settings)  # where the fold's reference ends up
        decayed = w * 2.0 ** exponent
        rows.append(users[event.user_id])
        cols.append(items.setdefault(event.item_id, len(items)))
        times.append(t)
        positions.append(n)
        weights.append(w)
        positive.append(decayed > 0)
        _count(tally, event, t, decayed)
        kept = recent[event.user_id]
        if decayed:
            kept.pop(event.item_id, None)
        if decayed > 0:
            kept[event.item_id] = t
            if len(kept) > settings.recent_items:  # apply_event drops its last: the oldest time, inserted last
                oldest = next(iter(kept.values()))
                last = None
                for item_id, ts in kept.items():
                    if ts != oldest:
                        break
                    last = item_id
                del kept[last]
    profiles: dict[str, Profile] = {}
    for user_id, tally in tallies.items():
        newest_first = sorted(recent[user_id].items(), key=lambda kv: -kv[1])
        profiles[user_id] = Profile(user_id=user_id, **{field: getattr(tally, field) for field in _Tally.__slots__},
                                    recent=[RecentItem(item_id=i, ts=ts) for i, ts in newest_first])
    if not profiles:
        return profiles
    ordered = list(profiles.values())  # in user-index order
    rows_, w_ = np.asarray(rows), np.asarray(weights, dtype=np.float64)
    ref_time = np.array([p.ref_time for p in ordered])[rows_]
    ref_index = np.array([p.ref_index for p in ordered], dtype=np.float64)[rows_]
    exponent = (np.asarray(times) - ref_time) / (settings.half_life_days * 86400.0)
    if settings.half_life_events:
        exponent += (np.asarray(positions, dtype=np.float64) - ref_index) / settings.half_life_events
    short_w = w_ * np.exp2(exponent)  # ≤ 2^_REBASE: past the last reference move no event gets further
    positive_ = np.asarray(positive)
    positive_weight = np.bincount(rows_, weights=np.where(positive_, short_w, 0.0), minlength=len(ordered))
    long_positive_weight = np.bincount(rows_, weights=np.where(w_ > 0, w_, 0.0), minlength=len(ordered))
    shape = (len(users), len(items))
    short = sp.csr_matrix((short_w, (rows_, cols)), shape=shape)  # duplicates (an item twice) add up
    long = sp.csr_matrix((w_, (rows_, cols)), shape=shape)
    touched = sp.csr_matrix((np.ones(len(rows_)), (rows_, cols)), shape=shape)

    by_item = list(items)
    spaces = sorted({s for v in vectors.values() for s in v})
    for space in spaces:
        dim = next(len(v[space]) for v in vectors.values() if space in v)
        matrix = np.zeros((len(items), dim))
        has = np.zeros(len(items))
        for i, item in enumerate(by_item):
            v = vectors.get(item, {}).get(space)
            if v is not None:
                matrix[i], has[i] = v, 1.0
        short_sums, long_sums = short @ matrix, long @ matrix
        users_with = touched @ has > 0  # the fold makes a sum only where an event's item has this space
        for u, profile in enumerate(ordered):
            if users_with[u]:
                profile.sums[space] = short_sums[u].tolist()
                profile.long_sums[space] = long_sums[u].tolist()
    for u, profile in enumerate(ordered):
        profile.positive_weight = float(positive_weight[u])
        profile.long_positive_weight = float(long_positive_weight[u])
    return profiles
