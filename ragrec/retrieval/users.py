"""User profiles in the Qdrant `users` collection, through the same `VectorStore` interface as items.

Each user point carries, per vector space, the unit short-term user vector (`content`) and the profile's two
running sums (`content_sum` decayed, `content_long_sum` not: the sufficient statistics); the payload holds counts,
recent items and the last update.

The collection's metadata records its profile layout. Layout 1 (made before the long-term sums) has no
`*_long_sum` vectors: it keeps serving and taking feedback with the short-term sums only, and recommendations say
that `ragrec reindex` would bring the long-term ones (reindex always writes the current layout).
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

import numpy as np

from ragrec.retrieval.profiles import Profile
from ragrec.schema import COLLAB, COLLAB_SLOTS
from ragrec.store import PointIn, StoreError, VectorStore, point_id
from ragrec.store.base import CollectionNotFound

PROFILE_LAYOUT = 2  # 1: short-term sums only; 2: + long-term sums


def sum_name(space: str) -> str:
    return f"{space}_sum"


def long_sum_name(space: str) -> str:
    return f"{space}_long_sum"


class UserGate:
    """Orders, within one process, everything that writes user state: feedback (log append + vector update),
    forgetting a user, and the final step of a reindex (replay what arrived meanwhile, switch generations). While
    a reindex runs it also remembers who was forgotten, so the new generation cannot bring them back."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._reindex = threading.Lock()
        self._forgotten: set[str] | None = None

    def forgot(self, user_id: str) -> None:
        if self._forgotten is not None:
            self._forgotten.add(user_id)

    @contextmanager
    def reindexing(self) -> Iterator[set[str]]:
        """One reindex at a time; yields the users forgotten while it runs."""
        with self._reindex:
            with self.lock:
                self._forgotten = set()
            try:
                yield self._forgotten
            finally:
                with self.lock:
                    self._forgotten = None


def _finite32(vector) -> bool:
    """Finite as stored (float32): a float64 sum past 3.4e38 would turn into inf in Qdrant."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.asarray(vector, dtype=np.float32)).all())


class NonFiniteProfile(ValueError):
    """A user vector would not be finite: it is never written (it would poison every later request)."""


class UserProfiles:
    def __init__(self, store: VectorStore, alias: str, spaces: dict[str, int]):
        self.store, self.alias, self.spaces = store, alias, spaces
        self._layouts: dict[str, int] = {}  # a generation's layout never changes: read once (a request path)

    # --- the items' collab slot each generation is built on ----------------------------------------------------

    def slot(self, collection: str | None = None) -> str:
        """The items' collab slot the users generation `collection` (default: the live one) is built on; a
        generation made before there were two slots is built on `collab`."""
        name = collection or self.store.resolve(self.alias)
        if name is None:
            return COLLAB_SLOTS[0]
        return self.store.metadata(name).get("collab_slot", COLLAB)

    def layout(self, collection: str | None = None) -> int:
        """The profile layout of the users generation `collection` (default: the live one)."""
        name = collection or self.store.resolve(self.alias)
        if name is None:
            return PROFILE_LAYOUT
        if name not in self._layouts:
            self._layouts[name] = self.store.metadata(name).get("profile_layout", 1)
        return self._layouts[name]

    def item_vector_names(self, slot: str) -> dict[str, str]:
        """The item vector each user space is summed over: `collab` from the given slot."""
        return {space: slot if space == COLLAB else space for space in self.spaces}

    # --- collection ------------------------------------------------------------------------------------------

    def vectors_config(self) -> dict[str, int]:
        return {name: dim for space, dim in self.spaces.items()
                for name in (space, sum_name(space), long_sum_name(space))}

    def ensure(self) -> None:
        """Create the first users generation on first use; refuse to mix a collection of other dimensions."""
        current = self.store.resolve(self.alias)
        if current is None:
            self.store.set_alias(self.alias, self._create(f"{self.alias}-g1", COLLAB_SLOTS[0]))
            return
        if self.store.metadata(current).get("spaces") != self.spaces:
            raise StoreError(
                f"the {self.alias!r} collection was built for vector spaces {self.store.metadata(current).get('spaces')}"
                f" but the items now have {self.spaces}: run `ragrec reindex` to rebuild user vectors"
            )

    def new_generation(self, slot: str) -> str:
        """A fresh, empty users collection for a reindex, built on the items' collab `slot`; the caller switches
        the alias when it is full."""
        current = self.store.resolve(self.alias)
        generation = int(current.rsplit("-g", 1)[1]) + 1 if current and "-g" in current else 1
        name = f"{self.alias}-g{generation}"
        try:
            self.store.drop_collection(name)  # a reindex killed half way left it behind
        except CollectionNotFound:
            pass
        return self._create(name, slot)

    def _create(self, name: str, slot: str) -> str:
        # only ever read by id: no HNSW graph to build
        self.store.create_collection(name, self.vectors_config(), searched=False,
                                     metadata={"spaces": self.spaces, "collab_slot": slot,
                                               "profile_layout": PROFILE_LAYOUT})
        self._layouts[name] = PROFILE_LAYOUT
        self.store.create_payload_index(name, "user_id", "keyword")
        return name

    # --- profiles ----------------------------------------------------------------------------------------------

    def get_many(self, user_ids: list[str], collection: str | None = None) -> dict[str, Profile]:
        if not user_ids:
            return {}
        live = collection or self.store.resolve(self.alias)
        if live is None:
            return {}
        names = {"sums": sum_name}
        # read by the alias: a reindex may switch it meanwhile, and only ever to the newest layout
        if self.layout(live) >= 2:
            names["long_sums"] = long_sum_name
        records = self.store.retrieve(collection or self.alias, [point_id(u) for u in user_ids],
                                      vectors=[name(s) for name in names.values() for s in self.spaces])
        out = {}
        for r in records:
            data = {k: v for k, v in r.payload.items() if k != "updated"}
            vectors = r.vectors or {}
            for field, name in names.items():
                data[field] = {s: vectors[name(s)].tolist() for s in self.spaces if name(s) in vectors}
            out[r.payload["user_id"]] = Profile.model_validate(data)
        return out

    def get(self, user_id: str) -> Profile | None:
        return self.get_many([user_id]).get(user_id)

    def save(self, profiles: list[Profile], collection: str | None = None) -> None:
        """Write the profiles; refuses (NonFiniteProfile) if any would hold a value that is not finite."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        long_term = self.layout(collection) >= 2  # layout 1 has no place for them: short-term sums only
        points = []
        for p in profiles:
            vectors = {}
            for space, dim in self.spaces.items():
                unit = p.vector(space)
                vectors[space] = unit if unit is not None else np.zeros(dim, dtype=np.float32)
                vectors[sum_name(space)] = p.sums.get(space, np.zeros(dim, dtype=np.float32))
                if long_term:
                    vectors[long_sum_name(space)] = p.long_sums.get(space, np.zeros(dim, dtype=np.float32))
            weights = (p.positive_weight, p.long_positive_weight)
            if not (all(map(math.isfinite, weights)) and all(map(_finite32, vectors.values()))):
                raise NonFiniteProfile(f"user {p.user_id!r}: the vector would not be finite, so it was not saved "
                                       "(an event value out of range?)")
            exclude = {"sums", "long_sums"} | (set() if long_term else {"long_positive_weight"})
            payload = p.model_dump(exclude=exclude) | {"updated": now}
            points.append(PointIn(id=point_id(p.user_id), vectors=vectors, payload=payload))
        self.store.upsert(collection or self.alias, points)

    def delete(self, user_ids: list[str], collection: str | None = None) -> int:
        """Remove users' points; returns how many existed."""
        collection = collection or self.alias
        if not user_ids or (collection == self.alias and self.store.resolve(self.alias) is None):
            return 0
        ids = [point_id(u) for u in user_ids]
        found = self.store.retrieve(collection, ids, payload=False)
        self.store.delete(collection, [r.id for r in found])
        return len(found)
