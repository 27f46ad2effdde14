"""Sharded ingestion (`ragrec ingest --shard I/N`): N workers, each on its share of the rows by item id, fill one
collection exactly as one full run does; bad `--shard` values and whole-file options are clear exit-2 errors."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from qdrant_client import QdrantClient
from typer.testing import CliRunner

from test_ingestion import MOVIE_FIELDS

from ragrec.cli import app
from ragrec.config import Settings
from ragrec.ingestion import IngestOptions, Shard, ingest
from ragrec.store.base import _NAMESPACE
from ragrec.store.edge import EdgeStore
from ragrec.store.server import ServerStore

N = 3


def catalog(path, movies) -> str:
    """JSON Lines of the movies plus three bad rows: one without an id, a duplicate id, an unparsable year."""
    rows = [dict(m) for m in movies]
    rows.insert(5, {"title": "No id at all", "genres": ["Drama"], "tags": []})
    rows.insert(20, dict(rows[10], title="A second row for an id"))
    rows.append({"movieId": 999_999, "title": "Bad year", "year": "nineteen", "genres": ["Drama"], "tags": []})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def points(store) -> dict[str, tuple[dict, np.ndarray]]:
    return {r.id: (r.payload, r.vectors["content"]) for r in store.scroll("items", vectors=True)}


def open_engine(engine: str, tmp_path, name: str):
    return EdgeStore(tmp_path / name) if engine == "edge" else ServerStore(client=QdrantClient(":memory:"))


@pytest.mark.parametrize("engine", ["edge", "server"])
def test_three_shards_one_after_another_equal_one_full_run(engine, tmp_path, embedder, demo_movies):
    path = catalog(tmp_path / "m.jsonl", demo_movies[:60])
    settings = Settings(data_dir=tmp_path / "data")
    options = dict(**MOVIE_FIELDS, batch_size=16)

    full_store = open_engine(engine, tmp_path, "full")
    sharded_store = open_engine(engine, tmp_path, "sharded")
    try:
        full = ingest(path, IngestOptions(**options), settings=settings, store=full_store, embedder=embedder)
        # the workers share the data dir here: each writes its own rejects file
        reports = [ingest(path, IngestOptions(**options, shard=Shard(index=i, count=N)), settings=settings,
                          store=sharded_store, embedder=embedder) for i in range(N)]
        assert len({r.rejects_file for r in reports if r.rejects_file} | {full.rejects_file}) == \
            1 + sum(bool(r.rejects_file) for r in reports)

        want, got = points(full_store), points(sharded_store)
        assert len(want) == 60 and set(got) == set(want)
        for pid, (payload, vector) in want.items():
            assert got[pid][0] == payload, pid
            # the same text embedded in another batch (other padding) may differ in the last float bits only
            np.testing.assert_allclose(got[pid][1], vector, rtol=0, atol=1e-6)
        assert sharded_store.resolve("items") == full_store.resolve("items") == "items-g1"
        assert sharded_store.payload_indexes("items") == full_store.payload_indexes("items")

        # each worker read the whole file and took its share; every bad row is reported once, by its shard
        assert all(r.read == full.read == 63 for r in reports)
        assert sum(r.read - r.other_shards for r in reports) == full.read
        assert all(r.other_shards > 0 for r in reports), "60 ids split over 3 shards: none is empty"
        assert sum(r.upserted for r in reports) == full.upserted == 60
        assert sum(r.rejected for r in reports) == full.rejected == 3
        rejects = sorted(json.loads(line)["line"] for r in reports if r.rejects_file
                         for line in r.rejects_file.read_text().splitlines())
        assert rejects == sorted(json.loads(line)["line"] for line in full.rejects_file.read_text().splitlines())

        # resumable like any run: a worker started again finds its rows done
        again = ingest(path, IngestOptions(**options, shard=Shard(index=1, count=N)), settings=settings,
                       store=sharded_store, embedder=embedder)
        assert (again.upserted, again.unchanged) == (0, reports[1].upserted)
    finally:
        full_store.close()
        sharded_store.close()


@given(st.lists(st.text(min_size=1, max_size=20), max_size=50), st.integers(1, 8))
def test_every_item_belongs_to_exactly_one_shard(ids, count):
    for item in ids:
        owners = [i for i in range(count) if Shard(index=i, count=count).owns(item)]
        assert len(owners) == 1
    assert Shard(index=0, count=count).owns(None) and not any(Shard(index=i, count=count).owns(None)
                                                              for i in range(1, count))


@given(st.text(min_size=1, max_size=20), st.integers(1, 64))
def test_the_owner_is_the_point_id_mod_n(item, count):
    """Not Python's salted hash(): the owner follows from the item's UUIDv5 point id, the same in every process."""
    owner = uuid.uuid5(_NAMESPACE, item).int % count
    assert Shard(index=owner, count=count).owns(item)


@given(st.integers(0, 1000), st.integers(1, 1000))
def test_valid_specs_parse(i, n):
    if i < n:
        assert Shard.parse(f"{i}/{n}") == Shard(index=i, count=n) and str(Shard.parse(f" {i} / {n} ")) == f"{i}/{n}"
    else:
        with pytest.raises(ValueError, match="the index I must be"):
            Shard.parse(f"{i}/{n}")


runner = CliRunner()


def assert_exit_2(args: list[str], tmp_path, *fragments: str) -> None:
    result = runner.invoke(app, args, env={"RAGREC_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"})
    output = result.stderr if result.stderr_bytes is not None else result.output  # the error goes to stderr
    assert result.exit_code == 2, (args, result.exit_code, output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "data").exists(), "nothing was opened, nothing written"


@pytest.mark.parametrize("spec, message", [
    ("0/0", "the shard count N must be at least 1"),
    ("3/3", "the index I must be 0..2"),
    ("a/b", "give I/N"),
    ("-1/2", "the index I must be 0..1"),
    ("1/2/3", "give I/N"),
    ("", "give I/N"),
])
def test_a_bad_shard_is_one_line_and_exit_2(spec, message, tmp_path):
    catalog_file = tmp_path / "m.jsonl"
    catalog_file.write_text('{"movieId": 1, "title": "x"}\n')
    assert_exit_2(["ingest", str(catalog_file), "--text-fields", "title", f"--shard={spec}"], tmp_path, message)


@hsettings(max_examples=30, deadline=None)
@given(st.text(max_size=12))
def test_any_shard_text_is_parsed_or_refused_clearly(spec):
    try:
        shard = Shard.parse(spec)
    except ValueError as exc:
        assert "--shard" in str(exc) and "\n" not in str(exc)
    else:
        assert 0 <= shard.index < shard.count


@pytest.mark.parametrize("flag, why", [("--sync", "--sync deletes the items that are not in the file"),
                                       ("--rebuild", "--rebuild builds a new collection from the whole file")])
def test_sync_and_rebuild_are_refused_with_shard(flag, why, tmp_path):
    catalog_file = tmp_path / "m.jsonl"
    catalog_file.write_text('{"movieId": 1, "title": "x"}\n')
    assert_exit_2(["ingest", str(catalog_file), "--text-fields", "title", "--shard", "1/3", flag], tmp_path, why,
                  "one shard sees only its share of the file")


def test_the_cli_reports_the_other_shards_rows(tmp_path, demo_movies):
    catalog_file = catalog(tmp_path / "m.jsonl", demo_movies[:12])
    args = ["ingest", str(catalog_file), "--id-field", "movieId", "--text-fields", "title,genres", "--json"]
    env = {"RAGREC_DATA_DIR": str(tmp_path / "data")}
    reports = []
    for i in range(2):
        result = runner.invoke(app, [*args, "--shard", f"{i}/2"], env=env)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout))
    assert [r["read"] for r in reports] == [15, 15]
    assert sum(r["other_shards"] for r in reports) == 15 and sum(r["upserted"] for r in reports) == 13
    assert sum(r["rejected"] for r in reports) == 2  # no id, duplicate id (the year is not a payload field here)
    assert all("shard-" in r["rejects_file"] for r in reports if r["rejects_file"])
