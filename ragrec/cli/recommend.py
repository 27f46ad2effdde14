"""`ragrec recommend`: recommendations for a user, a query or example items."""

from __future__ import annotations

from typing import Optional

import typer

from ragrec.cli.app import app, recommender_of, split
from ragrec.cli.console import fail
from ragrec.cli.errors import validation_message
from ragrec.cli.output import print_items
from ragrec.store import StoreError


@app.command("recommend")
def recommend_cmd(
    ctx: typer.Context,
    user: Optional[str] = typer.Option(None, "--user", help="User id; unknown or absent = cold start."),
    k: int = typer.Option(10, "-k", min=1, max=1000),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Free text, blended with the user's vector."),
    filter: list[str] = typer.Option([], "--filter", "-f", help="genres=Comedy, year>=1990, genres!=Horror (repeatable)"),
    # 0..1 checked below: typer's range check let nan through and then called it "> 1"
    diversity: float = typer.Option(0.0, "--diversity", help="MMR diversity, 0..1"),
    positive: Optional[str] = typer.Option(None, "--positive",
                                           help="Example items to move towards (comma-separated)."),
    negative: Optional[str] = typer.Option(None, "--negative", help="Example items to move away from."),
    strategy: str = typer.Option("average_vector", "--strategy", help="average_vector, best_score or sum_scores"),
    include_seen: bool = typer.Option(False, "--include-seen", help="Do not exclude items the user interacted with."),
    long_term_share: Optional[float] = typer.Option(
        None, "--long-term-share",
        help="Horizon: 0 = what the user did last, 1 = their whole history alike (default: "
        "RAGREC_LONG_TERM_SHARE_COLLAB)"),
    explain: bool = typer.Option(False, "--explain", help="Write a short personalized description of each item."),
    rerank: Optional[bool] = typer.Option(None, "--rerank/--no-rerank",
                                          help="Let the LLM rerank the top candidates (default: RAGREC_RERANK)"),
    llm: Optional[str] = typer.Option(None, "--llm", help="local, openai or none (default: RAGREC_LLM)"),
    explain_scores: bool = typer.Option(False, "--explain-scores",
                                        help="Show each item's retrieval path and its score from every source."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Recommendations for a user, with filters, diversity and cold start."""
    from pydantic import ValidationError

    from ragrec.retrieval.candidates import UnknownItems
    from ragrec.retrieval.filters import FilterSyntaxError
    from ragrec.retrieval.models import RecommendRequest

    for option, number in (("--diversity", diversity), ("--long-term-share", long_term_share)):
        if number is not None and not 0 <= number <= 1:  # nan too, which typer's range check let through
            fail(f"{option} must be a number from 0 to 1, not {number:g}", 2)
    for option, value in (("--positive", positive), ("--negative", negative)):
        if value is not None and not split(value):  # `--positive ""`: not the popular list it would silently be
            fail(f"{option} names no item: give item ids, comma-separated", 2)
    try:
        request = RecommendRequest(user_id=user, k=k, query=query, filters=filter, diversity=diversity,
                                   positive=split(positive), negative=split(negative), strategy=strategy,
                                   exclude_seen=False if include_seen else None, explain=explain, rerank=rerank,
                                   long_term_share=long_term_share)
    except ValidationError as exc:
        fail(validation_message(exc, {"user_id": "--user", "filters": "--filter"}), 2)
    if llm is not None and llm not in ("local", "openai", "none"):
        fail(f"unknown LLM backend {llm!r}: use local, openai or none", 2)
    with recommender_of(ctx, llm=llm) as rec:
        try:
            result = rec.recommend(request)
        except (FilterSyntaxError, UnknownItems, ValueError) as exc:
            fail(str(exc.args[0]), 2)
        except (StoreError, LookupError) as exc:
            fail(str(exc))
    print_items(result, title=f"for {user or 'a new user'}" + (f", query {query!r}" if query else ""),
                explain_scores=explain_scores, as_json=as_json, descriptions=explain)
