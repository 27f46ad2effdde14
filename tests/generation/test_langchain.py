"""ragrec as a LangChain retriever and tool, each run through `.invoke`, over the current Recommender on real
demo items in Qdrant Edge (through a thin adapter to the Recommendations model the serving core returns)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from langchain_core.documents import Document
from langchain_core.tools import StructuredTool

from ragrec.generation.prompts import display_title
from ragrec.generation.langchain import RagrecRetriever, RecommendArgs, recommend_tool
from ragrec.recommender import Recommender
from ragrec.retrieval.models import RecommendRequest, Recommendations


@pytest.fixture
def source(small_store, embedder):
    """RecommendRequest -> Recommendations: the Recommender on real items, with template descriptions (llm=none)."""
    settings, store = small_store
    recommender = Recommender(settings.model_copy(update={"llm": "none"}), store=store, embedder=embedder)
    calls = []

    def recommend(request: RecommendRequest) -> Recommendations:
        calls.append(request)
        return recommender.recommend(request.model_copy(update={"explain": True}))

    recommend.calls = calls
    return recommend


def test_retriever_invoke_returns_documents(source):
    retriever = RagrecRetriever(source=source, k=4, filters=["year>=1990"])
    docs = retriever.invoke("animated toys come to life")
    assert len(docs) == 4 and all(isinstance(d, Document) for d in docs)
    assert source.calls[-1] == RecommendRequest(query="animated toys come to life", k=4, filters=["year>=1990"])
    for d in docs:
        assert d.page_content.startswith("title: ")  # the item text as embedded
        m = d.metadata
        assert m["item_id"] and m["payload"]["year"] >= 1990 and m["path"] == "query"
        assert m["description_source"] == "template" and m["description"].startswith(display_title(m["title"]))
    assert "Toy Story" in " ".join(d.metadata["title"] for d in docs)


def test_retriever_accepts_an_object_with_recommend(source):
    class Facade:
        def recommend(self, request):
            return source(request)

    docs = RagrecRetriever(source=Facade(), k=2).invoke("space opera")
    assert len(docs) == 2


def test_tool_invoke_with_its_pydantic_args(source):
    tool = recommend_tool(source)
    assert isinstance(tool, StructuredTool) and tool.args_schema is RecommendArgs
    assert set(tool.args) == {"user_id", "query", "filters", "k"}
    out = tool.invoke({"query": "heist crime thriller", "filters": ["genres=Crime"], "k": 3})
    assert len(out) == 3 and all("Crime" in item["genres"] for item in out)
    assert {"item_id", "title", "year", "genres", "score", "description", "because"} <= set(out[0])
    with pytest.raises(ValidationError):  # the schema refuses what the recommender would refuse
        tool.invoke({"query": "x", "k": 0})
    with pytest.raises(ValidationError, match="user\n"):  # a misnamed argument is not silently dropped
        tool.invoke({"user": "1", "query": "heist"})
