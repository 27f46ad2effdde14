"""`GET /v1/users/{user_id}` (client) and `DELETE /v1/users/{user_id}` (admin: erase events and vectors)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from ragrec.api.deps import AdminKey, ClientKey, ServicesDep
from ragrec.events.models import Id
from ragrec.recommender import UserInfo
from ragrec.schema import id_problem

router = APIRouter(prefix="/v1", tags=["users"])


class Erased(BaseModel):
    user_id: str
    events_erased: int


def _checked(user_id: str) -> str:
    if problem := id_problem(user_id):  # as feedback refuses it: no such user can exist
        raise HTTPException(422, f"user_id {problem}")
    return user_id


@router.get("/users/{user_id:path}", response_model=UserInfo, response_model_exclude={"profile": {"sums", "long_sums"}})
async def get_user(user_id: Id, svc: ServicesDep, _: ClientKey) -> UserInfo:
    _checked(user_id)
    info = await svc.run(lambda: svc.rec.user(user_id))
    if info.profile is None and not info.events:
        raise HTTPException(404, f"no user {user_id!r}")
    return info


@router.delete("/users/{user_id:path}", response_model=Erased)
async def forget_user(user_id: Id, svc: ServicesDep, _: AdminKey) -> Erased:
    """Erase the user's events and vectors; the next reindex also retrains item factors without them."""
    _checked(user_id)
    info = await svc.run(lambda: svc.rec.user(user_id))
    if info.profile is None and not info.events:
        raise HTTPException(404, f"no user {user_id!r}")
    erased = await svc.run(lambda: svc.rec.forget_user(user_id))
    return Erased(user_id=user_id, events_erased=erased)
