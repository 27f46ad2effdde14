"""Conversations kept server-side between chat turns: the constraints so far, what was already shown, a bounded
history of messages; forgotten after an idle time, the least recently used first when there are too many."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict

from pydantic import BaseModel, Field

from ragrec.chat.constraints import Constraints
from ragrec.config import Settings


class Turn(BaseModel):
    message: str
    items: list[str] = Field(default_factory=list)  # item ids shown in the answer


class Conversation(BaseModel):
    conversation_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    user_id: str | None = None
    constraints: Constraints = Field(default_factory=Constraints)
    turns: list[Turn] = Field(default_factory=list)
    shown: list[str] = Field(default_factory=list)  # every item shown so far: not shown again
    last_active: float = Field(default_factory=time.monotonic)

    def add(self, turn: Turn, settings: Settings) -> None:
        """Keep the turn, within the bounds on turns and characters (the oldest go first)."""
        self.turns.append(turn)
        self.shown += [i for i in turn.items if i not in self.shown]
        while len(self.turns) > settings.chat_max_turns or (
                len(self.turns) > 1 and sum(len(t.message) for t in self.turns) > settings.chat_max_chars):
            self.turns.pop(0)


class ConversationNotFound(KeyError):
    pass


class Conversations:
    """The process's conversations, safe to use from many threads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_start(self, conversation_id: str | None, user_id: str | None) -> Conversation:
        """The conversation with this id (ConversationNotFound if it expired or never was), or a new one."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            if conversation_id is None:
                conv = Conversation(user_id=user_id)
                self._items[conv.conversation_id] = conv
                while len(self._items) > self.settings.chat_max_conversations:
                    self._items.popitem(last=False)
                return conv
            conv = self._items.get(conversation_id)
            if conv is None:
                raise ConversationNotFound(conversation_id)
            self._items.move_to_end(conversation_id)
            conv.last_active = now
            return conv

    def _expire(self, now: float) -> None:
        idle = self.settings.chat_idle_seconds
        while self._items:
            oldest_id, oldest = next(iter(self._items.items()))
            if now - oldest.last_active < idle:
                return
            del self._items[oldest_id]

    def __len__(self) -> int:
        return len(self._items)
