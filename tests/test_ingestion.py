"""Catalog ingestion end to end: real MiniLM, real Qdrant Edge (and qdrant-client local mode), real files."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from qdrant_client import QdrantClient

from conftest import GOODBOOKS, need
from ragrec.config import Settings
from ragrec.demo import DEMO_CATALOG, demo_options
from ragrec.embedding import LazyEmbedder
from ragrec.io import batched
from ragrec.ingestion import (FieldSpec, IngestError, IngestFileError, IngestOptions, MassDeleteRefused, delete_items,
                              ingest)
from ragrec.ingestion.job import FIRST_BATCH_ROWS
from ragrec.retrieval.models import RecommendRequest
from ragrec.store import point_id
from ragrec.store.base import CollectionNotFound
from ragrec.store.server import ServerStore

MOVIE_FIELDS = dict(
    id_field="movieId",
    text_fields=["title", "genres", "tags"],
    payload_fields=[FieldSpec(name="title"), FieldSpec(name="year", type="int"), FieldSpec(name="genres", type="list"),
                    FieldSpec(name="tags", type="list")],
)


def write_csv(path, movies):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["movieId", "title", "year", "genres", "tags"])
        for m in movies:
            w.writerow([m["movieId"], m["title"], m["year"] or "", "|".join(m["genres"]), "|".join(m["tags"])])
    return path


def item_ids(store, collection="items"):
    return [r.payload["item_id"] for r in store.scroll(collection, payload=["item_id"])]


def run(path, store, settings, embedder, **kw):
    return ingest(path, IngestOptions(**{**MOVIE_FIELDS, **kw}), settings=settings, store=store, embedder=embedder)


# --- the demo catalog ------------------------------------------------------------------------------------------


def test_demo_catalog_ingests_whole(demo):
    settings, store, report = demo
    assert (report.read, report.upserted, report.rejected) == (9742, 9742, 0)
    assert store.count("items") == 9742
    [toy] = store.retrieve("items", [point_id("1")])
    assert toy.payload["title"] == "Toy Story (1995)" and toy.payload["year"] == 1995
    assert toy.payload["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert store.metadata("items")["model"] == settings.embedding_model


def test_reingest_of_unchanged_file_writes_nothing(demo, embedder):
    settings, store, _ = demo
    again = ingest(DEMO_CATALOG, demo_options(), settings=settings, store=store, embedder=embedder)
    assert (again.upserted, again.updated_payload, again.unchanged) == (0, 0, 9742)
    assert store.count("items") == 9742


# --- changes, deletes, sync ------------------------------------------------------------------------------------


def test_changed_item_is_reembedded_and_payload_change_keeps_vector(tmp_path, store, settings, embedder, demo_movies):
    movies = [dict(m) for m in demo_movies[:40]]
    path = write_csv(tmp_path / "m.csv", movies)
    assert run(path, store, settings, embedder).upserted == 40
    [before] = store.retrieve("items", [point_id("2")], vectors=True)

    movies[0]["title"] = "Toy Story (Director's Cut) (1995)"  # text change: new vector
    movies[1]["year"] = 1996  # payload-only change: same vector
    write_csv(path, movies)
    report = run(path, store, settings, embedder)
    assert (report.upserted, report.updated_payload, report.unchanged) == (1, 1, 38)
    [toy] = store.retrieve("items", [point_id("1")])
    assert toy.payload["title"].startswith("Toy Story (Director's Cut)")
    [after] = store.retrieve("items", [point_id("2")], vectors=True)
    assert after.payload["year"] == 1996
    assert np.allclose(after.vectors["content"], before.vectors["content"])


def test_rerun_with_nothing_to_embed_never_loads_the_model(tmp_path, store, settings, embedder, demo_movies):
    movies = [dict(m) for m in demo_movies[:10]]
    path = write_csv(tmp_path / "m.csv", movies)
    run(path, store, settings, embedder)
    # the same model under a configuration that fails as soon as it is loaded
    unloadable = LazyEmbedder(Settings(data_dir=settings.data_dir, embedding_quantization="int8"))
    options = IngestOptions(**MOVIE_FIELDS)
    assert ingest(path, options, settings=settings, store=store, embedder=unloadable).unchanged == 10

    movies[0]["title"] = "Toy Story (Director's Cut) (1995)"
    write_csv(path, movies)
    with pytest.raises(ValueError, match="embedding_quantization"):
        ingest(path, options, settings=settings, store=store, embedder=unloadable)


def test_new_payload_options_rewrite_payloads_without_reembedding(tmp_path, store, settings, embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:20])
    run(path, store, settings, embedder)
    [before] = store.retrieve("items", [point_id("1")], vectors=True)

    # the same file under other rules: `year` kept as a string now, `title` dropped from the payload
    fields = [FieldSpec(name="year", type="str"), FieldSpec(name="genres", type="list"), FieldSpec(name="tags", type="list")]
    report = run(path, store, settings, embedder, payload_fields=fields)
    assert (report.upserted, report.updated_payload, report.unchanged) == (0, 20, 0)
    [after] = store.retrieve("items", [point_id("1")], vectors=True)
    assert after.payload["year"] == "1995" and "title" not in after.payload
    assert np.allclose(after.vectors["content"], before.vectors["content"])
    assert run(path, store, settings, embedder, payload_fields=fields).unchanged == 20


def test_delete_and_sync(tmp_path, store, settings, embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:30])
    run(path, store, settings, embedder)
    report = delete_items(["1", "2", "no-such-item"], settings=settings, store=store)
    assert report.deleted == 2 and report.not_found == ["no-such-item"]
    assert store.count("items") == 28

    write_csv(path, demo_movies[5:30])  # items 1-5 gone from the file (1, 2 already deleted)
    synced = run(path, store, settings, embedder, sync=True)
    assert synced.deleted == 3 and synced.upserted == 0
    assert sorted(item_ids(store), key=int) == [str(m["movieId"]) for m in demo_movies[5:30]]


def test_rebuild_switches_alias_to_a_new_collection(tmp_path, store, settings, embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:10])
    run(path, store, settings, embedder)
    assert store.resolve("items") == "items-g1"
    report = run(path, store, settings, embedder, rebuild=True)
    assert (report.upserted, report.deleted) == (10, 0)
    assert store.resolve("items") == "items-g2" and [c.target for c in store.collections()] == ["items-g2"]
    assert store.count("items") == 10
    fewer = run(write_csv(tmp_path / "fewer.csv", demo_movies[:8]), store, settings, embedder, rebuild=True)
    assert (fewer.upserted, fewer.deleted) == (8, 2) and store.count("items") == 8  # the items it dropped


def test_model_mismatch_is_a_clear_error(tmp_path, store, settings, embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:5])
    run(path, store, settings, embedder)

    class Other:
        name, dim = "some/other-model", embedder.dim

        def embed(self, texts):
            return embedder.embed(texts)

    with pytest.raises(IngestError, match="--rebuild"):
        ingest(path, IngestOptions(**MOVIE_FIELDS), settings=settings, store=store, embedder=Other())


# --- dry runs ----------------------------------------------------------------------------------------------------


def snapshot(store, settings):
    """Everything a job could change: the aliases and collections, each point's payload, the rejects folder."""
    points = {c.target: sorted((r.id, json.dumps(r.payload, sort_keys=True)) for r in store.scroll(c.target))
              for c in store.collections()}
    return [(c.name, c.target, c.count) for c in store.collections()], points, (settings.data_dir / "rejects").exists()


def test_a_dry_run_of_a_sync_says_what_the_sync_does_and_changes_nothing(tmp_path, store, settings, embedder,
                                                                       demo_movies):
    movies = [dict(m) for m in demo_movies[:20]]
    path = write_csv(tmp_path / "m.csv", movies)
    run(path, store, settings, embedder)
    movies[0]["title"] = "Toy Story (Director's Cut) (1995)"  # re-embedded
    movies[1]["year"] = 1996  # payload only
    movies = movies[:16] + [dict(m) for m in demo_movies[20:22]]  # 4 gone, 2 new
    path = write_csv(path, movies)
    path.write_text(path.read_text() + f"{movies[2]['movieId']},,,,\n")  # a duplicate id: rejected, item kept
    before = snapshot(store, settings)
    # the same model under a configuration that fails when loaded: a dry run embeds nothing
    unloadable = LazyEmbedder(Settings(data_dir=settings.data_dir, embedding_quantization="int8"))
    dry = ingest(path, IngestOptions(**MOVIE_FIELDS, sync=True, dry_run=True), settings=settings, store=store,
                 embedder=unloadable)
    assert snapshot(store, settings) == before
    gone = [str(m["movieId"]) for m in demo_movies[16:20]]
    assert dry.dry_run and (dry.read, dry.added, dry.upserted, dry.updated_payload, dry.unchanged) == (19, 2, 3, 1, 14)
    assert (dry.deleted, sorted(dry.deleted_ids), dry.rejected, dry.rejects_file, dry.refused) == (4, gone, 1, None,
                                                                                                    None)
    real = run(path, store, settings, embedder, sync=True)
    assert (real.upserted, real.updated_payload, real.unchanged, real.deleted, real.rejected) == \
        (dry.upserted, dry.updated_payload, dry.unchanged, dry.deleted, dry.rejected)
    assert dry.added == len(set(item_ids(store)) - {str(m["movieId"]) for m in demo_movies[:20]})


def test_a_dry_run_says_a_mass_deletion_would_be_refused(tmp_path, store, settings, embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:20])
    run(path, store, settings, embedder)
    write_csv(path, demo_movies[:9])
    rejects = tmp_path / "rejects.jsonl"
    path.write_text(path.read_text() + ",no id,,,\n")
    before = snapshot(store, settings)
    dry = run(path, store, settings, embedder, sync=True, dry_run=True, rejects=rejects)
    assert snapshot(store, settings) == before
    assert (dry.deleted, len(dry.deleted_ids), dry.unchanged, dry.rejected) == (11, 11, 9, 1)
    assert dry.refused.startswith("--sync would delete 11 of the 20 items in 'items' (1 rejected rows have no "
                                  "readable id") and f"see {rejects}" in dry.refused
    assert dry.rejects_file == rejects and [json.loads(r)["line"] for r in rejects.read_text().splitlines()] == [11]
    assert run(path, store, settings, embedder, sync=True, dry_run=True, allow_mass_delete=True).refused is None


def test_a_dry_run_of_a_rebuild_counts_every_row_as_rewritten_and_builds_nothing(tmp_path, store, settings,
                                                                                 embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:10])
    run(path, store, settings, embedder)
    fewer = write_csv(tmp_path / "fewer.csv", demo_movies[:8] + demo_movies[10:11])
    before = snapshot(store, settings)
    dry = run(fewer, store, settings, embedder, rebuild=True, dry_run=True)
    assert (dry.upserted, dry.added, dry.unchanged, dry.deleted) == (9, 1, 0, 2)
    assert sorted(dry.deleted_ids) == sorted(str(m["movieId"]) for m in demo_movies[8:10]) and dry.refused is None
    empty = tmp_path / "empty.csv"
    empty.write_text("movieId,title,year,genres,tags\n")
    refused = run(empty, store, settings, embedder, rebuild=True, dry_run=True)
    assert "--rebuild would drop 10 of the 10 items" in refused.refused and "would still point at 'items-g1'" in \
        refused.refused
    assert snapshot(store, settings) == before and store.resolve("items") == "items-g1"
    with pytest.raises(CollectionNotFound):
        store.metadata("items-g2")
    real = run(fewer, store, settings, embedder, rebuild=True)
    assert (real.upserted, real.deleted) == (dry.upserted, dry.deleted)


def test_a_dry_run_refuses_what_the_job_refuses_and_makes_no_data_dir(tmp_path, embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:5])
    settings = Settings(data_dir=tmp_path / "nothing-here")
    dry = ingest(path, IngestOptions(**MOVIE_FIELDS, sync=True, dry_run=True), settings=settings, embedder=embedder)
    assert (dry.added, dry.upserted, dry.deleted) == (5, 5, 0) and not settings.data_dir.exists()
    with pytest.raises(IngestError, match="users collection"):
        ingest(path, IngestOptions(**MOVIE_FIELDS, dry_run=True, collection="users"), settings=settings,
               embedder=embedder)
    assert not settings.data_dir.exists()


# --- bad rows and bad files --------------------------------------------------------------------------------------


def rejects_of(report):
    return [json.loads(line) for line in open(report.rejects_file, encoding="utf-8")]


def test_bad_csv_rows_are_rejected_with_reasons_and_good_rows_land(tmp_path, store, settings, embedder):
    path = tmp_path / "bad.csv"
    rows = [
        b"movieId,title,year,genres,tags",
        b"1,Toy Story (1995),1995,Animation|Children,pixar",  # line 2 ok
        b",Nameless (2000),2000,Drama,",  # 3 missing id
        b"1,Toy Story again,1995,Animation,",  # 4 duplicate id
        b"3,,,,",  # 5 empty text
        b"4,Heat (1995),nineteen,Action,",  # 6 unparsable number
        b"5,Caf\xe9 (2001),2001,Comedy,",  # 7 latin-1 byte: undecodable
        b"6,Too,many,fields,here,really",  # 8 wrong field count
        b"7,Jumanji (1995),1995,Adventure|Children,board game",  # 9 ok
        b"8," + b"x" * 3000 + b",1999,Drama,",  # 10 too long (rejected in reject mode)
    ]
    path.write_bytes(b"\n".join(rows) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    report = run(path, store, settings, embedder, rejects=rejects, long_text="reject")
    got = {r["line"]: r for r in rejects_of(report)}
    assert report.rejects_file == rejects
    assert set(got) == {3, 4, 5, 6, 7, 8, 10}
    assert "missing id" in got[3]["reason"] and got[3]["id"] is None
    assert "duplicate id" in got[4]["reason"] and "line 2" in got[4]["reason"] and got[4]["id"] == "1"
    assert "empty text" in got[5]["reason"]
    assert "unparsable number" in got[6]["reason"] and "year" in got[6]["reason"]
    assert "undecodable" in got[7]["reason"] and got[7]["id"] == "5"
    assert "fields" in got[8]["reason"]
    assert "too long" in got[10]["reason"] and got[10]["id"] == "8"
    assert (report.read, report.upserted, report.rejected) == (9, 2, 7)
    assert sorted(item_ids(store)) == ["1", "7"]


def test_long_text_is_truncated_with_a_warning_by_default(tmp_path, store, settings, embedder):
    path = tmp_path / "long.csv"
    path.write_text("movieId,title,year,genres,tags\n8," + "word " * 1000 + ",1999,Drama,\n", encoding="utf-8")
    report = run(path, store, settings, embedder)
    assert (report.upserted, report.truncated, report.rejected) == (1, 1, 0)


def test_text_that_is_not_valid_unicode_is_a_reject_and_the_rest_lands(tmp_path, store, settings, embedder):
    path = tmp_path / "sur.jsonl"  # JSON escapes may spell a lone surrogate, which no UTF-8 text can hold
    path.write_text('{"id": "ok1", "title": "Fine"}\n{"id": "bad\\ud800", "title": "Broken"}\n'
                    '{"id": "ok2", "title": "Half \\ud800 a pair"}\n{"id": "ok3", "title": "Emoji \\ud83d\\ude00"}\n')
    report = ingest(path, IngestOptions(text_fields=["title"], payload_fields=[FieldSpec(name="title")]),
                    settings=settings, store=store, embedder=embedder)
    assert (report.upserted, report.rejected) == (2, 2)  # a valid pair (an emoji) is fine
    reasons = [json.loads(line)["reason"] for line in open(report.rejects_file, encoding="utf-8")]
    assert reasons == ["the id (field 'id') is not valid Unicode (a lone surrogate, U+D800)",
                       "holds text that is not valid Unicode (a lone surrogate, as JSON's \\ud800)"]


def test_an_unclosed_quote_is_named(tmp_path, store, settings, embedder):
    path = tmp_path / "quote.csv"
    path.write_text('movieId,title,year,genres,tags\n1,Toy Story,1995,Animation,\n2,short\n'
                    '3,"Open quote,1999,Drama,\n4,Heat,1995,Crime,\n', encoding="utf-8")
    report = run(path, store, settings, embedder)
    rejects = {r["line"]: r for r in rejects_of(report)}
    assert rejects[3]["reason"] == "has 2 fields, the header has 5"
    assert rejects[5]["reason"] == (
        "has 2 fields, the header has 5 (a quote opened on line 4 is not closed: lines 4-5 were read as one row)")
    # which field is the id is a guess in a row of the wrong length: none (so --sync deletes nothing unasked)
    assert report.rejected_without_id == 2 and sorted(item_ids(store)) == ["1"]


def test_bad_jsonl_lines(tmp_path, store, settings, embedder):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"movieId": 1, "title": "Toy Story (1995)", "genres": ["Animation"], "year": 1995}\n'
        b'{"movieId": 2, "title": "Jumanji", \n'  # malformed JSON
        b'[1, 2, 3]\n'  # not an object
        b'{"movieId": 3, "title": "Caf\xe9"}\n'  # undecodable
        b'\n'
        b'{"movieId": 4, "title": "Heat (1995)", "year": "1995"}\n'
        b'{"movieId": [5, 6], "title": "A list is not an id"}\n'
        b'{"movieId": true, "title": "Nor is a boolean"}\n'
        b'{"movieId": "a\\u0000b", "title": "No feedback could name it"}\n'
        b'{"movieId": "' + b"9" * 201 + b'", "title": "Nor this"}\n'
        b'{"movieId": 11, "title": "Endless", "year": Infinity}\n'  # no number: rejected, as "inf" in a CSV is
        b'{"movieId": 12, "title": "Yearless", "year": NaN}\n'  # pandas' missing value: no year
    )
    report = run(path, store, settings, embedder)
    got = {r["line"]: r["reason"] for r in rejects_of(report)}
    assert set(got) == {2, 3, 4, 7, 8, 9, 10, 11}
    assert got[11] == "unparsable number in 'year': inf is not an integer"
    assert got[2] == "malformed JSON: Expecting property name enclosed in double quotes at character 37"  # no
    assert "object" in got[3] and "undecodable" in got[4]  # "line 1 column 37" of its own beside line 2
    assert "must be text or a number, not list" in got[7] and "not bool" in got[8]
    # ids the event log would refuse: an item no feedback could ever name
    assert got[9] == "the id (field 'movieId') holds a control character"
    assert got[10] == "the id (field 'movieId') is longer than 200 characters"
    assert sorted(item_ids(store)) == ["1", "12", "4"]
    [heat] = store.retrieve("items", [point_id("4")])
    assert heat.payload["year"] == 1995  # a declared int field turns "1995" into 1995


def test_ids_that_are_no_ids_are_rejected_and_binary_ids_are_text(tmp_path, store, settings, embedder):
    """JSON's NaN became item "nan", Infinity "inf", a Parquet float NaN "nan", a Parquet binary id "b'abc'"."""
    jsonl = tmp_path / "ids.jsonl"
    jsonl.write_text('{"id": NaN, "title": "a"}\n{"id": Infinity, "title": "b"}\n{"id": 3.0, "title": "c"}\n')
    report = ingest(jsonl, IngestOptions(text_fields=["title"]), settings=settings, store=store, embedder=embedder)
    assert [r["reason"] for r in rejects_of(report)] == [
        "the id (field 'id') must be text or a finite number, not nan",
        "the id (field 'id') must be text or a finite number, not inf"]
    assert report.rejected_without_id == 2 and item_ids(store) == ["3"]
    floats, binary = tmp_path / "f.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [float("nan"), 4.0], "title": ["d", "e"]}), floats)
    pq.write_table(pa.table({"id": pa.array([b"abc", b"\xff\xfe", "caf\u00e9".encode()], pa.binary()),
                             "title": ["f", "g", "h"]}), binary)
    report = ingest(floats, IngestOptions(text_fields=["title"]), settings=settings, store=store, embedder=embedder)
    assert [r["reason"] for r in rejects_of(report)] == ["the id (field 'id') must be text or a finite number, not nan"]
    report = ingest(binary, IngestOptions(text_fields=["title"]), settings=settings, store=store, embedder=embedder)
    assert [(r["line"], r["reason"]) for r in rejects_of(report)] == [
        (2, "the id (field 'id') is bytes that are not UTF-8 text")]
    assert sorted(item_ids(store)) == ["3", "4", "abc", "caf\u00e9"]


def test_a_json_error_names_its_character_once(tmp_path):
    from ragrec.io import open_rows

    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "2", "title": "x"}\n{"id": "1", "title": "cut short')  # the last line of a copy
    rows, _ = open_rows(path, "jsonl", ["id"])
    assert [r.error for r in rows] == [None, "malformed JSON: Unterminated string starting at character 22"]


def test_payload_values_qdrant_cannot_store_faithfully_are_rejected_and_the_store_stays_readable(tmp_path, settings,
                                                                                                  embedder):
    """A list nested 126 levels deep was accepted by Qdrant Edge and left a write-ahead log it could not read back:
    the shard never opened again. Such rows are rejected with a reason, and the job goes on."""
    from ragrec.store.edge import EdgeStore

    deep = lambda n: json.loads("[" * n + '"x"' + "]" * n)
    rows = [
        {"movieId": 1, "title": "Toy Story (1995)", "genres": ["Animation"]},
        {"movieId": 2, "title": "Deep", "genres": deep(126)},
        {"movieId": 3, "title": "Deeper", "genres": deep(900)},  # deeper than Python's own recursion allows to walk
        {"movieId": 4, "title": "Huge", "year": 10**30},
        {"movieId": 5, "title": "Nested", "genres": {"a": {"b": [1, 2, {"c": "d"}]}}},  # kept: nested but shallow
        {"movieId": 6, "title": "Nested NaN", "genres": [1.0, float("nan")]},
    ]
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + '{"movieId": 7, "title": "Too deep to parse", '
                    '"genres": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    store = EdgeStore(settings.data_dir)
    report = ingest(path, IngestOptions(id_field="movieId", text_fields=["title"],
                                        payload_fields=[FieldSpec(name="genres"), FieldSpec(name="year", type="int")]),
                    settings=settings, store=store, embedder=embedder)
    got = {r["line"]: r["reason"] for r in rejects_of(report)}
    assert set(got) == {2, 3, 4, 6, 7}, got
    assert "nested more than 32 levels" in got[2] and "nested more than 32 levels" in got[3]
    assert "64 bits" in got[4] and "not finite" in got[6] and "nested too deeply" in got[7]
    store.close()
    reopened = EdgeStore(settings.data_dir)  # the WAL reads back
    assert sorted(item_ids(reopened)) == ["1", "5"]
    reopened.close()


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"id,title\n1,Toy Story\n", "no column 'movieId'"),
    (b"", "no CSV header"),
    (b"movieId,title,genres,tags\n1,Toy Story,Animation,\n", "no column 'year'"),  # a payload field, named
    (b"movieId,title,year,title,genres,tags\n1,A,1995,B,Drama,\n", "the header names 'title' more than once"),
])
def test_unusable_file_is_an_error_and_writes_nothing(tmp_path, store, settings, embedder, content, message):
    path = tmp_path / "catalog.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        run(path, store, settings, embedder)
    assert store.collections() == []


def test_corrupt_parquet_is_an_error(tmp_path, store, settings, embedder):
    path = tmp_path / "catalog.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(IngestError, match="Parquet"):
        run(path, store, settings, embedder)
    assert store.collections() == []


# --- three formats -----------------------------------------------------------------------------------------------


def test_csv_jsonl_parquet_give_the_same_items(tmp_path, embedder, demo_movies):
    from ragrec.store.edge import EdgeStore

    movies = demo_movies[:25]
    csv_path = write_csv(tmp_path / "m.csv", movies)
    jsonl_path = tmp_path / "m.jsonl"
    jsonl_path.write_text("".join(json.dumps(m) + "\n" for m in movies), encoding="utf-8")
    parquet_path = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist(movies), parquet_path)

    payloads = {}
    for path in (csv_path, jsonl_path, parquet_path):
        settings = Settings(data_dir=tmp_path / path.suffix[1:])
        store = EdgeStore(settings.data_dir)
        report = run(path, store, settings, embedder)
        assert (report.upserted, report.rejected) == (25, 0), path
        # content_hash hashes the rows as read, so it differs by format; the items themselves must not
        payloads[path.suffix] = {r.payload["item_id"]: {k: v for k, v in r.payload.items() if k != "content_hash"}
                                 for r in store.scroll("items")}
        store.close()
    assert payloads[".csv"] == payloads[".jsonl"] == payloads[".parquet"]
    assert payloads[".csv"]["1"]["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert isinstance(payloads[".parquet"]["1"]["year"], int)


def test_ingestion_into_qdrant_client_store(tmp_path, settings, embedder, demo_movies):
    """The same job against qdrant-client (local mode standing in for a server)."""
    store = ServerStore(client=QdrantClient(":memory:"))
    path = write_csv(tmp_path / "m.csv", demo_movies[:30])
    assert run(path, store, settings, embedder).upserted == 30
    assert run(path, store, settings, embedder).unchanged == 30
    assert store.resolve("items") == "items-g1" and store.count("items") == 30


# --- a messy real catalog ------------------------------------------------------------------------------------------


def test_goodbooks_catalog(tmp_path, store, settings, embedder):
    """The first 2,000 rows of goodbooks-10k as they are (missing fields, ISBNs in scientific notation, lists in
    one field): embedding all 10,000 took 1.5-3.5 minutes of the suite for no other path."""
    source = need(GOODBOOKS / "books.csv")
    books = tmp_path / "books.csv"
    with open(source, encoding="utf-8", newline="") as f:
        books.write_text("".join(line for _, line in zip(range(2001), f)), encoding="utf-8")
    options = IngestOptions(
        id_field="book_id", text_fields=["title", "authors", "original_title"],
        payload_fields=[FieldSpec.parse(s) for s in
                        ["title", "authors:list", "original_publication_year:int", "language_code",
                         "average_rating:float", "isbn:str"]],
        list_separator=",", batch_size=512,
    )
    report = ingest(books, options, settings=settings, store=store, embedder=embedder)
    assert report.read == 2000 and report.upserted + report.rejected == 2000
    assert report.upserted > 1980
    [hunger] = store.retrieve("items", [point_id("1")])
    assert hunger.payload["original_publication_year"] == 2008
    assert hunger.payload["authors"] == ["Suzanne Collins"]
    assert hunger.payload["isbn"] == "439023483"
    assert isinstance(hunger.payload["average_rating"], float)
    counts = Counter(item_ids(store))
    assert max(counts.values()) == 1


# --- similar ---------------------------------------------------------------------------------------------------------


def test_similar_finds_animated_family_films(demo, embedder):
    from ragrec import Recommender, UnknownItems

    settings, store, _ = demo
    rec = Recommender(settings, store=store, embedder=embedder)
    by_text = rec.similar(query="Toy Story", k=10).items
    by_item = rec.similar(item_ids=["1"], k=10).items

    def family(results):
        return [r for r in results if {"Animation", "Children"} & set(r.payload["genres"])]

    # the bare words "Toy Story" also match "The Toy" and "Toy Soldiers"; the sequels and family films dominate
    assert len(family(by_text)) >= 6 and {"3114", "78499"} <= {r.item_id for r in by_text}
    assert {r.path for r in by_text} == {"query"} and all(r.scores.query == pytest.approx(r.score) for r in by_text)
    assert len(family(by_item)) >= 8, [r.payload["title"] for r in by_item]
    assert "3114" in {r.item_id for r in by_item} and {r.path for r in by_item} == {"examples"}  # Toy Story 2
    assert "1" not in {r.item_id for r in by_item}  # the seed itself is excluded
    comedies = rec.similar(item_ids=["1"], k=5, filters=["genres!=Animation", "year<1990"]).items
    assert len(comedies) == 5
    assert all("Animation" not in r.payload["genres"] and r.payload["year"] < 1990 for r in comedies)
    with pytest.raises(UnknownItems):
        rec.similar(item_ids=["no-such-id"])


def test_the_embedded_text_is_kept_and_shown_when_there_is_no_title(tmp_path, store, settings, embedder):
    """goodbooks-style: text from title and authors, no payload fields: results still say what matched."""
    from ragrec import Recommender

    books = [{"book_id": 1, "title": "Harry Potter and the Sorcerer's Stone", "authors": "J.K. Rowling"},
             {"book_id": 2, "title": "The Hobbit", "authors": "J.R.R. Tolkien"},
             {"book_id": 3, "title": "Harry Potter and the Chamber of Secrets", "authors": "J.K. Rowling"}]
    path = tmp_path / "books.jsonl"
    path.write_text("\n".join(json.dumps(b) for b in books))
    ingest(path, IngestOptions(id_field="book_id", text_fields=["title", "authors"]), settings=settings, store=store,
           embedder=embedder)
    [hobbit] = store.retrieve("items", [point_id("2")])
    assert hobbit.payload["text"] == "title: The Hobbit\nauthors: J.R.R. Tolkien"
    top = Recommender(settings, store=store, embedder=embedder).similar(query="Harry Potter", k=2).items
    assert [c.title for c in top] == ["Harry Potter and the Sorcerer's Stone", "Harry Potter and the Chamber of Secrets"] \
        or [c.title for c in top] == ["Harry Potter and the Chamber of Secrets", "Harry Potter and the Sorcerer's Stone"]
    assert top[0].text.startswith("title: Harry Potter") and "text" not in top[0].payload

    off = settings.model_copy(update={"store_text": False, "items_collection": "no-text"})
    ingest(path, IngestOptions(id_field="book_id", text_fields=["title"]), settings=off, store=store, embedder=embedder)
    assert "text" not in store.retrieve("no-text", [point_id("2")])[0].payload


def test_a_catalog_field_may_not_take_a_reserved_name(tmp_path, store, settings, embedder, demo_movies):
    path = tmp_path / "m.csv"
    path.write_text("movieId,title,popularity\n1,Toy Story (1995),5\n")
    with pytest.raises(IngestError, match="'popularity' is reserved"):
        ingest(path, IngestOptions(id_field="movieId", text_fields=["title"], payload_fields=[FieldSpec(name="popularity")]),
               settings=settings, store=store, embedder=embedder)
    assert store.resolve("items") is None  # refused before anything was written


# --- robustness: what a careless or hostile file cannot do -----------------------------------------------------------


@pytest.mark.parametrize("content", [
    b"",
    b"\x7fELF\x02\x01\x01\x00" * 200,  # binary: every line rejected
    b'{"movieId": 90001}\n{"movieId": 90002, "title": ""}\n',  # every row rejected (no text)
])
def test_a_sync_from_a_file_without_valid_rows_deletes_nothing(tmp_path, store, settings, embedder, demo_movies,
                                                               content):
    run(write_csv(tmp_path / "m.csv", demo_movies[:20]), store, settings, embedder)
    bad = tmp_path / "empty.jsonl"
    bad.write_bytes(content)
    with pytest.raises(MassDeleteRefused, match="--sync would delete 20 of the 20 items .*no valid rows"):
        ingest(bad, IngestOptions(id_field="movieId", text_fields=["title"], sync=True), settings=settings,
               store=store, embedder=embedder)
    assert store.count("items") == 20


def test_a_sync_that_would_delete_most_items_is_refused_unless_allowed(tmp_path, store, settings, embedder,
                                                                       demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:20])
    run(path, store, settings, embedder)
    write_csv(path, demo_movies[:9])  # 11 of 20 gone: over the 50 % default
    with pytest.raises(MassDeleteRefused, match=r"would delete 11 of the 20 .*sync_max_delete_share = 50%"):
        run(path, store, settings, embedder, sync=True)
    assert store.count("items") == 20
    assert run(path, store, settings, embedder, sync=True, allow_mass_delete=True).deleted == 11
    assert sorted(item_ids(store), key=int) == [str(m["movieId"]) for m in demo_movies[:9]]


def test_a_sync_with_a_row_too_broken_to_name_its_item_deletes_nothing(tmp_path, store, settings, embedder,
                                                                       demo_movies):
    """A stray comma in a title makes a CSV row unreadable, its id with it: --sync cannot tell whether an item is
    missing from the file or hidden in that row, so it deletes nothing unless allowed."""
    path = write_csv(tmp_path / "m.csv", demo_movies[:10])
    run(path, store, settings, embedder)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[-1] = lines[-1].replace(",", ", the movie,", 1)  # the last item's row: one field too many
    path.write_text("\n".join(lines[:-2] + lines[-1:]) + "\n", encoding="utf-8")  # and the item before it is gone
    with pytest.raises(MassDeleteRefused, match="would delete 2 of the 10 .*1 rejected rows have no readable id"
                       r".*nothing was deleted \(the file's rows were written: 0 upserted, 0 payloads updated, 8 "
                       "unchanged"):
        run(path, store, settings, embedder, sync=True)
    assert store.count("items") == 10
    report = run(path, store, settings, embedder, sync=True, allow_mass_delete=True)
    assert (report.deleted, report.rejected, report.rejected_without_id) == (2, 1, 1)


def test_a_rebuild_from_an_empty_file_keeps_the_catalog(tmp_path, store, settings, embedder, demo_movies):
    run(write_csv(tmp_path / "m.csv", demo_movies[:10]), store, settings, embedder)
    empty = tmp_path / "empty.csv"
    empty.write_text("movieId,title,year,genres,tags\n")
    with pytest.raises(MassDeleteRefused, match="--rebuild would drop 10 of the 10 items .*still points at 'items-g1'"):
        run(empty, store, settings, embedder, rebuild=True)
    assert store.resolve("items") == "items-g1" and store.count("items") == 10
    # refused before it wrote a row: no empty, unlisted generation is left behind (the file's rows all rejected too)
    empty.write_text("movieId,title,year,genres,tags\n,no id,,,\n77,,,,\n")
    with pytest.raises(MassDeleteRefused, match="--rebuild would drop 10 of the 10"):
        run(empty, store, settings, embedder, rebuild=True)
    with pytest.raises(CollectionNotFound):
        store.metadata("items-g2")
    assert not (settings.data_dir / "shards" / "items-g2").exists()


def test_a_rebuild_after_a_refused_one_holds_exactly_its_own_file(tmp_path, store, settings, embedder, demo_movies):
    run(write_csv(tmp_path / "m.csv", demo_movies[:10]), store, settings, embedder)
    ghost = write_csv(tmp_path / "ghost.csv", [{**demo_movies[20], "movieId": 99999, "title": "Ghost item"}])
    with pytest.raises(MassDeleteRefused):
        run(ghost, store, settings, embedder, rebuild=True)  # leaves its half-built generation behind
    assert store.count("items-g2") == 1 and store.resolve("items") == "items-g1"
    report = run(tmp_path / "m.csv", store, settings, embedder, rebuild=True)  # resumes that generation
    assert store.resolve("items") == "items-g2" and report.upserted == 10
    assert sorted(item_ids(store), key=int) == sorted((str(m["movieId"]) for m in demo_movies[:10]), key=int)


def test_catalog_jobs_refuse_the_users_collection_and_any_other_non_items_collection(tmp_path, store, settings,
                                                                                     embedder, demo_movies):
    from ragrec import Event, Recommender

    path = write_csv(tmp_path / "m.csv", demo_movies[:5])
    run(path, store, settings, embedder)
    rec = Recommender(settings, store=store, embedder=embedder)
    rec.record_feedback([Event(user_id="u1", item_id="1", type="like")])
    for name in ("users", store.resolve("users")):
        with pytest.raises(IngestError, match="is the users collection .* not an items collection"):
            run(path, store, settings, embedder, collection=name)
        with pytest.raises(IngestError, match="users collection"):
            run(path, store, settings, embedder, collection=name, rebuild=True)
        with pytest.raises(IngestError, match="users collection .*users forget"):
            delete_items(["u1"], collection=name, settings=settings, store=store)
    store.create_collection("notes", {"content": embedder.dim})  # made by something else than ingest
    with pytest.raises(IngestError, match="'notes' is not an items collection"):
        run(path, store, settings, embedder, collection="notes")
    with pytest.raises(IngestError, match="'notes' is not an items collection"):
        delete_items(["1"], collection="notes", settings=settings, store=store)
    assert rec.user("u1").profile.n_events == 1  # the users are untouched and readable
    assert rec.recommend(RecommendRequest(user_id="u1", k=2)).items
    rec.close()


def test_long_payload_strings_are_capped_and_counted(tmp_path, store, settings, embedder):
    path = tmp_path / "long.csv"
    path.write_text("movieId,title,plot\n1,Toy Story,short plot\n2,Heat," + "long plot " * 1_000_000 + "\n",
                    encoding="utf-8")
    options = IngestOptions(id_field="movieId", text_fields=["title", "plot"], payload_fields=[FieldSpec(name="plot")])
    report = ingest(path, options, settings=settings.model_copy(update={"max_payload_chars": 500}), store=store,
                    embedder=embedder)
    assert (report.upserted, report.payload_truncated, report.truncated) == (2, 1, 1)
    [heat] = store.retrieve("items", [point_id("2")])
    assert len(heat.payload["plot"]) == 500 and len(heat.payload["text"]) == settings.max_text_chars


@pytest.mark.parametrize("fmt", [None, "csv"])
def test_a_folder_is_not_a_catalog(tmp_path, store, settings, embedder, fmt):
    (tmp_path / "catalog").mkdir()
    with pytest.raises(IngestFileError, match="is a folder, not a file"):
        ingest(tmp_path / "catalog", IngestOptions(text_fields=["title"], format=fmt), settings=settings, store=store,
               embedder=embedder)


def test_a_rejects_path_that_is_a_folder_fails_before_anything_is_written(tmp_path, store, settings, embedder,
                                                                          demo_movies):
    from ragrec.io import RejectsPathError

    path = write_csv(tmp_path / "m.csv", demo_movies[:3])
    with pytest.raises(RejectsPathError, match="is a folder"):
        run(path, store, settings, embedder, rejects=tmp_path)
    with pytest.raises(RejectsPathError, match="not a writable folder"):
        run(path, store, settings, embedder, rejects=path / "rejects.jsonl")  # under a file
    assert store.resolve("items") is None


def test_the_rejects_file_holds_this_runs_rejects_only(tmp_path, store, settings, embedder, demo_movies):
    """A clean run left the previous run's rejects file behind: stale errors beside a catalog that has none."""
    from ragrec.ingestion import Shard

    path = write_csv(tmp_path / "m.csv", demo_movies[:4])
    fixed = path.read_text()
    path.write_text(fixed + ",No id,2000,Drama,\n")
    report = run(path, store, settings, embedder)
    shards = [run(path, store, settings, embedder, shard=Shard(index=i, count=2)) for i in (0, 1)]
    assert report.rejected == 1 and report.rejects_file.exists() and shards[0].rejects_file.exists()
    path.write_text(fixed)
    assert run(path, store, settings, embedder).rejects_file is None and not report.rejects_file.exists()
    assert shards[0].rejects_file.exists()  # each shard's file is its own run's
    assert run(path, store, settings, embedder, shard=Shard(index=0, count=2)).rejects_file is None
    assert not shards[0].rejects_file.exists()
    path.write_text(fixed + "1,Dup,2000,Drama,\n")  # a run with rejects again: this run's only
    assert [r["line"] for r in rejects_of(run(path, store, settings, embedder))] == [6]


def test_default_rejects_files_of_one_stem_do_not_collide(tmp_path, store, settings, embedder):
    csv_path, jsonl_path = tmp_path / "basic.csv", tmp_path / "basic.jsonl"
    csv_path.write_text("id,title\n,no id\n1,a\n")
    jsonl_path.write_text('{"id": "2", "title": "b"}\n{"title": "no id"}\n')
    options = IngestOptions(text_fields=["title"])
    first = ingest(csv_path, options, settings=settings, store=store, embedder=embedder)
    second = ingest(jsonl_path, options, settings=settings, store=store, embedder=embedder)
    assert first.rejects_file == settings.data_dir / "rejects" / "basic.csv.rejects.jsonl"
    assert second.rejects_file == settings.data_dir / "rejects" / "basic.jsonl.rejects.jsonl"
    assert [r["line"] for r in rejects_of(first)] == [2] and [r["line"] for r in rejects_of(second)] == [2]


def test_a_line_of_spaces_in_a_csv_is_skipped_like_a_blank_one(tmp_path, store, settings, embedder, demo_movies):
    path = write_csv(tmp_path / "m.csv", demo_movies[:3])
    run(path, store, settings, embedder)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], "   ", " \t ", *lines[2:3]]) + "\n")  # the third item is gone
    report = run(path, store, settings, embedder, sync=True, allow_mass_delete=False)
    assert (report.rejected, report.rejected_without_id, report.deleted) == (0, 0, 1)


def test_batch_sizes_are_bounded():
    with pytest.raises(ValueError, match="batch_size"):
        IngestOptions(text_fields=["title"], batch_size=10**29)
    with pytest.raises(ValueError, match="ingest_batch_size"):
        Settings(ingest_batch_size=10**29)


@given(st.integers(0, 60), st.integers(1, 20), st.none() | st.integers(1, 30))
def test_batches_keep_every_item_in_order_and_the_first_may_be_smaller(n, size, first):
    batches = list(batched(range(n), size, first=first))
    assert [i for b in batches for i in b] == list(range(n))
    assert all(len(b) == size for b in batches[1:-1])
    if batches:
        assert len(batches[0]) == min(n, first or size, size)


def test_progress_shows_after_a_small_first_batch(tmp_path, store, settings, embedder, demo_movies):
    calls = []
    ingest(write_csv(tmp_path / "m.csv", demo_movies[:FIRST_BATCH_ROWS + 10]),
           IngestOptions(**MOVIE_FIELDS, batch_size=2048), settings=settings, store=store, embedder=embedder,
           on_progress=lambda done, total: calls.append(done))
    assert calls == [0, FIRST_BATCH_ROWS, FIRST_BATCH_ROWS + 10]  # 0: past its checks, the job has started


def test_the_popularity_index_exists_from_the_first_ingest(tmp_path, store, settings, embedder, demo_movies):
    run(write_csv(tmp_path / "m.csv", demo_movies[:5]), store, settings, embedder)
    assert store.payload_indexes("items")["popularity"] == "integer"


def test_the_public_api_imports_each_name_on_first_use():
    import subprocess
    import sys

    # a fresh interpreter: the config and the generation stage load neither the ingestion nor the event log's
    # SQLAlchemy; `from ragrec import *` then gives every public name
    code = ("import sys, ragrec.config, ragrec.generation; "
            "assert not {'ragrec.ingestion', 'sqlalchemy'} & set(sys.modules), sorted(sys.modules); "
            "ns = {}; exec('from ragrec import *', ns); print(sorted(ns.keys() - {'__builtins__'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import ragrec

    assert out.stdout.strip() == str(sorted(ragrec.__all__))


def test_nested_and_binary_values_are_embedded_as_their_words():
    """Not as Python's repr: a Parquet binary column is decoded, a nested object is JSON."""
    from ragrec.ingestion.rows import RowRules, to_doc

    rules = RowRules(id_field="id", text_fields=["title", "blob", "tags"], payload_fields=[FieldSpec(name="tags",
                                                                                                   type="list")])
    doc = to_doc(1, {"id": "n1", "title": {"nested": {"deep": [1, None]}}, "blob": b"caf\xc3\xa9",
                     "tags": ["a", {"b": 1}]}, rules)
    assert doc.text == 'title: {"nested": {"deep": [1, null]}}\nblob: café\ntags: a, {"b": 1}'
