"""User profiles in the Qdrant `users` collection, through the same `VectorStore` interface as items.

Each user point carries, per vector space, the unit user vector (`content`) and the profile's running sum
(`content_sum`, the sufficient statistic); the payload holds counts, recent items and the last update.
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


def sum_name(space: str) -> str:
    return f"{space}_sum"


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

    # --- the items' collab slot each generation is built on ----------------------------------------------------

    def slot(self, collection: str | None = None) -> str:
        """The items' collab slot the users generation `collection` (default: the live one) is built on; a
        generation made before there were two slots is built on `collab`."""
        name = collection or self.store.resolve(self.alias)
        if name is None:
            return COLLAB_SLOTS[0]
        return self.store.metadata(name).get("collab_slot", COLLAB)

    def item_vector_names(self, slot: str) -> dict[str, str]:
        """The item vector each user space is summed over: `collab` from the given slot."""
        return {space: slot if space == COLLAB else space for space in self.spaces}

    # --- collection ------------------------------------------------------------------------------------------

    def vectors_config(self) -> dict[str, int]:
        return {name: dim for space, dim in self.spaces.items() for name in (space, sum_name(space))}

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
        self.store.create_collection(name, self.vectors_config(), metadata={"spaces": self.spaces, "collab_slot": slot},
                                     searched=False)
        self.store.create_payload_index(name, "user_id", "keyword")
        return name

    # --- profiles ----------------------------------------------------------------------------------------------

    def get_many(self, user_ids: list[str], collection: str | None = None) -> dict[str, Profile]:
        if not user_ids or (collection is None and self.store.resolve(self.alias) is None):
            return {}
        sums = [sum_name(s) for s in self.spaces]
        records = self.store.retrieve(collection or self.alias, [point_id(u) for u in user_ids], vectors=sums)
        out = {}
        for r in records:
            data = {k: v for k, v in r.payload.items() if k != "updated"}
            data["sums"] = {s: (r.vectors or {})[sum_name(s)].tolist() for s in self.spaces if sum_name(s) in (r.vectors or {})}
            out[r.payload["user_id"]] = Profile.model_validate(data)
        return out

    def get(self, user_id: str) -> Profile | None:
        return self.get_many([user_id]).get(user_id)

    def save(self, profiles: list[Profile], collection: str | None = None) -> None:
        """Write the profiles; refuses (NonFiniteProfile) if any would hold a value that is not finite."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        points = []
        for p in profiles:
            vectors = {}
            for space, dim in self.spaces.items():
                raw = p.sums.get(space)
                unit = p.vector(space)
                vectors[space] = unit if unit is not None else np.zeros(dim, dtype=np.float32)
                vectors[sum_name(space)] = raw if raw is not None else np.zeros(dim, dtype=np.float32)
            if not (math.isfinite(p.positive_weight) and all(map(_finite32, vectors.values()))):
                raise NonFiniteProfile(f"user {p.user_id!r}: the vector would not be finite, so it was not saved "
                                       "(an event value out of range?)")
            payload = p.model_dump(exclude={"sums"}) | {"updated": now}
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
