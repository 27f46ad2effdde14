"""How commands print results: rich tables for people, one JSON object with --json for programs."""

from __future__ import annotations

from rich.table import Table

from ragrec.cli.console import console
from ragrec.retrieval.models import Recommendations


def print_items(result: Recommendations, title: str, *, explain_scores: bool = False, as_json: bool = False,
                descriptions: bool = False) -> None:
    if as_json:
        print(result.model_dump_json(indent=1))
        return
    table = Table(title=title)
    columns = ["#", "item", "score", "title", "why"]
    if explain_scores:
        columns[3:3] = ["path", "content", "collab", "query", "popularity", "llm"]
    for col in columns:
        table.add_column(col, overflow="fold")
    for rank, c in enumerate(result.items, 1):
        genres = c.payload.get("genres")
        shown = c.title + (f"  [dim]{', '.join(map(str, genres))}[/]" if isinstance(genres, list) else "")
        why = "; ".join(map(str, c.evidence))
        if descriptions and c.description:
            why = c.description + ("" if c.description_source == "llm" else f"  [dim]({c.description_source})[/]")
        row = [str(rank), c.item_id, f"{c.score:.3f}", shown, why]
        if explain_scores:
            s = c.scores
            row[3:3] = [c.path] + [f"{v:.3f}" if v is not None else "–" for v in (s.content, s.collab, s.query,
                                                                                  s.popularity, s.llm)]
        table.add_row(*row)
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if result.rerank_error:
        console.print(f"[yellow]not reranked:[/] {result.rerank_error}")
