"""`describe-catalog`: catalog blurbs written by the real bundled LLM into a small slice of the demo catalog,
checked, resumable and idempotent; what the serving path does with them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from conftest import tiny_catalog
from ragrec.cli import app
from ragrec.generation import Describer, NoLLM, get_llm
from ragrec.generation.catalog import blurb_hash, describe_catalog, item_candidate, source_key
from ragrec.generation.describe import Vocabulary, check
from ragrec.ingestion import ingest
from ragrec.demo import demo_options
from ragrec.retrieval.models import History
from ragrec.schema import BLURB, BLURB_HASH
from ragrec.store import open_store

runner = CliRunner()


def payloads(settings) -> dict[str, dict]:
    store = open_store(settings)
    try:
        return {r.payload["item_id"]: r.payload for r in store.scroll(settings.items_collection)}
    finally:
        store.close()


def run(settings, llm, **kw):
    store = open_store(settings)
    try:
        return describe_catalog(store, llm, settings, **kw)
    finally:
        store.close()


def test_blurbs_are_checked_stored_resumed_and_never_written_twice(tmp_path, embedder, local_llm):
    settings = tiny_catalog(tmp_path, embedder, n=6, describe_catalog_batch=4)
    ticks = []
    first = run(settings, local_llm, limit=2, on_progress=lambda *t: ticks.append(t))  # a run stopped after two
    assert (first.items, first.described + first.failed, first.skipped) == (2, 2, 0)
    assert ticks[0][1] == 6 and ticks[-1] == (2, 2)  # the bar ends full at what a --limit run did, not at 2/6

    rest = run(settings, local_llm)  # resumes: the two are skipped, the other four described
    assert (rest.items, rest.described + rest.failed, rest.skipped) == (6, 4, 2)
    stored = payloads(settings)
    vocabulary = Vocabulary.from_payloads(stored.values())
    for item_id, p in stored.items():
        item = item_candidate(p)
        assert p[BLURB_HASH] == blurb_hash(source_key(item), local_llm.name)
        if p.get(BLURB) is None:  # failed its checks: the hash alone, so it is not asked again
            assert item_id in {f.item_id for f in first.failures + rest.failures}
        else:
            assert check(p[BLURB], item, [], vocabulary, settings).ok, p[BLURB]
            assert p[BLURB] == item_candidate(p).payload[BLURB]  # the blurb is public: clients see it
    described = [i for i, p in stored.items() if p.get(BLURB)]
    assert len(described) == first.described + rest.described >= 1

    again = run(settings, local_llm)
    assert (again.described, again.failed, again.skipped) == (0, 0, 6)
    assert payloads(settings) == stored

    forced = run(settings, local_llm, force=True, limit=1)
    assert (forced.described + forced.failed, forced.skipped) == (1, 0)


def test_an_item_changed_by_ingest_loses_its_blurb_and_only_it_is_described_again(tmp_path, embedder, local_llm):
    settings = tiny_catalog(tmp_path, embedder, n=3, describe_catalog_batch=3)
    run(settings, local_llm)
    before = payloads(settings)
    rows = [json.loads(line) for line in (tmp_path / "movies.jsonl").read_text().splitlines()]
    rows[1]["tags"] = ["board game", "jungle"]
    changed = tmp_path / "changed.jsonl"
    changed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = open_store(settings)
    try:
        ingest(changed, demo_options(), settings=settings, store=store, embedder=embedder)
    finally:
        store.close()
    after_ingest = payloads(settings)
    moved = str(rows[1]["movieId"])
    assert BLURB not in after_ingest[moved] and BLURB_HASH not in after_ingest[moved]  # no blurb of the old facts
    assert all(after_ingest[i].get(BLURB_HASH) == before[i][BLURB_HASH] for i in before if i != moved)

    report = run(settings, local_llm)
    assert (report.described + report.failed, report.skipped) == (1, 2)


def test_an_llm_that_fails_fails_each_item_with_its_reason_and_stores_nothing(tmp_path, embedder):
    settings = tiny_catalog(tmp_path, embedder, n=3, llm="openai", llm_base_url="http://127.0.0.1:9/v1",
                            llm_timeout=2.0, llm_retries=0)
    for _ in range(2):  # nothing stored, so the next run asks again
        report = run(settings, get_llm(settings))
        assert (report.described, report.failed, report.skipped) == (0, 3, 0)
        assert all(f.reason.startswith(("connection", "timeout", "error")) for f in report.failures), report.failures
    assert all(BLURB_HASH not in p for p in payloads(settings).values())


def test_the_fallback_description_uses_the_catalog_blurb(gen_settings, candidates, history):
    """With no LLM (or a failing one, or a description that fails its checks), the template carries the blurb."""
    blurb = f"{candidates[0].title} is a board game come to life."
    with_blurb = candidates[0].model_copy(update={"payload": {**candidates[0].payload, BLURB: blurb}})
    described = Describer(NoLLM(), gen_settings).describe(History(), [with_blurb, candidates[1]])
    assert described[0].description_source == "catalog" and described[0].description.endswith(": " + blurb)
    assert described[0].description.startswith("Because you liked ")
    assert described[1].description_source == "template" and blurb not in described[1].description


def test_the_command_reports_and_refuses_what_it_cannot_do(tmp_path, embedder, local_llm):
    settings = tiny_catalog(tmp_path, embedder, n=2)
    env = {"RAGREC_LLM_CACHE_DIR": str(settings.llm_cache_dir), "RAGREC_DESCRIBE_CATALOG_BATCH": "2"}
    base = ["--data-dir", str(settings.data_dir), "describe-catalog"]
    result = runner.invoke(app, base + ["--json", "--limit", "1"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert (report["items"], report["described"] + report["failed"]) == (1, 1)
    assert report["model"] == settings.llm_model

    none = runner.invoke(app, base + ["--llm", "none"], env=env)
    assert none.exit_code == 2 and "describe-catalog needs an LLM" in none.output
    both = runner.invoke(app, base + ["--export", "a.jsonl", "--from-file", "b.jsonl"], env=env)
    assert both.exit_code == 2 and "not both" in both.output
    missing = runner.invoke(app, base + ["--from-file", str(tmp_path / "nope.jsonl")], env=env)
    assert missing.exit_code == 1 and "no such file" in missing.output  # an unusable file, as for ingest

