"""ragrec inside LangChain: a retriever and a tool over anything that recommends.

`source` is a callable `RecommendRequest -> Recommendations` or an object with such a `recommend` method (the
`Recommender`). Each recommended item becomes a `Document` whose `page_content` is the item's text and whose
metadata carries the item id, payload, scores (final and per source), retrieval path, evidence and description.

    retriever = RagrecRetriever(source=recommender, user_id="u1", k=5)
    docs = retriever.invoke("a heist movie")                 # the query is blended into the user's taste
    tool = recommend_tool(recommender)
    tool.invoke({"user_id": "u1", "query": "heist", "filters": ["year>=1990"], "k": 5})
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, ConfigDict, Field

from ragrec.retrieval.models import Candidate, RecommendRequest, Recommendations

Source = Any  # a callable RecommendRequest -> Recommendations, or an object with .recommend(request)


def _recommend(source: Source, request: RecommendRequest) -> Recommendations:
    fn = source.recommend if hasattr(source, "recommend") else source
    result = fn(request)
    if isinstance(result, list):  # a list of candidates is accepted as it is
        result = Recommendations(items=result)
    return result


def to_document(c: Candidate) -> Document:
    return Document(
        page_content=c.text or c.title,
        metadata={
            "item_id": c.item_id,
            "title": c.title,
            "score": c.score,
            "payload": c.payload,
            "scores": c.scores.model_dump(exclude_none=True),
            "path": c.path,
            "evidence": [e.model_dump(exclude_none=True) for e in c.evidence],
            "description": c.description,
            "description_source": c.description_source,
        },
    )


class RagrecRetriever(BaseRetriever):
    """Recommendations for one user (or none: query only) as LangChain documents; the retriever's query string
    becomes the request's free-text query."""

    source: Any = Field(description="a callable RecommendRequest -> Recommendations, or an object with .recommend")
    user_id: str | None = None
    k: int = 10
    filters: list[str] = Field(default_factory=list)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        request = RecommendRequest(user_id=self.user_id, query=query or None, k=self.k, filters=self.filters)
        return [to_document(c) for c in _recommend(self.source, request).items]


class RecommendArgs(BaseModel):
    """What the tool's caller (an LLM agent, the chat turn) may ask for: a misnamed argument ("user" for
    `user_id`) is an error the caller sees, not silently dropped."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, description="the user to recommend for; omit for a query-only search")
    query: str | None = Field(None, description="free text: what the user is looking for")
    filters: list[str] = Field(default_factory=list,
                               description="payload filters, e.g. genres=Comedy, year>=1990, genres!=Horror")
    k: int = Field(5, ge=1, le=50, description="how many items")


def recommend_tool(source: Source, name: str = "recommend_items") -> StructuredTool:
    """A LangChain tool that returns recommended items (title, year, genres, description, why) as dicts."""

    def run(user_id: str | None = None, query: str | None = None, filters: list[str] | None = None,
            k: int = 5) -> list[dict[str, Any]]:
        request = RecommendRequest(user_id=user_id, query=query, filters=filters or [], k=k)
        result = _recommend(source, request)
        return [
            {"item_id": c.item_id, "title": c.title, "year": c.payload.get("year"),
             "genres": c.payload.get("genres"), "score": round(c.score, 4), "description": c.description,
             "because": [str(e) for e in c.evidence]}
            for c in result.items
        ]

    return StructuredTool.from_function(
        func=run, name=name, args_schema=RecommendArgs,
        description="Recommend catalog items for a user and/or a free-text request, with optional filters.",
    )
