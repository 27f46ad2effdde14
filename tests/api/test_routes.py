"""Every route of the API on the real stack: what it returns, who may call it, and what bad input gets."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from ragrec.api.app import create_app
from ragrec.recommender import Recommender
from tests.api.conftest import ANIMATED, Api, A, C, api_settings

PROBLEM = "application/problem+json"


def problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"] and "Traceback" not in r.text
    return body


# --- who may call what -----------------------------------------------------------------------------------------

ROUTES = [  # (method, path, body, the role it needs)
    ("post", "/v1/recommendations", {"k": 2}, "client"),
    ("post", "/v1/chat", {"message": "comedies", "stream": False, "explain": False}, "client"),
    ("post", "/v1/feedback", {"events": [{"user_id": "zed", "item_id": "1", "type": "view"}]}, "client"),
    ("get", "/v1/users/ann", None, "client"),
    ("put", "/v1/items", {"items": [{"movieId": "x1", "title": "X"}]}, "admin"),
    ("delete", "/v1/items/nope", None, "admin"),
    ("post", "/v1/ingest-jobs", {"path": "nope.csv", "text_fields": ["title"]}, "admin"),
    ("get", "/v1/ingest-jobs/nope", None, "admin"),
    ("post", "/v1/reindex-jobs", None, "admin"),
    ("get", "/v1/reindex-jobs/nope", None, "admin"),
    ("delete", "/v1/users/nobody", None, "admin"),
]


@pytest.mark.parametrize("method,path,body,role", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_every_route_needs_a_key_of_the_right_role(api, method, path, body, role):
    kw = {"json": body} if body is not None else {}
    problem(getattr(api, method)(path, **kw), 401)
    problem(getattr(api, method)(path, headers={"Authorization": "Bearer wrong-key"}, **kw), 401)
    problem(getattr(api, method)(path, headers={"X-API-Key": ""}, **kw), 401)
    as_client = getattr(api, method)(path, headers=C, **kw)
    if role == "admin":
        assert problem(as_client, 403)["detail"] == "this needs an admin key"
    else:
        assert as_client.status_code < 400, as_client.text
    assert getattr(api, method)(path, headers=A, **kw).status_code not in (401, 403)  # admin may do everything
    if body is not None:  # a body FastAPI cannot parse is still answered after the key check, not before it
        for broken in (b'{"k": [', b'{"k": "\xff"}'):
            send = dict(content=broken, headers={"content-type": "application/json"})
            problem(api.request(method.upper(), path, **send), 401)
            send["headers"] |= C
            as_client = api.request(method.upper(), path, **send)
            problem(as_client, 403 if role == "admin" else 422 if broken.endswith(b"[") else 400)


def test_a_key_is_read_without_the_spaces_around_it(api):
    for headers in ({"X-API-Key": C["Authorization"].removeprefix("Bearer ") + " "},
                    {"Authorization": C["Authorization"] + " "}):
        assert api.get("/v1/users/ann", headers=headers).status_code == 200


def test_a_body_that_is_not_json_says_where(api):
    r = api.request("POST", "/v1/recommendations", content=b'{"k": [', headers={"content-type": "application/json",
                                                                                   **C})
    assert problem(r, 422)["detail"] == "body: the body is not valid JSON: Expecting value at character 7"
    for body in (b'{"diversity": NaN}', b'{"long_term_share": Infinity}'):  # Python's json reads them
        r = api.request("POST", "/v1/recommendations", content=body, headers={"content-type": "application/json", **C})
        assert "finite number" in problem(r, 422)["detail"]


def test_anonymous_access_only_when_configured(demo, embedder, tmp_path):
    base, store, _ = demo
    settings = api_settings(base, "items", tmp_path, api_keys={}, api_anonymous="client")
    client = Api(create_app(settings, recommender=Recommender(settings, store=store, embedder=embedder)), None, settings)
    try:
        assert client.post("/v1/recommendations", json={"k": 1, "query": "space"}).status_code == 200
        problem(client.delete("/v1/users/ann"), 401)  # anonymous is a client at most: admin routes need a key
        r = client.get("/healthz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    finally:
        client.close()


# --- recommendations ---------------------------------------------------------------------------------------------

def test_recommendations_for_a_user_with_filters_and_structured_filters(api):
    r = api.post("/v1/recommendations", json={"user_id": "ann", "k": 5, "filters": ["year>=2000"]}, headers=C)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["items"]) == 5 and body["recommendation_id"] and body["reranked"] is False
    item = body["items"][0]
    assert {"item_id", "score", "payload", "text", "scores", "path", "evidence"} <= set(item)
    assert item["path"] == "hybrid" and item["scores"]["content"] is not None
    assert all(i["payload"]["year"] >= 2000 and i["item_id"] not in ANIMATED for i in body["items"])
    structured = api.post("/v1/recommendations", headers=C, json={
        "user_id": "ann", "k": 8, "filters": {"genres": {"none": ["Animation"]}, "year": {"gte": 1990, "lt": 2010}}})
    assert structured.status_code == 200, structured.text
    assert all("Animation" not in i["payload"]["genres"] and 1990 <= i["payload"]["year"] < 2010
               for i in structured.json()["items"])


def test_the_horizon_of_a_recommendation_request(api):
    """long_term_share (0 = the user's latest items, 1 = their whole history) reaches the request the core answers
    (its effect on the scores: tests/retrieval/test_recommend.py)."""
    from ragrec.api.routes.recommendations import RecommendationsIn

    for share in (0.0, 0.3, 1.0, None):
        body = {"user_id": "ann", "k": 5} | ({} if share is None else {"long_term_share": share})
        r = api.post("/v1/recommendations", json=body, headers=C)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == 5 and {i["path"] for i in r.json()["items"]} == {"hybrid"}
        assert RecommendationsIn.model_validate(body).to_request().long_term_share == share


def test_rerank_asked_for_without_an_llm_says_so(api):
    r = api.post("/v1/recommendations", json={"user_id": "ann", "k": 3, "rerank": True}, headers=C).json()
    assert r["reranked"] is False and "no LLM is configured" in r["warnings"][0] and len(r["items"]) == 3


def test_recommendations_with_descriptions_name_each_item(api):
    r = api.post("/v1/recommendations", json={"user_id": "ann", "k": 3, "explain": True}, headers=C)
    assert r.status_code == 200, r.text
    for item in r.json()["items"]:  # llm=none here: template descriptions, flagged as such
        assert item["description_source"] == "template" and item["description"]


@pytest.mark.parametrize("body,field", [
    ({"k": 0}, "k"), ({"k": 101}, "k"), ({"k": "ten"}, "k"), ({"diversity": 2}, "diversity"),
    # no quiet conversions: a boolean or a string is not a number, nor a number a boolean
    ({"k": True}, "k"), ({"k": "5"}, "k"), ({"diversity": "0.5"}, "diversity"), ({"explain": "yes"}, "explain"),
    ({"rerank": 1}, "rerank"),
    ({"user_id": ""}, "user_id"), ({"user_id": "u" * 201}, "user_id"), ({"query": "q" * 1001}, "query"),
    ({"positive": ["1"] * 51}, "positive"), ({"filters": ["x"] * 21}, "filters"), ({"nonsense": 1}, "nonsense"),
    ({"filters": {"year": {"gte": "NaN"}}}, "filters"), ({"filters": {"year": {}}}, "filters"),
    ({"strategy": "magic"}, "strategy"), ({"exclude": [1, 2]}, "exclude"),
    ({"long_term_share": 1.5}, "long_term_share"), ({"long_term_share": -0.1}, "long_term_share"),
    # integers beyond Qdrant's 64 bits (these were a 500), an empty range
    ({"filters": {"year": {"eq": 99999999999999999999}}}, "filters"),
    ({"filters": {"year": {"any": [1990, 99999999999999999999]}}}, "filters"),
    ({"filters": {"year": {"none": [-9223372036854775809]}}}, "filters"),
    ({"filters": {"year": {"gte": 2000, "lt": 1990}}}, "range is empty"),
    ({"filters": {"year": {"gt": 2000, "lte": 2000}}}, "range is empty"),
    ({"query": "   "}, "query"), ({"query": "\u0000\u0001"}, "is blank"),
    ({"positive": ["1", "2"], "negative": ["2"]}, "'2' is both positive and negative"),
    # a structured filter's bounds are numbers, not strings or booleans; a list is texts or integers
    ({"filters": {"year": {"gte": "2015"}}}, "valid number"), ({"filters": {"year": {"lt": True}}}, "valid number"),
    ({"filters": {"genres": {"any": [{"a": 1}]}}}, "a list of texts or a list of integers"),
    ({"filters": {"genres": {"none": ["Drama", 1]}}}, "a list of texts or a list of integers"),
])
def test_bad_recommendation_requests_are_422_with_the_field_named(api, body, field):
    detail = problem(api.post("/v1/recommendations", json=body, headers=C), 422)
    assert field in json.dumps(detail["errors"] if "errors" in detail else detail["detail"])


@pytest.mark.parametrize("filters,detail", [
    ({"year": {"gte": 2000, "lt": 1990}}, "body.filters.object.year: the range is empty"),
    ({"genres": {"any": []}}, "body.filters.object.genres.any: Value should have at least 1 item"),
    ("genres=Comedy", "body.filters.list: Input should be a valid list"),
])
def test_a_bad_filter_is_named_in_the_form_it_was_sent(api, filters, detail):
    got = problem(api.post("/v1/recommendations", json={"query": "x", "filters": filters}, headers=C), 422)["detail"]
    assert got.startswith(detail) and "constrained-str" not in got and "function-after" not in got


def test_a_structured_filter_on_a_field_no_item_has_says_so(api):
    r = api.post("/v1/recommendations", headers=C, json={"user_id": "ann", "k": 3, "filters": {"yaer": {"gte": 1990}}})
    assert r.status_code == 200 and r.json()["items"] == []
    assert "no item has a field 'yaer'" in r.json()["warnings"][0]
    cased = {"query": "x", "k": 3, "filters": {"genres": {"any": ["sci-fi"]}}}
    r = api.post("/v1/recommendations", headers=C, json=cased)
    assert r.json()["warnings"] == ["no item has genres='sci-fi' (values are case-sensitive: did you mean 'Sci-Fi'?)"]
    edge = {"filters": {"year": {"gte": 2000, "lte": 2000}}, "k": 3}  # a one-year range is not empty
    assert api.post("/v1/recommendations", headers=C, json=edge).status_code == 200


def test_bad_values_that_pass_the_schema_get_a_reason(api):
    assert "not a number" in problem(api.post("/v1/recommendations", json={"filters": ["year>=soon"]}, headers=C),
                                     422)["detail"]
    assert "unknown item ids: nope" in problem(
        api.post("/v1/recommendations", json={"positive": ["nope"]}, headers=C), 422)["detail"]
    assert "negative" in problem(api.post("/v1/recommendations", json={"negative": ["1"]}, headers=C), 422)["detail"]
    problem(api.post("/v1/recommendations", content=b"{not json", headers={**C, "content-type": "application/json"}),
            422)
    problem(api.post("/v1/recommendations", json=[1, 2], headers=C), 422)
    # a body not declared JSON: 415, saying how to send it
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**C, **({"content-type": content_type} if content_type else {})}
        got = problem(api.post("/v1/recommendations", content=b'{"k": 2}', headers=headers), 415)
        assert "Content-Type: application/json" in got["detail"]
    assert api.post("/v1/recommendations", content=b'{"k": 2}',
                    headers={**C, "content-type": "application/vnd.api+json; charset=utf-8"}).status_code == 200


def test_bodies_over_the_limit_are_413_even_without_a_length(api):
    big = json.dumps({"query": "x" * 2_000_000}).encode()
    declared = problem(api.post("/v1/recommendations", content=big, headers={**C, "content-type": "application/json"}),
                       413)
    assert declared["detail"].endswith("(1 MB)")  # the limit, so a client knows what fits

    async def chunks(n):  # no Content-Length: counted as it arrives
        for _ in range(n):
            yield b" " * 100_000
        yield b"{}"

    chunked = problem(api.post("/v1/recommendations", content=chunks(20),
                               headers={**C, "content-type": "application/json"}), 413)
    assert chunked["detail"] == "the request body is larger than this route accepts (1 MB)"  # as with a length
    # catalog uploads have their own, larger limit (this one is not Parquet: the job fails at once, after upload)
    fields = json.dumps({"text_fields": ["title"]})
    big_file = b"id,title\n" + b"".join(f"b{i},Book number {i}\n".encode() for i in range(150_000))
    assert len(big_file) > 2_000_000
    up = api.post("/v1/ingest-jobs/upload", headers=A, files={"file": ("big.parquet", big_file)},
                  data={"options": fields})
    assert up.status_code == 202, up.text
    assert wait(api, "/v1/ingest-jobs/" + up.json()["job_id"])["status"] == "failed"


# --- feedback -----------------------------------------------------------------------------------------------------

def test_feedback_is_idempotent_keeps_the_recommendation_and_rejects_unknown_items(api):
    rec_id = api.post("/v1/recommendations", json={"user_id": "cy", "k": 3}, headers=C).json()["recommendation_id"]
    events = [{"event_id": "cy-1", "user_id": "cy", "item_id": "1", "type": "like", "recommendation_id": rec_id},
              {"event_id": "cy-2", "user_id": "cy", "item_id": "no-such-item", "type": "like"},
              {"event_id": "cy-3", "user_id": "cy", "item_id": "2", "type": "rating", "value": 4.5,
               "timestamp": "2024-05-01T10:00:00Z"}]
    first = api.post("/v1/feedback", json={"events": events}, headers=C).json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert first["rejected"] == [{"index": 1, "event_id": "cy-2", "reason": "unknown item no-such-item"}]
    again = api.post("/v1/feedback", json={"events": events}, headers=C).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    stored = api.rec.log.user_events("cy")
    assert [(e.event_id, e.recommendation_id) for e in stored] == [("cy-3", None), ("cy-1", rec_id)]
    user = api.get("/v1/users/cy", headers=C).json()
    assert user["events"] == 2 and user["profile"]["counts"] == {"like": 1, "rating": 1}
    # times as ISO 8601 (they were epoch floats), weights rounded (sums of decayed floats)
    profile = user["profile"]
    assert ("2", "2024-05-01T10:00:00Z") in [(r["item_id"], r["ts"]) for r in profile["recent"]]
    assert all(t.endswith("Z") and datetime.fromisoformat(t) for t in (profile["last_event"], profile["ref_time"]))
    assert all(w == round(w, 6) for w in (profile["positive_weight"], profile["long_positive_weight"]))
    assert "sums" not in profile and "long_sums" not in profile


def test_ids_and_types_are_read_as_event_files_read_them(api):
    """Spaces at the ends of an id are not part of it, and a type may be written in any case: as `events load`
    reads a file, so that the same event sent either way is the same event of the same user."""
    events = [{"event_id": " dee-1 ", "user_id": " dee ", "item_id": " 1", "type": "LIKE"},
              {"event_id": "dee-2", "user_id": "dee", "item_id": "2", "type": "Add-To-Cart"}]
    first = api.post("/v1/feedback", json={"events": events}, headers=C).json()
    assert (first["accepted"], first["rejected"]) == (2, [])
    assert sorted((e.event_id, e.user_id, e.item_id, e.type.value) for e in api.rec.log.user_events("dee")) == [
        ("dee-1", "dee", "1", "like"), ("dee-2", "dee", "2", "add_to_cart")]
    assert api.post("/v1/feedback", json={"events": [{**events[0], "event_id": "dee-1"}]},
                    headers=C).json()["duplicates"] == 1
    assert api.get("/v1/users/%20dee", headers=C).json()["events"] == 2
    seen = {i["item_id"] for i in api.post("/v1/recommendations", json={"user_id": "dee ", "k": 20},
                                           headers=C).json()["items"]}
    assert not seen & {"1", "2"}  # " dee" is dee: what they saw is left out


@pytest.mark.parametrize("event", [
    {"user_id": "u", "item_id": "1", "type": "love"}, {"user_id": "u", "item_id": "1"},
    {"user_id": "", "item_id": "1", "type": "like"}, {"user_id": "  ", "item_id": "1", "type": "like"},
    {"user_id": "u", "item_id": "1", "type": "rating"},
    {"user_id": "u", "item_id": "1", "type": "like", "timestamp": "yesterday"},
    {"user_id": "u", "item_id": "1", "type": "like", "extra": 1},
    {"user_id": "u", "item_id": "1", "type": "rating", "value": True},
    {"user_id": "u", "item_id": "1", "type": "rating", "value": "3"},
])
def test_bad_events_are_422(api, event):
    problem(api.post("/v1/feedback", json={"events": [event]}, headers=C), 422)
    assert api.rec.log.count("u") == 0


def test_a_rating_without_a_value_names_the_event(api):
    body = problem(api.post("/v1/feedback", json={"events": [{"user_id": "u", "item_id": "1", "type": "like"},
                                                            {"user_id": "u", "item_id": "1", "type": "rating"}]},
                            headers=C), 422)
    [error] = body["errors"]
    assert error["loc"][:3] == ["body", "events", 1] and "a rating event needs a value" in error["msg"]


def test_every_event_of_a_batch_is_accounted_for(api):
    """An invalid event sharing its event_id with a valid one rejects itself only; a time before 1970 (year 1 would
    not survive the log's round trip and used to fail every later reindex) is rejected with its reason."""
    events = [{"event_id": "d1", "user_id": "dee", "item_id": "1", "type": "like"},
              {"event_id": "d1", "user_id": "dee", "item_id": "2", "type": "rating", "value": 99},
              {"event_id": "d2", "user_id": "dee", "item_id": "2", "type": "like",
               "timestamp": "0001-01-01T00:00:00+05:00"},
              {"event_id": "d3", "user_id": "dee\u0000evil", "item_id": "2", "type": "like"}]  # SQLite cut it at NUL
    got = api.post("/v1/feedback", json={"events": events}, headers=C).json()
    assert got["accepted"] == 1 and got["duplicates"] == 0
    reasons = {(r["event_id"], r["reason"].split(" ")[0]) for r in got["rejected"]}
    assert reasons == {("d1", "rating"), ("d2", "timestamp"), ("d3", "the")}
    assert "before 1970" in got["rejected"][1]["reason"]
    assert [(e.event_id, e.item_id) for e in api.rec.log.user_events("dee")] == [("d1", "1")]


def test_feedback_batches_are_bounded(api):
    problem(api.post("/v1/feedback", json={"events": []}, headers=C), 422)
    many = [{"user_id": "u", "item_id": "1", "type": "view"}] * 1001
    problem(api.post("/v1/feedback", json={"events": many}, headers=C), 422)


# --- items, ingest jobs, users -------------------------------------------------------------------------------------

def test_put_items_are_retrievable_at_once_and_bad_rows_are_reported(api):
    rows = [{"title": "no id"},  # first: a row to reject, not a sign that the id field is wrong
            {"movieId": "new-1", "title": "Toy Robots Go Camping (2031)", "year": 2031,
             "genres": ["Animation", "Children"], "tags": ["robots"]},
            {"movieId": "new-2", "title": "", "genres": []}]
    r = api.put("/v1/items", json={"items": rows}, headers=A)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["read"], body["upserted"], body["rejected"]) == (3, 1, 2)
    assert {x["reason"].split(":")[0] for x in body["rejects"]} == {"empty text", "missing id (field 'movieId')"}
    found = api.post("/v1/recommendations", json={"query": "toy robots camping", "k": 3}, headers=C).json()
    assert found["items"][0]["item_id"] == "new-1"  # searched at once, before any index build
    assert api.delete("/v1/items/new-1", headers=A).json()["deleted"] == 1
    problem(api.delete("/v1/items/new-1", headers=A), 404)
    assert problem(api.delete("/v1/items/%20", headers=A), 422)["detail"].endswith("is blank")  # as a user id's
    problem(api.put("/v1/items", json={"items": []}, headers=A), 422)
    wrong = problem(api.put("/v1/items", json={"items": [{"id": "x", "title": "X"}]}, headers=A), 422)["detail"]
    assert wrong.startswith("no item has the id field 'movieId'") and ".jsonl" not in wrong


def test_ingest_jobs_from_the_import_folder_and_uploads(api):
    imports = api.settings.api_import_dir
    imports.mkdir(parents=True)
    (imports / "more.csv").write_text('id,title,year\nm1,The Long Heist,1999\nm2,,2000\nm3,Space Cowboys,2000\n'
                                      'm4,"Two\nLines",2001\n')  # a quoted row over two lines
    fields = {"text_fields": ["title"], "payload_fields": ["title", "year:int"]}
    job = api.post("/v1/ingest-jobs", json={"path": "more.csv", **fields}, headers=A)
    assert job.status_code == 202, job.text
    done = wait(api, "/v1/ingest-jobs/" + job.json()["job_id"])
    assert done["status"] == "done" and done["report"]["upserted"] == 3 and done["report"]["rejected"] == 1
    assert done["progress"] == done["total"] == 4  # rows read, not the file's 6 lines
    assert done["rejects"][0]["reason"].startswith("empty text") and done["source"] == "more.csv"

    upload = api.post("/v1/ingest-jobs/upload", headers=A, files={"file": ("up.jsonl", b'{"id": "u1", "title": "Up"}\n')},
                      data={"options": json.dumps(fields)})
    assert upload.status_code == 202, upload.text
    assert wait(api, "/v1/ingest-jobs/" + upload.json()["job_id"])["report"]["upserted"] == 1
    # two uploads of one file name: each job keeps its own rejects file
    first, second = (wait(api, "/v1/ingest-jobs/" + api.post(
        "/v1/ingest-jobs/upload", headers=A, files={"file": ("same.csv", f"id,title,year\n{i},,2000\n".encode())},
        data={"options": json.dumps(fields)}).json()["job_id"]) for i in ("s1", "s2"))
    assert first["report"]["rejects_file"] != second["report"]["rejects_file"]
    assert [json.loads(line)["id"] for line in open(first["report"]["rejects_file"])] == ["s1"]

    problem(api.post("/v1/ingest-jobs", json={"path": "../../etc/passwd", **fields}, headers=A), 422)
    problem(api.post("/v1/ingest-jobs", json={"path": "missing.csv", **fields}, headers=A), 422)
    problem(api.post("/v1/ingest-jobs", json={"path": "more.csv"}, headers=A), 422)  # no text fields
    for flag, value in (("sync", "yes"), ("allow_mass_delete", 1), ("rebuild", "false")):  # never a quiet true
        assert flag in problem(api.post("/v1/ingest-jobs", json={"path": "more.csv", **fields, flag: value},
                                        headers=A), 422)["detail"]
    problem(api.post("/v1/ingest-jobs/upload", headers=A, files={"file": ("x.csv", b"id\n")},
                     data={"options": "{not json"}), 422)
    assert problem(api.post("/v1/ingest-jobs/upload", headers=A, files={"file": ("x.csv", b"id\n")},
                            data={"options": json.dumps({**fields, "nope": 1})}), 422)["detail"] == \
        "options.nope: Extra inputs are not permitted"
    problem(api.get("/v1/ingest-jobs/nope", headers=A), 404)
    # options the job would refuse are a 422 before anything runs, and a refused upload leaves no file behind
    assert "is reserved" in problem(api.post("/v1/ingest-jobs", json={"path": "more.csv", "text_fields": ["title"],
                                                                      "payload_fields": ["item_id"]}, headers=A),
                                    422)["detail"]
    refused = api.post("/v1/ingest-jobs/upload", headers=A, files={"file": ("x.csv", b"id,title\nx,X\n")},
                       data={"options": json.dumps({"text_fields": ["title"], "payload_fields": ["year:date"]})})
    problem(refused, 422)
    assert [p.name for p in (api.settings.data_dir / "uploads").iterdir()] == []
    # a sync the server refuses as a mass deletion, then allowed
    (imports / "one.csv").write_text("id,title\nm1,Frumble Gadzooks Two\n")
    chat = {"message": "something like Frumble Gadzooks Two", "stream": False, "explain": False}
    assert "like: Frumble Gadzooks Two" not in api.post("/v1/chat", json=chat, headers=C).json()["chips"]
    sync = {"path": "one.csv", "text_fields": ["title"], "payload_fields": ["title"], "sync": True}
    refused_sync = wait(api, "/v1/ingest-jobs/" + api.post("/v1/ingest-jobs", json=sync, headers=A).json()["job_id"])
    assert refused_sync["status"] == "failed" and "allow_mass_delete" in refused_sync["error"]
    # the refused sync wrote its row first: chat knows the new title
    assert "like: Frumble Gadzooks Two" in api.post("/v1/chat", json=chat, headers=C).json()["chips"]
    allowed = api.post("/v1/ingest-jobs", json={**sync, "allow_mass_delete": True}, headers=A)
    assert wait(api, "/v1/ingest-jobs/" + allowed.json()["job_id"])["report"]["deleted"] > 9000
    assert api.rec.store.count(api.settings.items_collection) == 1
    bad = api.post("/v1/ingest-jobs/upload", headers=A, files={"file": ("bad.parquet", b"not parquet")},
                   data={"options": json.dumps(fields)})
    failed = wait(api, "/v1/ingest-jobs/" + bad.json()["job_id"])
    assert failed["status"] == "failed" and "Parquet" in failed["error"]
    assert failed["source"] == "bad.parquet" and "bad.parquet" in failed["error"]  # the client's name, not a temp one
    assert [p.name for p in (api.settings.data_dir / "uploads").iterdir()] == []
    (imports / "adir").mkdir()
    assert "is a folder" in problem(api.post("/v1/ingest-jobs", json={"path": "adir", **fields}, headers=A),
                                    422)["detail"]
    assert "NUL" in problem(api.post("/v1/ingest-jobs", json={"path": "more.csv\u0000x", **fields}, headers=A),
                            422)["detail"]


def test_a_user_id_no_user_can_have_is_a_422(api):
    for method in (api.get, lambda path, **kw: api.delete(path, headers=A)):
        assert "control character" in problem(method("/v1/users/a%00b", headers=C), 422)["detail"]


def test_ids_with_a_slash_can_be_read_and_erased(api):
    feedback = {"events": [{"user_id": "team/ann", "item_id": "1", "type": "like"}]}
    assert api.post("/v1/feedback", json=feedback, headers=C).json()["accepted"] == 1
    assert api.get("/v1/users/team%2Fann", headers=C).json()["events"] == 1
    assert api.delete("/v1/users/team%2Fann", headers=A).json() == {"user_id": "team/ann", "events_erased": 1}
    assert api.put("/v1/items", json={"items": [{"movieId": "a/b", "title": "Slashed (2030)"}]},
                   headers=A).json()["upserted"] == 1
    assert api.delete("/v1/items/a%2Fb", headers=A).json()["deleted"] == 1


def test_reindex_job_and_users(api):
    job = api.post("/v1/reindex-jobs", headers=A)
    assert job.status_code == 202
    done = wait(api, "/v1/reindex-jobs/" + job.json()["job_id"])
    assert done["status"] == "done" and done["report"]["users"] == 2
    ann = api.get("/v1/users/ann", headers=C).json()
    assert ann["events"] == 5 and "sums" not in ann["profile"] and "long_sums" not in ann["profile"]
    problem(api.get("/v1/users/nobody", headers=C), 404)
    assert api.delete("/v1/users/bob", headers=A).json() == {"user_id": "bob", "events_erased": 3}
    problem(api.get("/v1/users/bob", headers=C), 404)
    problem(api.delete("/v1/users/bob", headers=A), 404)


def wait(api, path: str, seconds: float = 300) -> dict:
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        job = api.get(path, headers=A).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{path} still {job['status']} after {seconds} s")


# --- health, metrics, docs ----------------------------------------------------------------------------------------

def test_health_readiness_metrics_and_docs(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["status"] == "ready" and ready["collections"]["items"] == 9742
    api.post("/v1/recommendations", json={"k": 1}, headers=C)
    metrics = api.get("/metrics").text
    assert 'ragrec_http_requests_total{method="POST",route="/v1/recommendations",status="200"}' in metrics
    assert "ragrec_http_request_seconds_bucket" in metrics and "ragrec_llm_fallbacks" in metrics
    schema = api.get("/openapi.json").json()
    assert {"/v1/recommendations", "/v1/chat", "/v1/feedback", "/v1/items", "/v1/ingest-jobs"} <= set(schema["paths"])
    docs = api.get("/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr" not in docs.text and "tiangolo.com" not in docs.text
    assert api.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert schema["paths"]["/v1/recommendations"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    page = api.get("/")
    assert page.status_code == 200 and "<title>ragrec chat</title>" in page.text
    problem(api.get("/v1/nothing-here"), 404)
    assert problem(api.get("/v1/recommendations", headers=C), 405) and \
        api.get("/v1/recommendations", headers=C).headers["allow"] == "POST"
    problem(api.post("/v1/recommendations", json={"k": 0}, headers=C), 422)
    metrics = api.get("/metrics").text  # errors are counted too, by route template (or "unmatched") and status
    assert 'ragrec_http_requests_total{method="GET",route="unmatched",status="404"}' in metrics
    assert 'ragrec_http_requests_total{method="POST",route="/v1/recommendations",status="422"}' in metrics
    assert 'ragrec_http_request_seconds_count{method="POST",route="/v1/recommendations"}' in metrics
    assert 'route="/openapi.json",status="200"' in metrics and 'route="/docs",status="200"' in metrics


def test_head_is_the_get_without_a_body(api):
    for path in ("/healthz", "/readyz", "/", "/openapi.json"):
        get, head = api.get(path), api.head(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
    assert api.head("/v1/users/ann").status_code == 401  # auth as for GET
    assert api.head("/v1/users/ann", headers=C).status_code == 200
    assert api.head("/v1/recommendations", headers=C).status_code == 405  # no GET there either


def test_a_500_is_counted_too():
    """The 500 is answered outside the metrics middleware (Starlette's ServerErrorMiddleware), so the middleware
    counts a request that raised through it itself. A bare ASGI app that fails stands in for a route's bug."""
    import asyncio

    import httpx
    from starlette.middleware.errors import ServerErrorMiddleware

    from ragrec.api.metrics import REQUESTS, Measure

    async def broken(scope, receive, send):
        raise RuntimeError("a bug")

    def count() -> float:
        return REQUESTS.labels("unmatched", "GET", "500")._value.get()

    before = count()
    app = ServerErrorMiddleware(Measure(broken))

    async def call():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                     base_url="http://t") as c:
            return await c.get("/anything")

    assert asyncio.run(call()).status_code == 500 and count() == before + 1
