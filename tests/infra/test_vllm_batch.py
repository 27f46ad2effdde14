"""infra/vllm/describe_catalog.py, the offline catalog-blurb batch for a GPU box: what can be checked without vLLM.
The script imports only vLLM and the standard library and uses vLLM >= 0.12's API; its lines round-trip through
`ragrec describe-catalog --export` and `--from-file`, where every blurb is checked before it is stored."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys

from typer.testing import CliRunner

from conftest import tiny_catalog
from ragrec.cli import app
from ragrec.generation import prompts as P
from ragrec.generation.catalog import item_candidate
from ragrec.schema import BLURB
from ragrec.store import open_store
from tests.infra.conftest import INFRA

SCRIPT = INFRA / "vllm" / "describe_catalog.py"
runner = CliRunner()


def load_script():
    """The script as a module: its helpers import nothing from vLLM (main() does)."""
    spec = importlib.util.spec_from_file_location("describe_catalog", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_imports_only_vllm_and_the_standard_library_and_uses_the_current_api():
    tree = ast.parse(SCRIPT.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"vllm"}, imported
    from_vllm = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and n.module.startswith("vllm") for a in n.names}
    assert from_vllm == {("vllm", "LLM"), ("vllm", "SamplingParams"),
                         ("vllm.sampling_params", "StructuredOutputsParams")}
    calls = {(c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", None)): c
             for c in ast.walk(tree) if isinstance(c, ast.Call)}
    assert "chat" in calls and "generate" not in calls  # LLM.chat applies the model's chat template
    assert {k.arg for k in calls["SamplingParams"].keywords} >= {"structured_outputs", "max_tokens", "temperature"}
    assert [k.arg for k in calls["StructuredOutputsParams"].keywords] == ["json"]
    assert "GuidedDecodingParams" not in SCRIPT.read_text().replace("`GuidedDecodingParams` (vLLM < 0.12)", "")


def test_blurbs_from_the_offline_batch_are_checked_then_stored_and_an_import_is_idempotent(tmp_path, embedder):
    script = load_script()
    settings = tiny_catalog(tmp_path, embedder, n=5)
    base = ["--data-dir", str(settings.data_dir), "describe-catalog"]
    prompts, blurbs = tmp_path / "prompts.jsonl", tmp_path / "blurbs.jsonl"
    exported = runner.invoke(app, base + ["--export", str(prompts), "--model", "big-model", "--json"])
    assert exported.exit_code == 0, exported.output
    records = list(script.read_prompts(prompts))
    assert len(records) == 5 and records[0]["schema"]["required"] == ["description"]
    assert records[0]["messages"][0]["role"] == "system" and "JSON" in records[0]["messages"][-1]["content"]

    store = open_store(settings)
    try:
        items = {r.payload["item_id"]: item_candidate(r.payload) for r in store.scroll(settings.items_collection)}
    finally:
        store.close()

    def grounded(item_id: str, year_shift: int = 0) -> str:
        facts = P.item_facts(items[item_id])
        facts["year"] += year_shift
        return json.dumps({"description": P.facts_sentence(facts)})

    by_id = {r["item_id"]: r for r in records}
    answers = {"1": grounded("1"), "2": grounded("2", year_shift=7), "3": '{"description": "Grumpier Old'}
    with open(blurbs, "w") as out:  # what the script writes for each vLLM answer
        for item_id, text in answers.items():
            out.write(json.dumps(script.result_line(by_id[item_id], text, "big-model")) + "\n")
        stale = {**by_id["4"], "key": "0" * 32}  # exported before the item changed
        out.write(json.dumps(script.result_line(stale, grounded("4"), "big-model")) + "\n")
        out.write(json.dumps({"item_id": "999999", "key": "0", "model": "big-model", "description": "x"}) + "\n")
        out.write('{"item_id": "5", "key"\n')  # cut off by a kill
    assert script.done_items(blurbs) == {"1", "2", "3", "4", "999999"}  # a restarted run asks only for item 5

    report = _json(runner.invoke(app, base + ["--from-file", str(blurbs), "--json"]))
    assert (report["described"], report["failed"], report["skipped"], report["model"]) == (1, 5, 0, "big-model")
    reasons = {f["item_id"]: f["reason"] for f in report["failures"]}
    assert reasons["2"] == "failed its checks: year"
    assert reasons["3"].startswith("bad_output: not the JSON asked for")
    assert "changed since its prompt was exported" in reasons["4"]
    assert reasons["999999"] == "no such item in the catalog" and reasons["line 6"].startswith("not a blurb line")
    assert "Invalid JSON" in reasons["line 6"]
    store = open_store(settings)
    try:
        stored = {r.payload["item_id"]: r.payload for r in store.scroll(settings.items_collection)}
    finally:
        store.close()
    assert stored["1"][BLURB] == json.loads(answers["1"])["description"] and not stored["2"].get(BLURB)

    again = _json(runner.invoke(app, base + ["--from-file", str(blurbs), "--json"]))
    assert (again["described"], again["skipped"]) == (0, 2)  # item 1, and item 2's failed check, are not redone
    reexport = _json(runner.invoke(app, base + ["--export", str(prompts), "--model", "big-model", "--json"]))
    assert (reexport["described"], reexport["skipped"]) == (3, 2)  # only items 3, 4, 5 still to write


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):])
