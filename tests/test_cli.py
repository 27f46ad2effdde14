"""The `ragrec` command line, run as a user runs it: a real subprocess, real files, real Qdrant Edge."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

from test_ingestion import write_csv

from ragrec.store.edge import EdgeStore


def ragrec(*args, data_dir, env_extra=None, **kw):
    # a wide terminal: rich folds table cells to fit 80 columns
    env = {**os.environ, "RAGREC_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "COLUMNS": "250", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ragrec.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600, **kw)


MOVIE_ARGS = ["--id-field", "movieId", "--text-fields", "title,genres,tags",
              "--payload-fields", "title,year:int,genres:list,tags:list"]


def test_ingest_similar_delete_collections(tmp_path, demo_movies):
    data = tmp_path / "data"
    path = write_csv(tmp_path / "m.csv", [m for m in demo_movies if m["movieId"] in
                                          {1, 2, 3114, 2355, 78499, 260, 1196, 1210, 296, 858, 1221, 2571, 4306}])
    first = ragrec("ingest", str(path), *MOVIE_ARGS, "--json", data_dir=data)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["read"], report["upserted"], report["rejected"], report["collection"]) == (13, 13, 0, "items")

    again = ragrec("ingest", str(path), *MOVIE_ARGS, "--json", data_dir=data)
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["upserted"], json.loads(again.stdout)["unchanged"]) == (0, 13)
    table = ragrec("ingest", str(path), *MOVIE_ARGS, data_dir=data)  # the human summary, for people
    assert table.returncode == 0 and "unchanged" in table.stdout

    sim = ragrec("similar", "--ids", "1", "-k", "3", "--json", data_dir=data)
    assert sim.returncode == 0, sim.stderr
    items = json.loads(sim.stdout)["items"]
    assert {"item_id", "score", "payload", "evidence", "text", "scores", "path"} <= set(items[0])
    assert {i["item_id"] for i in items} & {"3114", "78499", "2355", "4306"}  # other animated films
    assert items[0]["path"] == "examples" and items[0]["text"].startswith("title: ")

    text = ragrec("similar", "--query", "galaxy far far away", "-k", "2", "--json", data_dir=data)
    assert text.returncode == 0, text.stderr
    assert "Loading weights" not in first.stderr + text.stderr  # no library progress bar in a command's output
    assert {i["payload"]["title"] for i in json.loads(text.stdout)["items"]} & {
        "Star Wars: Episode IV - A New Hope (1977)", "Star Wars: Episode V - The Empire Strikes Back (1980)",
        "Star Wars: Episode VI - Return of the Jedi (1983)"}

    unknown = ragrec("similar", "--ids", "999999", data_dir=data)
    assert unknown.returncode == 2 and "unknown item ids: 999999" in unknown.stderr

    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("2\n260\n")
    gone = ragrec("delete", "--ids", "1,nope", "--ids-file", str(ids_file), "--json", data_dir=data)
    assert gone.returncode == 0, gone.stderr
    assert (json.loads(gone.stdout)["deleted"], json.loads(gone.stdout)["not_found"]) == (3, ["nope"])

    listing = ragrec("collections", "--json", data_dir=data)
    assert listing.returncode == 0, listing.stderr
    [items] = json.loads(listing.stdout)["collections"]
    assert (items["name"], items["target"], items["count"]) == ("items", "items-g1", 10)


def test_bad_invocations_exit_non_zero_with_a_message(tmp_path):
    data = tmp_path / "data"
    missing = ragrec("ingest", str(tmp_path / "nope.csv"), *MOVIE_ARGS, data_dir=data)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    bad_type = ragrec("ingest", "x.csv", "--text-fields", "t", "--payload-fields", "year:integer", data_dir=data)
    assert bad_type.returncode == 2 and "unknown field type" in bad_type.stderr
    nothing = ragrec("similar", data_dir=data)
    assert nothing.returncode == 2


def test_a_second_process_gets_a_clear_message(tmp_path, demo_movies, embedder):
    data = tmp_path / "data"
    path = write_csv(tmp_path / "m.csv", demo_movies[:5])
    assert ragrec("ingest", str(path), *MOVIE_ARGS, data_dir=data).returncode == 0
    holder = EdgeStore(data)
    holder.count("items")  # this process now owns the shard
    try:
        blocked = ragrec("collections", data_dir=data)
        assert blocked.returncode == 1 and "in use by another ragrec process" in blocked.stderr
        # serve too: one line, not uvicorn's traceback of the app's start-up
        blocked = ragrec("serve", "--port", "8949", data_dir=data,
                         env_extra={"RAGREC_API_ANONYMOUS": "client", "RAGREC_LLM": "none"})
        assert blocked.returncode == 1 and "in use by another ragrec process" in blocked.stderr
        assert "Traceback" not in blocked.stderr and len(blocked.stderr.strip().splitlines()) == 1, blocked.stderr
    finally:
        holder.close()


def test_killed_job_resumes_to_exactly_the_right_items(tmp_path, demo_movies):
    data = tmp_path / "data"
    movies = demo_movies[:400]
    path = write_csv(tmp_path / "m.csv", movies)
    env = {**os.environ, "RAGREC_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ragrec.cli", "-v", "ingest", str(path), *MOVIE_ARGS,
                             "--batch-size", "16"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    committed = 0
    deadline = time.time() + 300
    for line in proc.stderr:  # kill it after a few batches are in
        committed += "batch committed" in line
        if committed >= 3 or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert committed >= 3

    partial = EdgeStore(data)
    done = partial.count("items")
    partial.close()
    assert 0 < done < len(movies)

    resumed = ragrec("ingest", str(path), *MOVIE_ARGS, "--batch-size", "16", data_dir=data)
    assert resumed.returncode == 0, resumed.stderr

    store = EdgeStore(data)
    try:
        ids = Counter(r.payload["item_id"] for r in store.scroll("items", payload=["item_id"]))
        assert store.count("items") == len(movies) == len(ids)
        assert set(ids) == {str(m["movieId"]) for m in movies} and max(ids.values()) == 1
    finally:
        store.close()


def test_ctrl_c_says_what_was_written_and_how_to_resume(tmp_path, demo_movies):
    data = tmp_path / "data"
    path = write_csv(tmp_path / "m.csv", demo_movies[:400])
    env = {**os.environ, "RAGREC_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ragrec.cli", "-v", "ingest", str(path), *MOVIE_ARGS,
                             "--batch-size", "16"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env)
    deadline = time.time() + 300
    for line in proc.stderr:  # interrupt it after a batch is in
        if "batch committed" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    [message] = [line for line in rest.splitlines() if line.startswith("interrupted:")]
    assert message.endswith("rows written; run the same command again to resume"), message
    assert "Traceback" not in rest and "error" not in rest.lower()
    written = int(message.split()[1].replace(",", ""))
    store = EdgeStore(data)
    try:
        assert 0 < written <= store.count("items")  # what it says was written is there
    finally:
        store.close()


def test_the_summary_shows_rows_rejected_without_id(capsys):
    from ragrec.cli.catalog import print_report
    from ragrec.ingestion import IngestReport

    print_report(IngestReport(collection="items", read=3, upserted=1, rejected=2, rejected_without_id=1))
    out = capsys.readouterr().out
    assert out.index("rejected ") < out.index("without id") < out.index("truncated")
    print_report(IngestReport(collection="items", read=3, upserted=3))
    assert "without id" not in capsys.readouterr().out


def test_feedback_recommend_users_reindex(tmp_path, demo_movies):
    data = tmp_path / "data"
    path = write_csv(tmp_path / "m.csv", demo_movies[:300])
    assert ragrec("ingest", str(path), *MOVIE_ARGS, data_dir=data).returncode == 0
    for item, kind in (("1", "like"), ("2", "like"), ("13", "like"), ("7", "dislike")):
        out = ragrec("feedback", "--user", "u1", "--item", item, "--type", kind.upper(), "--event-id", f"e-{item}",
                     data_dir=data)
        assert out.returncode == 0 and f"recorded {kind} of {item} by u1" in out.stdout, out.stderr
    dup = ragrec("feedback", "--user", "u1", "--item", "1", "--type", "like", "--event-id", "e-1", data_dir=data)
    assert dup.returncode == 0 and "duplicate" in dup.stdout
    unknown = ragrec("feedback", "--user", "u1", "--item", "nope", "--type", "like", data_dir=data)
    assert unknown.returncode == 2 and "unknown item nope" in unknown.stderr
    bad_type = ragrec("feedback", "--user", "u1", "--item", "1", "--type", "love", data_dir=data)
    assert bad_type.returncode == 2

    rec = ragrec("recommend", "--user", "u1", "-k", "5", "--filter", "year>=1995", "--json", data_dir=data)
    assert rec.returncode == 0, rec.stderr
    items = json.loads(rec.stdout)["items"]
    assert len(items) == 5 and all(i["payload"]["year"] >= 1995 for i in items)
    assert not {"1", "2", "13", "7"} & {i["item_id"] for i in items}
    assert any(i["evidence"] for i in items) and {i["path"] for i in items} == {"content"}
    assert all(e["item_id"] in {"1", "2", "13"} and e["title"] for i in items for e in i["evidence"])
    bad_filter = ragrec("recommend", "--user", "u1", "--filter", "year>>1", data_dir=data)
    assert bad_filter.returncode == 2 and "filter" in bad_filter.stderr

    explained = ragrec("recommend", "--user", "u1", "-k", "3", "--explain-scores", data_dir=data)
    assert explained.returncode == 0, explained.stderr
    header = next(line for line in explained.stdout.splitlines() if "score" in line)
    assert all(word in header for word in ("path", "content", "collab", "query", "popularity", "why"))

    show = ragrec("users", "show", " u1 ", "--json", data_dir=data)  # spaces at an id's ends are not part of it
    assert show.returncode == 0 and (json.loads(show.stdout)["user_id"], json.loads(show.stdout)["events"]) == ("u1", 4)
    assert {"sums", "long_sums"}.isdisjoint(json.loads(show.stdout)["profile"])
    summary = ragrec("users", "show", "u1", data_dir=data)  # for people: no profile internals, times as times
    assert summary.returncode == 0, summary.stderr
    lines = {line.split("  ")[0]: line for line in summary.stdout.splitlines()}
    assert "4 (like 3, dislike 1)" in lines["events"] and lines["positive events"].split()[-1] == "3"
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines["last update"]) and "content yes" in lines["vectors"]
    assert "13  Balto (1995)" in lines["recent items"]  # the newest like, with its title
    assert "Toy Story (1995)" in summary.stdout and not {"ref_time", "positive_weight", "collab_slot"} & set(
        summary.stdout.split())
    reindexed = ragrec("reindex", data_dir=data)
    assert reindexed.returncode == 0 and "reindexed 1 users from 4 events" in reindexed.stdout
    cold = ragrec("recommend", "-k", "3", "--json", data_dir=data)
    assert json.loads(cold.stdout)["items"][0]["item_id"] in {"1", "2", "13"}  # the popular ones
    # the horizon reaches the request (its effect on the scores: tests/retrieval, tests/api)
    horizon = ragrec("recommend", "--user", "u1", "-k", "5", "--long-term-share", "1", "--json", data_dir=data)
    assert horizon.returncode == 0 and len(json.loads(horizon.stdout)["items"]) == 5, horizon.stderr
    beyond = ragrec("recommend", "--user", "u1", "--long-term-share", "1.5", data_dir=data)
    assert beyond.returncode == 2 and "long-term-share" in beyond.stderr
    forgot = ragrec("users", "forget", "u1", data_dir=data)
    assert forgot.returncode == 0 and "4 events erased" in forgot.stdout
    assert ragrec("users", "show", "u1", data_dir=data).returncode == 2


def test_serve_owns_the_data_dir_and_other_commands_point_to_its_api(tmp_path, demo_movies):
    import httpx

    from conftest import free_port

    data = tmp_path / "data"
    path = write_csv(tmp_path / "m.csv", demo_movies[:20])
    assert ragrec("ingest", str(path), *MOVIE_ARGS, data_dir=data).returncode == 0
    nokeys = ragrec("serve", data_dir=data)
    assert nokeys.returncode == 2 and "RAGREC_API_KEYS" in nokeys.stderr  # refuses to start open to everyone
    port = free_port()
    env = {**os.environ, "RAGREC_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "RAGREC_LLM": "none",
           "RAGREC_API_KEYS": '{"k-admin": "admin"}'}
    server = subprocess.Popen([sys.executable, "-m", "ragrec.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"ragrec serve not ready: {server.stderr.read() if server.poll() is not None else ''}")
        blocked = ragrec("ingest", str(path), *MOVIE_ARGS, data_dir=data)
        assert blocked.returncode == 1 and f"ragrec service at http://127.0.0.1:{port}" in blocked.stderr
        assert "/v1/ingest-jobs" in blocked.stderr
        r = httpx.post(f"http://127.0.0.1:{port}/v1/recommendations", json={"k": 2, "query": "toys"},
                       headers={"X-API-Key": "k-admin"}, timeout=60)
        assert r.status_code == 200 and len(r.json()["items"]) == 2
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert not (data / "service.json").exists()  # the service says it is gone
    assert ragrec("collections", "--json", data_dir=data).returncode == 0  # and the data dir is free again
