"""`POST /v1/chat`: chat-style recommendation, multi-turn; streamed as server-sent events or one JSON answer."""

from __future__ import annotations

import json
from typing import AsyncIterator

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import ConfigDict, Field

from ragrec.api import errors
from ragrec.api.deps import ClientKey, ServicesDep
from ragrec.chat import ChatAnswer, ChatRequest

router = APIRouter(prefix="/v1", tags=["chat"])


class ChatIn(ChatRequest):
    model_config = ConfigDict(extra="forbid")

    stream: bool = Field(True, strict=True,
                         description="server-sent events (constraints, item, description, done), or one JSON")


@router.post("/chat", response_model=ChatAnswer, responses={200: {"content": {"text/event-stream": {}}}})
async def chat(body: ChatIn, svc: ServicesDep, _: ClientKey):
    """One turn: the message becomes constraints (shown back as `chips`), merged with the conversation's; then
    retrieval, the (optional) rerank and descriptions; the answer names only catalog items."""
    request = ChatRequest(**body.model_dump(exclude={"stream"}))
    if not body.stream:
        if not request.explain:
            return await svc.run(lambda: svc.chat.turn(request))
        return await svc.run_llm(lambda: svc.chat.turn(request))
    # validate the conversation id before the stream starts, so a bad one is a 404, not an error mid-stream
    if request.conversation_id is not None:
        svc.chat.conversations.get_or_start(request.conversation_id, request.user_id)

    async def events() -> AsyncIterator[bytes]:
        try:
            async for e in svc.chat.stream(request, svc.run):
                yield format_sse_event(data_str=json.dumps(e.data), event=e.event)
        except Exception as exc:  # the 200 is sent: the stream ends with the problem, as an `error` event
            problem = errors.as_problem(exc, "/v1/chat")
            yield format_sse_event(data_str=problem.model_dump_json(exclude_none=True), event="error")

    return EventSourceResponse(events(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
