"""`GET /v1/users/{user_id}` (client) and `DELETE /v1/users/{user_id}` (admin: erase events and vectors)."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from ragrec.api.deps import AdminKey, ClientKey, ServicesDep
from ragrec.events.models import Id
from ragrec.recommender import UserInfo
from ragrec.retrieval.profiles import Profile
from ragrec.schema import id_problem

router = APIRouter(prefix="/v1", tags=["users"])


class RecentItemView(BaseModel):
    item_id: str
    ts: datetime


class ProfileView(BaseModel):
    """A profile as clients read it: the stored profile's fields without its sums, times in ISO 8601 (UTC) and the
    weights rounded (they are sums of decayed floats: 2.500000000016832 is 2.5)."""
    user_id: str
    ref_time: datetime
    ref_index: int
    positive_weight: float
    long_positive_weight: float
    counts: dict[str, int]
    n_events: int
    n_positive: int
    last_event: datetime | None
    recent: list[RecentItemView]
    collab_slot: str | None

    @classmethod
    def of(cls, p: Profile) -> ProfileView:
        def when(ts: float) -> datetime:
            return datetime.fromtimestamp(ts, timezone.utc)

        return cls(user_id=p.user_id, ref_time=when(p.ref_time), ref_index=p.ref_index,
                   positive_weight=round(p.positive_weight, 6), long_positive_weight=round(p.long_positive_weight, 6),
                   counts=p.counts, n_events=p.n_events, n_positive=p.n_positive,
                   last_event=when(p.last_event) if p.last_event is not None else None,
                   recent=[RecentItemView(item_id=r.item_id, ts=when(r.ts)) for r in p.recent],
                   collab_slot=p.collab_slot)


class UserView(BaseModel):
    user_id: str
    profile: ProfileView | None
    events: int


class Erased(BaseModel):
    user_id: str
    events_erased: int


def _checked(user_id: str) -> str:
    if problem := id_problem(user_id):  # as feedback refuses it: no such user can exist
        raise HTTPException(422, f"user_id {problem}")
    return user_id


@router.get("/users/{user_id:path}", response_model=UserView)
async def get_user(user_id: Id, svc: ServicesDep, _: ClientKey) -> UserView:
    _checked(user_id)
    info: UserInfo = await svc.run(lambda: svc.rec.user(user_id))
    if info.profile is None and not info.events:
        raise HTTPException(404, f"no user {user_id!r}")
    return UserView(user_id=info.user_id, profile=ProfileView.of(info.profile) if info.profile else None,
                    events=info.events)


@router.delete("/users/{user_id:path}", response_model=Erased)
async def forget_user(user_id: Id, svc: ServicesDep, _: AdminKey) -> Erased:
    """Erase the user's events and vectors; the next reindex also retrains item factors without them."""
    _checked(user_id)
    info = await svc.run(lambda: svc.rec.user(user_id))
    if info.profile is None and not info.events:
        raise HTTPException(404, f"no user {user_id!r}")
    erased = await svc.run(lambda: svc.rec.forget_user(user_id))
    return Erased(user_id=user_id, events_erased=erased)
