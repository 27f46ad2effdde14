"""What routes depend on, as annotated aliases (`ServicesDep`, `ClientKey`, `AdminKey`), so a route's signature says
what it uses and which role it needs."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from ragrec.api.jobs import Jobs
from ragrec.chat import Chat
from ragrec.config import Settings
from ragrec.recommender import Recommender

T = TypeVar("T")
Role = Literal["client", "admin"]


@dataclass
class Services:
    """The process's one Recommender and what hangs off it; built at start-up, shared by every request."""

    settings: Settings
    rec: Recommender
    chat: Chat
    jobs: Jobs
    retrieval: anyio.CapacityLimiter = field(init=False)
    llm: anyio.CapacityLimiter = field(init=False)
    ready: bool = False

    def __post_init__(self) -> None:
        self.retrieval = anyio.CapacityLimiter(self.settings.retrieval_threads)
        self.llm = anyio.CapacityLimiter(self.settings.api_llm_threads)

    async def run(self, fn: Callable[[], T]) -> T:
        """CPU-bound work (embedding, Qdrant Edge calls) off the event loop, on the bounded retrieval pool."""
        return await anyio.to_thread.run_sync(fn, limiter=self.retrieval)

    async def run_llm(self, fn: Callable[[], T]) -> T:
        """LLM work on its own small pool: a slow LLM never holds the threads plain recommendations use."""
        return await anyio.to_thread.run_sync(fn, limiter=self.llm)


# Dependencies are `async def` although they never wait: FastAPI runs a plain `def` dependency on its thread pool,
# and two such hops per request cost more CPU than the rest of the route's event-loop work (bench/RESULTS.md).
async def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return (request.headers.get("x-api-key") or "").strip() or None  # as the Bearer token: spaces around it go


def role_of(request: Request, settings: Settings) -> Role | None:
    """The role of the request's key (None: no valid key). Every configured key is compared, in constant time, so
    the time taken says nothing about which keys exist."""
    key = _presented_key(request)
    if key is None:
        return None if settings.api_anonymous == "none" else settings.api_anonymous
    found: Role | None = None
    for candidate, role in settings.api_keys.items():
        if hmac.compare_digest(candidate.encode(), key.encode()):
            found = role
    return found


def refusal(request: Request, role: Role, settings: Settings) -> HTTPException | None:
    """Why the request may not use a route that needs `role` (401 or 403), or None if it may."""
    have = role_of(request, settings)
    anonymous = _presented_key(request) is None
    if have is None or (anonymous and role == "admin" and have != "admin"):
        return HTTPException(401, "a valid API key is required (Authorization: Bearer KEY or X-API-Key: KEY)")
    if role == "admin" and have != "admin":
        return HTTPException(403, "this needs an admin key")
    return None


def route_role(route) -> Role | None:
    """The role a route requires (its `require` dependency), if any."""
    dependant = getattr(route, "dependant", None)
    return next((d.call.role for d in getattr(dependant, "dependencies", ()) if hasattr(d.call, "role")), None)


def required_role(request: Request) -> Role | None:
    """The role the request's matched route requires."""
    return route_role(request.scope.get("route"))


# Declared for the OpenAPI schema only (an Authorize button in /docs that sends the key): `_presented_key` reads
# the headers itself, as it always did, so a missing key is ragrec's 401, not these classes' own
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="Authorization: Bearer KEY")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey", description="X-API-Key: KEY")


def require(role: Role) -> Callable[..., Any]:
    async def check(request: Request, svc: ServicesDep, _bearer: Annotated[Any, Depends(_BEARER)] = None,
                    _key: Annotated[Any, Depends(_API_KEY)] = None) -> Role:
        if (refused := refusal(request, role, svc.settings)) is not None:
            raise refused
        return role_of(request, svc.settings)

    check.role = role  # read by the error handlers: a body FastAPI cannot parse is answered after the key check
    return check


ClientKey = Annotated[Role, Depends(require("client"))]
AdminKey = Annotated[Role, Depends(require("admin"))]
