"""Every bad input and broken environment ends in one line naming the cause and a non-zero exit, never a Python
traceback, and loses nothing: the `ragrec` command run as a user runs it (a real subprocess, real files, real
Qdrant Edge). Exit codes: 2 for bad input or a bad invocation, 1 for a failure of the environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from test_cli import ragrec
from test_ingestion import write_csv

from ragrec.config import Settings
from ragrec.events.log import EventLog, events_url
from ragrec.ingestion import IngestOptions, ingest
from ragrec.ingestion.rows import FieldSpec
from ragrec.store.edge import EdgeStore

MOVIES = 30


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, embedder, demo_movies):
    """A data dir with 30 demo movies; tests that change it take a copy."""
    folder = tmp_path_factory.mktemp("cli-errors")
    path = write_csv(folder / "m.csv", demo_movies[:MOVIES])
    options = IngestOptions(id_field="movieId", text_fields=["title", "genres"],
                            payload_fields=[FieldSpec.parse(f) for f in ("title", "year:int", "genres:list")])
    ingest(path, options, settings=Settings(data_dir=folder / "data"), embedder=embedder)
    return folder / "data"


@pytest.fixture
def data(catalog, tmp_path):
    shutil.copytree(catalog, tmp_path / "data")
    return tmp_path / "data"


def assert_clean_error(out, code: int, *fragments: str) -> None:
    """Exit `code`, one `error:` line naming the cause (a malformed option's too), no traceback."""
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr
    [line] = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    for fragment in fragments:
        assert fragment in line, (fragment, line)


def counts(data):
    store = EdgeStore(data)
    try:
        items = store.count("items")
    finally:
        store.close()
    with EventLog(events_url(Settings(data_dir=data))) as log:
        return items, log.count()


# --- the table: tracebacks that became messages -----------------------------------------------------------

BROKEN_ENVIRONMENTS = [
    ({"RAGREC_EVENTS_URL": "garbage"}, ["recommend", "--user", "1"], "cannot read the event log URL 'garbage'"),
    ({"RAGREC_EVENTS_URL": "mysql://u@localhost/db"}, ["recommend", "--user", "1"], "unsupported event log database"),
    ({"RAGREC_EVENTS_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"}, ["recommend", "--user", "1"],
     "cannot open the event log at postgresql"),
    ({"RAGREC_EVENTS_URL": " postgresql://postgres:S3cret@127.0.0.1:1/db"}, ["events", "count"],
     "cannot read the event log URL ' postgresql://postgres:***@127.0.0.1:1/db'"),
    ({"RAGREC_EVENTS_URL": "postgresql://postgres@127.0.0.1:5x432/db"}, ["events", "count"],
     "its port is not a number (RAGREC_EVENTS_URL)"),
    ({"RAGREC_EVENTS_URL": "postgresql+psycopg2://postgres@127.0.0.1:1/db"}, ["events", "count"],
     "unsupported driver 'psycopg2'"),  # was "internal error: ModuleNotFoundError"
    ({"RAGREC_EVENTS_URL": "postgresql://postgres@127.0.0.1:1/"}, ["events", "count"], "names no database"),
    ({"RAGREC_QDRANT_URL": "http://127.0.0.1:9", "RAGREC_QDRANT_RETRIES": "0"}, ["users", "show", "u"],
     "Qdrant server unreachable"),
    ({"RAGREC_QDRANT_URL": "http://127.0.0.1:9", "RAGREC_QDRANT_RETRIES": "0"}, ["users", "forget", "u"],
     "Qdrant server unreachable"),
    ({"RAGREC_QDRANT_URL": "not a url"}, ["collections"], "cannot use the Qdrant URL 'not a url'"),
    ({"RAGREC_QDRANT_TIMEOUT": "soon"}, ["collections"], "RAGREC_QDRANT_TIMEOUT"),
]


@pytest.mark.parametrize("env, args, message", BROKEN_ENVIRONMENTS, ids=[" ".join(a) + " " + ",".join(e.values())
                                                                        for e, a, _ in BROKEN_ENVIRONMENTS])
def test_a_broken_environment_is_one_line_and_exit_1(data, env, args, message):
    code = 2 if "RAGREC_QDRANT_TIMEOUT" in env else 1  # a setting that cannot be read is bad input
    out = ragrec(*args, data_dir=data, env_extra=env)
    assert_clean_error(out, code, message)
    assert "S3cret" not in out.stderr + out.stdout
    assert counts(data) == (MOVIES, 0)


@pytest.mark.parametrize("env, message", [
    ({"RAGREC_HNSW_EF": "-1"}, "RAGREC_HNSW_EF"),  # these three were an internal error, a division by zero, a hang
    ({"RAGREC_RATING_SCALE": "0"}, "RAGREC_RATING_SCALE"),
    ({"RAGREC_EDGE_SEARCH_THREADS": "100000"}, "RAGREC_EDGE_SEARCH_THREADS"),
    ({"RAGREC_QUANTIZATION_OVERSAMPLING": "nan"}, "RAGREC_QUANTIZATION_OVERSAMPLING"),
    ({"RAGREC_LLM_BASE_URL": "ftp://127.0.0.1/v1"}, "RAGREC_LLM_BASE_URL): 'ftp://127.0.0.1/v1' is not an http"),
    ({"RAGREC_LIST_SEPARATOR": ""}, "RAGREC_LIST_SEPARATOR): String should have at least 1 character"),
    ({"RAGREC_ITEMS_COLLECTION": "../esc"}, "RAGREC_ITEMS_COLLECTION): '../esc' is not a collection name"),
    ({"RAGREC_USERS_COLLECTION": ""}, "RAGREC_USERS_COLLECTION): '' is not a collection name"),
    ({"RAGREC_RATING_MIN": "5", "RAGREC_RATING_MAX": "1"},
     "invalid settings: rating_min (RAGREC_RATING_MIN, 5) must be below rating_max (RAGREC_RATING_MAX, 1)"),
])
def test_a_setting_out_of_its_range_is_one_line_and_exit_2(data, env, message):
    assert_clean_error(ragrec("recommend", "--user", "1", data_dir=data, env_extra=env), 2, message)


@pytest.mark.parametrize("keys, message", [
    ('{"secret-key-123": "root"}', "key 1's role is 'root': a role is 'client' or 'admin'"),
    ('{"ok-key": "client", "secret-key-123": "owner"}', "key 2's role is 'owner'"),
    ('{"secret-key-123": "client",}', "RAGREC_API_KEYS): not valid JSON (Expecting property name"),
    ('{"": "admin"}', "key 1 is blank"), ('{" secret-key-123 ": "client"}', "spaces around it"),
])
def test_a_bad_api_key_setting_is_named_without_the_key(data, keys, message):
    result = ragrec("serve", data_dir=data, env_extra={"RAGREC_API_KEYS": keys})
    assert_clean_error(result, 2, message)
    assert "secret-key-123" not in result.stderr.lower() + result.stdout.lower()


def test_a_data_dir_that_is_a_file_or_blank_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    assert_clean_error(ragrec("collections", data_dir=tmp_path / "a-file"), 2, "a-file is a file, not a folder")
    assert_clean_error(ragrec("collections", data_dir=" "), 2, "RAGREC_DATA_DIR", "is empty")


def test_an_empty_or_broken_data_dir_is_one_line(tmp_path, catalog):
    (tmp_path / "empty").mkdir()
    assert_clean_error(ragrec("users", "show", "u", data_dir=tmp_path / "empty"), 1, "no 'items' collection yet")
    for args in (["similar", "--query", "x"], ["recommend", "--query", "x"]):  # said before loading any model
        assert_clean_error(ragrec(*args, data_dir=tmp_path / "empty"), 1, "no 'items' collection yet")
    for args in (["collections"], ["users", "show", "u"], ["recommend", "--query", "x"], ["delete", "--ids", "1"],
                 ["describe-catalog", "--llm", "none", "--from-file", str(tmp_path)]):  # a mistyped --data-dir
        assert_clean_error(ragrec(*args, data_dir=tmp_path / "typo"), 1, f"no data dir at {tmp_path / 'typo'}")
    assert not (tmp_path / "typo").exists()  # and it is not made
    broken = tmp_path / "broken"
    shutil.copytree(catalog, broken)
    (broken / "collections.json").write_text((broken / "collections.json").read_text()[:60])  # truncated
    for args in (["collections"], ["recommend", "--user", "1"]):
        assert_clean_error(ragrec(*args, data_dir=broken), 1, "collections.json is unreadable")


def test_bad_files_and_options_are_one_line(tmp_path, data):
    (tmp_path / "somedir").mkdir()
    events = tmp_path / "ev.csv"
    events.write_text("user_id,item_id,type,timestamp\nu1,1,like,1700000000\nu1,nope,like,1700000000\n")
    ok = write_csv(tmp_path / "ok.csv", [])
    utf16 = tmp_path / "ids16.txt"
    utf16.write_text("1\n2\n", encoding="utf-16")
    cases = [
        (["events", "load", str(events), "--rejects", str(tmp_path / "somedir")], 2, "is a folder"),
        (["events", "load", str(events), "--no-timestamp", "--timestamp-field", "when"], 2,
         "--no-timestamp says the file has no time column"),
        (["ingest", str(tmp_path / "somedir"), "--text-fields", "title"], 1, "somedir: is a folder, not a file"),
        (["ingest", str(tmp_path / "somedir"), "--text-fields", "title", "--format", "csv"], 1, "is a folder"),
        (["ingest", str(ok), "--text-fields", "title", "--batch-size", "1" + "0" * 29], 2, "--batch-size"),
        (["ingest", str(ok), "--id-field", "movieId", "--text-fields", "title", "--list-separator", ""], 2,
         "--list-separator is empty"),
        (["ingest", str(ok), "--id-field", "", "--text-fields", "title"], 2, "--id-field is empty"),
        (["ingest", str(ok), "--id-field", "movieId", "--text-fields", "title", "--payload-fields", "title,:int"], 2,
         "--payload-fields: ':int' names no field"),
        (["ingest", str(ok), "--id-field", "movieId", "--text-fields", "title", "--collection", "users"], 2,
         "'users' is the users collection"),
        (["feedback", "--user", "w", "--item", "1", "--type", "rating", "--value", "nan"], 2, "not a finite number"),
        (["feedback", "--user", "w", "--item", "1", "--type", "rating", "--value", "1e308"], 2,
         "outside the rating range"),
        (["feedback", "--user", "w", "--item", "1", "--type", "rating", "--value", "99"], 2, "outside the rating range"),
        (["feedback", "--user", "w", "--item", "1", "--type", "like", "--value", "5"], 2, "a like event has no value"),
        (["feedback", "--user", "w", "--item", "1", "--type", "rating"], 2, "error: a rating event needs a value"),
        (["feedback", "--user", "   ", "--item", "1", "--type", "like"], 2, "--user: is blank"),
        (["delete", "--ids", "u1", "--collection", "users"], 2, "'users' is the users collection"),
        (["delete", "--ids-file", str(tmp_path / "somedir")], 1, "somedir: is a folder, not a file"),
        (["delete", "--ids-file", str(utf16)], 1, "ids16.txt: not UTF-8 text"),
        (["recommend", "--filter", "year>=nan"], 2, "is not a finite number"),
        (["recommend", "--user", "1", "--diversity", "nan"], 2, "--diversity must be a number from 0 to 1, not nan"),
        (["recommend", "--user", "1", "--long-term-share", "inf"], 2, "--long-term-share must be a number from 0 to"),
        (["recommend", "--positive", ",,"], 2, "--positive names no item"),
        (["feedback", "--user", "w", "--item", "1", "--type", "like", "--event-id", " "], 2, "--event-id: is blank"),
        (["recommend", "--filter", "genres=="], 2, "one operator"),
        (["recommend", "--positive", "1", "--negative", "1"], 2, "'1' is both positive and negative"),
        (["collections", "--data-dir", str(data)], 2, "(a global option, before the command: ragrec --data-dir ..."),
        (["users", "forget", "nosuchuser"], 2, "no user 'nosuchuser'"),
        # a value a model refuses is named by its option, not the model's field
        (["recommend", "--user", "1", "--strategy", "best"], 2, "--strategy: Input should be 'average_vector'"),
        (["ingest", str(ok), "--text-fields", "title", "--long-text", "drop"], 2, "--long-text: Input should be"),
        (["ingest", str(ok), "--text-fields", "title", "--format", "xml"], 2, "--format: Input should be 'csv'"),
        (["events", "load", str(events), "--format", "xml"], 2, "--format: Input should be 'csv'"),
        (["feedback", "--user", "w", "--item", "1", "--type", "love"], 2, "--type: Input should be 'view'"),
    ]
    for args, code, message in cases:
        assert_clean_error(ragrec(*args, data_dir=data), code, message)
    assert counts(data) == (MOVIES, 0)  # nothing was stored, nothing lost


def test_a_usage_error_is_one_line_with_clicks_suggestion(data):
    """An unknown option or command, or a value out of an option's range, was click's five-line boxed block."""
    for args, message in [(["recommend", "--usr", "1"], "No such option: --usr (Possible options: --query, --user)"),
                          (["recomend"], "No such command 'recomend'. Did you mean 'recommend'?"),
                          (["recommend", "-k", "0"], "Invalid value for '-k'"),
                          (["--bogus", "collections"], "No such option: --bogus")]:
        out = ragrec(*args, data_dir=data)
        assert_clean_error(out, 2, message, "--help')")
        assert len(out.stderr.splitlines()) == 1, out.stderr


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(data):
    """`ragrec similar --json | head -1` printed "error: Broken pipe": the reader has what it wants, so no message,
    and the exit status of a tool that SIGPIPE ends (141), as `set -o pipefail` scripts expect of one."""
    env = {**os.environ, "RAGREC_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ragrec.cli", "similar", "--ids", "1", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the command writes anything: its first write finds the pipe closed
    stderr = proc.stderr.read()
    assert proc.wait(timeout=600) == 141, stderr
    assert "error" not in stderr.lower() and "Exception ignored" not in stderr, stderr


def test_arguments_that_are_not_utf8_are_named_and_file_names_need_not_be(tmp_path, data):
    """Bytes that are not UTF-8 on a command line (Python keeps them as lone surrogates) ended in "error: utf-8",
    or "'utf-8' codec can't encode character", naming no argument; a file name with them is still a file name."""
    for args, message in [
        (["feedback", "--user", "ab\udcff", "--item", "1", "--type", "like"], "--user 'ab\\xff' is not UTF-8 text"),
        (["recommend", "--user", "ab\udcff"], "--user 'ab\\xff' is not UTF-8 text"),
        (["recommend", "--filter", "genres=\udcff"], "--filter 'genres=\\xff' is not UTF-8 text"),
        (["users", "show", "ab\udcff"], "the argument USER 'ab\\xff' is not UTF-8 text"),
    ]:
        assert_clean_error(ragrec(*args, data_dir=data), 2, message)
    assert counts(data) == (MOVIES, 0)
    events = tmp_path / "ev\udcff.csv"
    events.write_text("user_id,item_id,type,timestamp\nu1,1,like,1700000000\n")
    out = ragrec("events", "load", str(events), "--rejects", str(tmp_path / "r\udcff.jsonl"), data_dir=data)
    assert out.returncode == 0, out.stderr
    assert counts(data) == (MOVIES, 1)


def test_a_binary_file_is_named_with_its_bytes_escaped(tmp_path, data):
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x7fELF\x02\x01\x1b[2J\x00\x00\x9b\xff,\x07\n" * 50)
    out = ragrec("ingest", str(binary), "--text-fields", "title", data_dir=data)
    assert_clean_error(out, 1, "bin.csv: not CSV text: its first line holds control characters", "\\x1b[2J",
                       "\\x7fELF")
    assert not any(ch in out.stderr for ch in "\x1b\x07\x00\x7f\x9b")


def test_a_sync_from_an_empty_or_binary_file_deletes_nothing(tmp_path, data):
    empty, binary = tmp_path / "empty.jsonl", tmp_path / "bin.jsonl"
    empty.write_bytes(b"")
    binary.write_bytes(bytes(range(256)) * 40)
    for path in (empty, binary):
        out = ragrec("ingest", str(path), "--id-field", "movieId", "--text-fields", "title", "--sync", data_dir=data)
        assert_clean_error(out, 2, f"--sync would delete {MOVIES} of the {MOVIES} items", "--allow-mass-delete")
    assert counts(data) == (MOVIES, 0)
    out = ragrec("ingest", str(empty), "--id-field", "movieId", "--text-fields", "title", "--sync",
                 "--allow-mass-delete", "--json", data_dir=data)
    assert out.returncode == 0 and json.loads(out.stdout)["deleted"] == MOVIES  # when it is really meant


def test_a_typo_in_the_events_url_records_nothing_anywhere(tmp_path, data):
    typo = {"RAGREC_EVENTS_URL": f"sqlite:///{tmp_path / 'tpyo' / 'events.db'}"}
    out = ragrec("feedback", "--user", "w", "--item", "1", "--type", "like", data_dir=data, env_extra=typo)
    assert_clean_error(out, 1, "no folder", "tpyo")
    assert not (tmp_path / "tpyo").exists()
    assert ragrec("users", "show", "w", data_dir=data).returncode == 2  # and the vector did not move either


def test_a_filter_on_a_field_no_item_has_warns(data):
    out = ragrec("recommend", "--filter", "nosuchfield=1", data_dir=data)
    assert out.returncode == 0 and "warning: no item has a field 'nosuchfield'" in out.stdout
    out = ragrec("recommend", "--filter", "nosuchfield=1", "--json", data_dir=data)
    assert json.loads(out.stdout)["warnings"] and json.loads(out.stdout)["items"] == []


def test_the_terminal_chat_refines_and_says_what_is_wrong_in_one_line(data):
    """`ragrec chat`: the API's multi-turn flow in a terminal; a message of control characters is one error line
    and the chat goes on; a blank --user is refused."""
    turns = "something like Toy Story\n\x01\x02\nbut not animated\n" + "westerns " * 500 + "\n\n"
    out = ragrec("chat", "--llm", "none", "-k", "3", data_dir=data, input=turns)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr and "pydantic" not in out.stdout
    assert "like: Toy Story (1995)" in out.stdout and "Here are 3 picks like Toy Story" in out.stdout
    assert "error: message: is blank" in out.stdout  # and the next message is still answered:
    assert "not: Animation" in out.stdout and "not Animation" in out.stdout
    assert "only the first 2,000 of 4,499 characters are read" in out.stdout  # a pasted page: said, not silent
    assert_clean_error(ragrec("chat", "--user", "  ", data_dir=data), 2, "--user is blank")


def test_a_rejects_file_that_is_the_input_file_is_refused_and_the_file_is_kept(tmp_path, data):
    """Opened for writing at the first reject, the rejects file cut the catalog short while it was read: a job
    that read 411 of 10,001 rows ended with exit 0 and a catalog of one line."""
    catalog = write_csv(tmp_path / "c.csv", [])
    catalog.write_text(catalog.read_text() + ",no id,,Drama,\n901,Extra,2001,Drama,\n")
    (tmp_path / "link.csv").symlink_to(catalog)
    events = tmp_path / "ev.csv"
    events.write_text("user_id,item_id,type,timestamp\nu1,nope,like,1700000000\nu1,1,like,1700000000\n")
    before = catalog.read_bytes(), events.read_bytes()
    for args in (["ingest", str(catalog), "--id-field", "movieId", "--text-fields", "title", "--rejects",
                  str(catalog)],
                 ["ingest", str(catalog), "--id-field", "movieId", "--text-fields", "title", "--rejects",
                  str(tmp_path / "link.csv")],
                 ["ingest", str(catalog), "--id-field", "movieId", "--text-fields", "title", "--rejects",
                  str(tmp_path / "x" / ".." / "c.csv")],
                 ["events", "load", str(events), "--rejects", str(events)]):
        assert_clean_error(ragrec(*args, data_dir=data), 2, "--rejects", "is the input file")
    assert (catalog.read_bytes(), events.read_bytes()) == before
    assert counts(data) == (MOVIES, 0)


def test_a_collection_name_is_never_a_path(tmp_path, data):
    """--collection was a folder name in the embedded store: '/tmp/x' removed an existing /tmp/x-g1, '../../esc'
    wrote outside the data dir, 'a/b' broke the data dir for every later command, '' fell back to 'items'."""
    ok = write_csv(tmp_path / "ok.csv", [{"movieId": "901", "title": "New", "year": 2001, "genres": [], "tags": []}])
    (tmp_path / "victim-g1").mkdir()
    ingest_ok = ["ingest", str(ok), "--id-field", "movieId", "--text-fields", "title"]
    for args in [[*ingest_ok, "--collection", name] for name in (str(tmp_path / "victim"), "../../esc", "a/b", "",
                                                                 ".hidden", "x" * 65)] + [
            ["delete", "--ids", "1", "--collection", ""],
            ["describe-catalog", "--from-file", str(ok), "--collection", "a/b"]]:
        assert_clean_error(ragrec(*args, data_dir=data), 2, "--collection", "is not a collection name")
    assert (tmp_path / "victim-g1").is_dir() and sorted(p.name for p in tmp_path.iterdir()) == \
        ["data", "ok.csv", "victim-g1"]
    assert counts(data) == (MOVIES, 0)
    assert ragrec("collections", data_dir=data).returncode == 0


def test_similar_searches_the_collection_it_is_named_and_refuses_others(tmp_path, data, embedder, demo_movies):
    """`similar` takes --collection, as ingest, delete and describe-catalog do."""
    other = write_csv(tmp_path / "other.csv", demo_movies[MOVIES:MOVIES + 10])
    ingest(other, IngestOptions(id_field="movieId", text_fields=["title", "genres"], collection="other"),
           settings=Settings(data_dir=data), embedder=embedder)
    seed = str(demo_movies[MOVIES]["movieId"])
    out = ragrec("similar", "--ids", seed, "-k", "5", "--collection", "other", "--json", data_dir=data)
    assert out.returncode == 0, out.stderr
    found = {i["item_id"] for i in json.loads(out.stdout)["items"]}
    assert len(found) == 5 and found <= {str(m["movieId"]) for m in demo_movies[MOVIES + 1:MOVIES + 10]}
    assert_clean_error(ragrec("similar", "--ids", seed, data_dir=data), 2, f"unknown item ids: {seed}")  # not in items
    for name, code, message in [("users", 2, "'users' is the users collection"),
                                ("a/b", 2, "--collection: 'a/b' is not a collection name"),
                                ("nope", 1, "no 'nope' collection")]:
        assert_clean_error(ragrec("similar", "--ids", seed, "--collection", name, data_dir=data), code, message)


def test_a_job_refused_before_it_starts_prints_its_error_alone(tmp_path, data, demo_movies):
    """The error of a refused `ingest` or `events load` came after an empty progress bar; the bar shows once the
    job is past its checks."""
    catalog = write_csv(tmp_path / "c.csv", demo_movies[:MOVIES])
    events = tmp_path / "ev.csv"
    events.write_text("user_id,item_id,type,timestamp\nu1,1,like,1700000000\n")
    movies = ["--id-field", "movieId", "--text-fields", "title,genres",
              "--payload-fields", "title,year:int,genres:list"]
    for args, code in [
        (["ingest", str(catalog), *movies, "--rejects", str(catalog)], 2),
        (["ingest", str(catalog), *movies, "--rejects", str(tmp_path)], 2),
        (["ingest", str(catalog), *movies, "--collection", "users"], 2),
        (["ingest", str(catalog), "--text-fields", "title", "--payload-fields", "item_id"], 2),
        (["ingest", str(tmp_path / "nope.csv"), *movies], 1),
        (["ingest", str(catalog), "--text-fields", "title"], 1),  # no id column
        (["events", "load", str(events), "--rejects", str(events)], 2),
        (["events", "load", str(tmp_path / "nope.csv")], 1),
    ]:
        out = ragrec(*args, data_dir=data)
        assert_clean_error(out, code)
        assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
    out = ragrec("ingest", str(catalog), *movies, "--json", data_dir=data)  # unchanged: nothing to embed
    assert out.returncode == 0 and json.loads(out.stdout)["unchanged"] == MOVIES
    assert "ingest" in out.stderr and f"{MOVIES}/{MOVIES}" in out.stderr  # the bar, once the job ran
    assert counts(data) == (MOVIES, 0)


def test_a_dry_run_shows_what_a_sync_would_do_and_changes_nothing(tmp_path, data, demo_movies):
    movies = ["--id-field", "movieId", "--text-fields", "title,genres",
              "--payload-fields", "title,year:int,genres:list"]
    path = write_csv(tmp_path / "c.csv", demo_movies[:MOVIES - 5] + demo_movies[MOVIES:MOVIES + 1])
    gone = [str(m["movieId"]) for m in demo_movies[MOVIES - 5:MOVIES]]
    table = ragrec("ingest", str(path), *movies, "--sync", "--dry-run", data_dir=data)
    assert table.returncode == 0, table.stderr
    assert "dry run on 'items'" in table.stdout and "dry run: nothing was embedded or written" in table.stdout
    [line] = [line for line in table.stdout.splitlines() if line.startswith("would delete: ")]
    assert "would add" in table.stdout and sorted(line.removeprefix("would delete: ").split(", ")) == sorted(gone)
    out = ragrec("ingest", str(path), *movies, "--sync", "--dry-run", "--json", data_dir=data)
    report = json.loads(out.stdout)
    assert (report["dry_run"], report["added"], report["upserted"], report["unchanged"], report["deleted"]) == \
        (True, 1, 1, MOVIES - 5, 5)
    assert sorted(report["deleted_ids"]) == sorted(gone) and report["refused"] is None
    few = write_csv(tmp_path / "few.csv", demo_movies[:10])  # 20 of 30 to delete: a real run is refused
    out = ragrec("ingest", str(few), *movies, "--sync", "--dry-run", data_dir=data)
    assert out.returncode == 0 and "the job would be refused: --sync would delete 20 of the 30 items" in out.stdout
    assert counts(data) == (MOVIES, 0) and not (data / "rejects").exists()
    assert [c["target"] for c in json.loads(ragrec("collections", "--json", data_dir=data).stdout)["collections"]] \
        == ["items-g1"]
    fresh = tmp_path / "fresh"  # no catalog yet: every row would be added, and no data dir is made
    out = ragrec("ingest", str(path), *movies, "--sync", "--dry-run", "--json", data_dir=fresh)
    assert out.returncode == 0 and json.loads(out.stdout)["added"] == MOVIES - 4 and not fresh.exists()
