"""User interest vectors: a weighted, time-decayed mean of the vectors of the items a user interacted with.

The profile keeps sufficient statistics, so one new event updates it without rereading the history:

    sum = Σ wᵢ · 2^((tᵢ − ref_time) / half_life_days + (nᵢ − ref_index) / half_life_events) · vᵢ

where nᵢ is the event's position among the user's positive events (optional recency by position: a dislike
does not age the likes). Decaying every past event
to "now" multiplies the whole sum by one positive factor, which leaves its direction unchanged, so the user vector
is just `sum / ‖sum‖` and never needs a rewrite when time passes. Negative weights (dislike, skip, low ratings)
subtract the item: they push the user away from it.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
from pydantic import BaseModel, Field

from ragrec.config import Settings
from ragrec.events.models import Event, EventType

_REBASE = 60.0  # half-lives: past this, fold the scale into the sum to keep floats in range


class RecentItem(BaseModel):
    item_id: str
    ts: float


class Profile(BaseModel):
    user_id: str
    ref_time: float = 0.0
    ref_index: int = 0
    sums: dict[str, list[float]] = Field(default_factory=dict)
    positive_weight: float = 0.0  # decayed, relative to ref_time: > 0 means the profile points somewhere
    counts: dict[str, int] = Field(default_factory=dict)
    n_events: int = 0
    n_positive: int = 0  # the position clock: a dislike does not make the user's likes older
    last_event: float | None = None
    recent: list[RecentItem] = Field(default_factory=list)  # positive items, newest first
    collab_slot: str | None = None  # the items' collab slot the collab sum is over (None: made before slots: collab)

    def vector(self, space: str) -> np.ndarray | None:
        """The unit user vector in `space`, or None for a user with no positive signal (a cold user)."""
        raw = self.sums.get(space)
        if raw is None or self.positive_weight <= 0:
            return None
        v = np.asarray(raw, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # a sum that is not finite is refused when saved
            norm = np.linalg.norm(v)
        return (v / norm).astype(np.float32) if norm > 1e-12 else None


def event_weight(event: Event, settings: Settings) -> float:
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


def _exponent(profile: Profile, t: float, n: int, settings: Settings) -> float:
    """log2 of the event's weight relative to the reference: later in time or in position = heavier."""
    e = (t - profile.ref_time) / (settings.half_life_days * 86400.0)
    if settings.half_life_events:
        e += (n - profile.ref_index) / settings.half_life_events
    return e


def apply_event(profile: Profile, event: Event, vectors: dict[str, np.ndarray], settings: Settings) -> Profile:
    """Fold one event into the profile in place. `vectors` holds the item's vector per space (e.g. content)."""
    t, n = _epoch(event.timestamp), profile.n_positive
    if profile.n_events == 0:
        profile.ref_time, profile.ref_index = t, n
    exponent = _exponent(profile, t, n, settings)
    if exponent > _REBASE:
        scale = 2.0 ** -exponent
        profile.sums = {s: (np.asarray(v) * scale).tolist() for s, v in profile.sums.items()}
        profile.positive_weight *= scale
        profile.ref_time, profile.ref_index = t, n
        exponent = 0.0
    w = event_weight(event, settings)
    decayed = w * 2.0 ** exponent
    for space, v in vectors.items():
        current = np.asarray(profile.sums.get(space, np.zeros(len(v))), dtype=np.float64)
        profile.sums[space] = (current + decayed * np.asarray(v, dtype=np.float64)).tolist()
    if decayed > 0:
        profile.positive_weight += decayed
        profile.n_positive += 1
        profile.recent = [r for r in profile.recent if r.item_id != event.item_id]
        profile.recent.append(RecentItem(item_id=event.item_id, ts=t))
        profile.recent.sort(key=lambda r: -r.ts)
        del profile.recent[settings.recent_items:]
    elif decayed < 0:  # a disliked item is no evidence of taste
        profile.recent = [r for r in profile.recent if r.item_id != event.item_id]
    profile.counts[event.type.value] = profile.counts.get(event.type.value, 0) + 1
    profile.n_events += 1
    profile.last_event = t if profile.last_event is None else max(profile.last_event, t)
    if not math.isfinite(profile.positive_weight):
        raise ValueError("profile weights overflowed")  # cannot happen with rebasing; guards the invariant
    return profile
