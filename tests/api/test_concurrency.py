"""20 concurrent clients on one service: recommendations, feedback and chat while a catalog ingest job runs; no
request fails and no event is lost."""

from __future__ import annotations

import asyncio
import json

from ragrec.demo import DEMO_CATALOG
from tests.api.conftest import A, C

CLIENTS, ROUNDS = 20, 6


def test_twenty_clients_while_an_ingest_job_runs(api):
    with open(DEMO_CATALOG, encoding="utf-8") as f:  # 300 demo movies as new items with new ids
        rows = [json.loads(line) for _, line in zip(range(300), f)]
    upload = "".join(json.dumps({**m, "movieId": f"new-{m['movieId']}"}) + "\n" for m in rows).encode()
    fields = {"id_field": "movieId", "text_fields": ["title", "genres", "tags"],
              "payload_fields": ["title", "year:int", "genres:list", "tags:list"]}

    async def scenario():
        c = api.client
        job = await c.post("/v1/ingest-jobs/upload", headers=A, files={"file": ("more.jsonl", upload)},
                           data={"options": json.dumps(fields)})
        assert job.status_code == 202, job.text
        failures, sent = [], []

        async def client(n: int) -> None:
            user = f"load-{n}"
            for r in range(ROUNDS):
                calls = [c.post("/v1/recommendations", headers=C, json={"user_id": user, "k": 5}),
                         c.post("/v1/feedback", headers=C, json={"events": [
                             {"event_id": f"{user}-{r}", "user_id": user,
                              "item_id": str(rows[(n * 7 + r) % 300]["movieId"]), "type": "click"}]})]
                if r % 3 == 0:
                    calls.append(c.post("/v1/chat", headers=C, json={"message": "comedies", "user_id": user,
                                                                     "k": 3, "stream": False, "explain": False}))
                for response in await asyncio.gather(*calls):
                    if response.status_code != 200:
                        failures.append((response.request.url.path, response.status_code, response.text[:200]))
                    elif response.request.url.path == "/v1/feedback" and response.json()["accepted"] != 1:
                        failures.append(("/v1/feedback", response.json()))
                sent.append(f"{user}-{r}")

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
        while (status := (await c.get(f"/v1/ingest-jobs/{job.json()['job_id']}", headers=A)).json())["status"] \
                in ("queued", "running"):
            await asyncio.sleep(0.2)
        return failures, sent, status

    failures, sent, job = api.run(scenario())
    assert failures == []
    assert job["status"] == "done" and job["report"]["upserted"] == 300, job
    assert len(sent) == CLIENTS * ROUNDS
    stored = {e.event_id for n in range(CLIENTS) for e in api.rec.log.user_events(f"load-{n}")}
    assert stored == set(sent)  # every event is in the log, once
    for n in range(CLIENTS):  # and in the user's vector
        assert api.rec.user(f"load-{n}").profile.n_events == ROUNDS
    found = api.post("/v1/recommendations", headers=C, json={"query": rows[0]["title"], "k": 3}).json()
    assert f"new-{rows[0]['movieId']}" in {i["item_id"] for i in found["items"]}


def test_the_retrieval_pool_fits_the_store():
    """Embedded Qdrant Edge holds the GIL while it searches: two threads; a server is waited on: eight; a number
    set by hand wins."""
    from ragrec.api.deps import Services
    from ragrec.config import Settings

    def pool(**settings) -> float:
        return Services(settings=Settings(**settings), rec=None, chat=None, jobs=None).retrieval.total_tokens

    assert pool() == 2
    assert pool(qdrant_url="http://qdrant:6333") == 8
    assert pool(api_threads=5) == 5
    assert pool(api_threads=3, qdrant_url="http://qdrant:6333") == 3


def test_what_start_up_loaded_is_out_of_the_collectors_sight(api):
    """The service's start-up (`Recommender.warm`) freezes what it loaded, so a full garbage collection under load
    no longer walks the models again (a 250-350 ms stall of every request with torch loaded; bench/RESULTS.md)."""
    import gc

    loaded = [api.rec, api.rec.gate, api.rec.settings, api.rec.store]
    tracked = {id(o) for o in gc.get_objects()}
    assert gc.get_freeze_count() > 0
    assert [o for o in loaded if id(o) in tracked] == []
