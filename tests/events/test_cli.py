"""`ragrec events load|count`, mounted the way ragrec/cli/__init__.py mounts it, against a real Qdrant Edge catalog."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Optional

import pytest
import typer
from typer.testing import CliRunner

from ragrec.config import Settings
from ragrec.events.load import catalog_items
from ragrec.events.log import EventLog, events_url
from ragrec.cli.events import events_app
from ragrec.store import PointIn, point_id
from ragrec.store.edge import EdgeStore

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context, data_dir: Optional[Path] = typer.Option(None, "--data-dir")) -> None:
        ctx.obj = Settings(data_dir=data_dir) if data_dir else Settings()

    app.add_typer(events_app, name="events")
    return app


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A data dir whose items collection holds movies 1, 2 and 3 (vectors are irrelevant here)."""
    data = tmp_path / "data"
    store = EdgeStore(data)
    try:
        store.create_collection("items-g1", {"content": 4})
        store.set_alias("items", "items-g1")
        store.upsert("items-g1", [PointIn(id=point_id(i), vectors={"content": [1.0, 0.0, 0.0, float(n)]},
                                          payload={"item_id": i}) for n, i in enumerate(["1", "2", "3"])])
        store.flush("items-g1")
    finally:
        store.close()
    return data


def invoke(*args: str):
    return runner.invoke(make_app(), [str(a) for a in args])


def test_load_with_the_movielens_preset_reports_and_is_idempotent(data_dir, tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,,964982704\n2,3,5.0,964982705\n"
                       "2,99,3.0,964982706\n", encoding="utf-8")
    result = invoke("--data-dir", data_dir, "events", "load", ratings, "--preset", "movielens")
    assert result.exit_code == 0, result.output
    assert "stored" in result.output and "rejected" in result.output
    rejects = data_dir / "rejects" / "ratings.csv.events.rejects.jsonl"
    assert [json.loads(line)["reason"] for line in open(rejects, encoding="utf-8")] == [
        "a rating needs a value (field 'rating' is empty)", "unknown item 99"]
    with EventLog(events_url(Settings(data_dir=data_dir))) as log:
        assert log.count() == 2 and [e.value for e in log.user_events("2")] == [5.0]

    again = invoke("--data-dir", data_dir, "events", "load", ratings, "--preset", "movielens")
    assert again.exit_code == 0, again.output
    counted = invoke("--data-dir", data_dir, "events", "count")
    assert counted.exit_code == 0 and "2 events from 2 users" in counted.output


def test_load_with_explicit_columns_overrides_a_preset(data_dir, tmp_path):
    views = tmp_path / "views.csv"
    views.write_text("who,what,when\nu1,1,2024-05-01T10:00:00Z\nu1,2,2024-05-01T11:00:00Z\n", encoding="utf-8")
    result = invoke("--data-dir", data_dir, "events", "load", views, "--user-field", "who", "--item-field", "what",
                    "--timestamp-field", "when", "--timestamp-format", "iso", "--type", "view",
                    "--rejects", tmp_path / "r.jsonl")
    assert result.exit_code == 0, result.output
    with EventLog(events_url(Settings(data_dir=data_dir))) as log:
        assert [(e.item_id, e.type.value) for e in log.user_events("u1")] == [("1", "view"), ("2", "view")]
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("args, code, message", [
    (["--preset", "netflix"], 2, "unknown preset"),
    (["--type", "frown"], 2, "unknown event type 'frown'"),
    (["--timestamp-format", "julian"], 2, "--timestamp-format: Input should be"),
    (["--preset", "movielens", "--user-field", "uid"], 1, "no column 'uid'"),
    # one type for every row and a type column (or a preset's ratings): which wins would be a guess
    (["--type", "like", "--type-field", "kind"], 2, "--type gives every row one type: it cannot go with --type-field"),
    (["--preset", "movielens", "--type", "like"], 2, "cannot go with --preset movielens"),
])
def test_bad_options_and_files_fail_clearly(data_dir, tmp_path, args, code, message):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n", encoding="utf-8")
    result = invoke("--data-dir", data_dir, "events", "load", ratings, *args)
    assert result.exit_code == code, result.output
    assert message in result.output


def test_load_without_a_catalog_says_to_ingest_first(tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n", encoding="utf-8")
    result = invoke("--data-dir", tmp_path / "empty", "events", "load", ratings, "--preset", "movielens")
    assert result.exit_code == 1 and "ragrec ingest" in result.output


def test_catalog_items_asks_qdrant_once_per_item(data_dir):
    store = EdgeStore(data_dir)
    calls = []
    retrieve = store.retrieve
    store.retrieve = lambda *a, **k: calls.append(a[1]) or retrieve(*a, **k)
    try:
        known = catalog_items(store, "items")
        assert known(["1", "9", "2", "1"]) == {"1", "2"}
        assert known(["2", "9", "3"]) == {"2", "3"}
        assert [len(ids) for ids in calls] == [3, 1]  # 9 is remembered as unknown, 2 as known
    finally:
        store.close()


def test_events_migrate_brings_a_log_to_head_and_check_says_whether_it_is(tmp_path):
    """The deploy step for RAGREC_EVENTS_MIGRATE=false: --check fails where there is no log (a log behind head:
    tests/events/test_migrations.py), migrate makes one at head in a data dir that exists; neither --check nor count
    creates a log."""
    from ragrec.events.migrate import head

    app, data = make_app(), tmp_path / "d"
    missing = runner.invoke(app, ["--data-dir", str(data), "events", "migrate", "--check"])
    assert missing.exit_code == 1 and "no event log at" in missing.output and "ragrec events migrate" in missing.output
    counted = runner.invoke(app, ["--data-dir", str(data), "events", "count"])
    assert counted.exit_code == 0 and "0 events: no event log at" in counted.output
    assert not (data / "events.db").exists()  # looking creates nothing
    typo = runner.invoke(app, ["--data-dir", str(data), "events", "migrate"])  # as every command that reads one
    assert typo.exit_code == 1 and f"no data dir at {data}" in typo.output and not data.exists()
    data.mkdir()
    done = runner.invoke(app, ["--data-dir", str(data), "events", "migrate"])
    assert done.exit_code == 0 and f"empty -> {head()}" in done.output
    again = runner.invoke(app, ["--data-dir", str(data), "events", "migrate"])
    assert again.exit_code == 0 and "already at head" in again.output
    ok = runner.invoke(app, ["--data-dir", str(data), "events", "migrate", "--check"])
    assert ok.exit_code == 0 and f"is at head ({head()})" in ok.output


def test_count_against_a_server_that_never_answers_fails_within_the_connect_timeout(tmp_path, monkeypatch):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("RAGREC_EVENTS_URL", f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/db")
        monkeypatch.setenv("RAGREC_EVENTS_CONNECT_TIMEOUT", "2")
        result = invoke("--data-dir", tmp_path, "events", "count")
    assert result.exit_code == 1 and "connection timeout expired (no answer within 2 s" in result.output


def test_ctrl_c_keeps_the_batches_stored_and_a_rerun_loads_the_rest(data_dir, tmp_path):
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{n // 3},{n % 3 + 1},4.0,{964982703 + n}\n" for n in range(60_000)), encoding="utf-8")
    command = [sys.executable, "-m", "ragrec.cli", "--data-dir", str(data_dir), "events", "load", str(ratings),
               "--preset", "movielens", "--batch-size", "1000"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    db, deadline = data_dir / "events.db", time.time() + 120

    def stored() -> int:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        except sqlite3.OperationalError:  # the log is being made
            return 0

    while not (db.exists() and stored() > 0) and time.time() < deadline:  # interrupt it once a batch is in
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    [message] = [line for line in rest.splitlines() if line.startswith("interrupted:")]
    said = int(message.split()[1].replace(",", ""))
    assert 0 < said == stored() < 60_000, message  # what it says is stored is what the log holds
    assert "run the same command again" in message and "Traceback" not in rest
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    counts = dict(re.findall(r"(stored|duplicates)\s*│\s*([\d,]+)", again.stdout))
    assert counts == {"stored": f"{60_000 - said:,}", "duplicates": f"{said:,}"} and stored() == 60_000
