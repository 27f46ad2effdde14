"""The bundled demo catalog: MovieLens ml-latest-small movies (titles, years, genres, tags; no ratings)."""

from __future__ import annotations

from pathlib import Path

from ragrec.ingestion import FieldSpec, IngestOptions

DEMO_CATALOG = Path(__file__).parent / "data" / "movies.jsonl"
DEMO_USER = "demo-user"
# Toy Story, A Bug's Life, Finding Nemo, Monsters, Inc., The Incredibles
DEMO_LIKES = ["1", "2355", "6377", "4886", "8961"]


def demo_options(**overrides) -> IngestOptions:
    return IngestOptions(
        id_field="movieId",
        text_fields=["title", "genres", "tags"],
        payload_fields=[FieldSpec(name="title", type="str"), FieldSpec(name="year", type="int"),
                        FieldSpec(name="genres", type="list"), FieldSpec(name="tags", type="list")],
        **overrides,
    )
