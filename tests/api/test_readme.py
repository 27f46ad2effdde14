"""The README's example request bodies (HTTP API section) are sent to the real API on the demo catalog: each one
must be accepted (2xx), so the documented shapes stay the models' shapes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.api.conftest import A
from tests.api.test_routes import wait

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def readme_examples() -> list[tuple[str, str, dict | None]]:
    """(method, path, body) of each example in the README's ```http blocks: a `METHOD /path` line, then the JSON body
    (none for a route without one)."""
    examples = []
    for block in re.findall(r"```http\n(.*?)```", README, flags=re.S):
        for method, path, body in re.findall(r"^(GET|POST|PUT|DELETE) (/\S+)\n(.*?)(?=^(?:GET|POST|PUT|DELETE) |\Z)",
                                             block, flags=re.S | re.M):
            examples.append((method, path, json.loads(body) if body.strip() else None))
    return examples


def test_every_post_and_put_route_has_an_example():
    routes = {(m, p) for m, p, _ in readme_examples()}
    assert routes >= {("POST", "/v1/recommendations"), ("POST", "/v1/chat"), ("POST", "/v1/feedback"),
                      ("PUT", "/v1/items"), ("POST", "/v1/ingest-jobs"), ("POST", "/v1/reindex-jobs")}


def test_the_readme_examples_are_accepted(api):
    imports = api.settings.api_import_dir
    imports.mkdir(parents=True)
    (imports / "movies.csv").write_text("movieId,title,year,genres\n"
                                        "200002,Night Train to Lisbon (2013),2013,Drama|Mystery|Romance\n")
    for method, path, body in readme_examples():
        r = api.request(method, path, json=body, headers=A)
        assert 200 <= r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        answer = r.json()
        if path == "/v1/feedback":
            assert answer["rejected"] == [], answer
        if path == "/v1/ingest-jobs":
            job = wait(api, f"/v1/ingest-jobs/{answer['job_id']}")
            assert job["status"] == "done" and job["report"]["upserted"] == 1, job
        if path == "/v1/reindex-jobs":
            assert wait(api, f"/v1/reindex-jobs/{answer['job_id']}")["status"] == "done"
        if path == "/v1/items":
            assert answer["upserted"] == 1 and answer["rejected"] == 0, answer
    # the upload route takes the ingest job's options without `path`, as the README says
    options = next(body for _, path, body in readme_examples() if path == "/v1/ingest-jobs")
    upload = api.post("/v1/ingest-jobs/upload", headers=A,
                      files={"file": ("movies.csv", (imports / "movies.csv").read_bytes())},
                      data={"options": json.dumps({k: v for k, v in options.items() if k != "path"})})
    assert upload.status_code == 202, upload.text
    assert wait(api, f"/v1/ingest-jobs/{upload.json()['job_id']}")["status"] == "done"
