"""Chat-style recommendation: constraints read from messages over the catalog's vocabulary, conversations, and the
turn that turns them into grounded answers."""

from ragrec.chat.constraints import Constraints, Title, parse
from ragrec.chat.conversation import Conversation, ConversationNotFound, Conversations
from ragrec.chat.turn import Chat, ChatAnswer, ChatEvent, ChatRequest, answer_text
from ragrec.chat.vocabulary import Vocabulary

__all__ = ["Chat", "ChatAnswer", "ChatEvent", "ChatRequest", "Constraints", "Conversation", "ConversationNotFound",
           "Conversations", "Title", "Vocabulary", "answer_text", "parse"]
