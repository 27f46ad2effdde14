"""Shared fixtures: one real MiniLM per test session, and one demo catalog ingested into Qdrant Edge."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ragrec.config import Settings  # noqa: E402
from ragrec.demo import DEMO_CATALOG, demo_options  # noqa: E402
from ragrec.embedding import get_embedder  # noqa: E402
from ragrec.ingestion import IngestReport, ingest  # noqa: E402
from ragrec.store import open_store  # noqa: E402
from ragrec.store.edge import EdgeStore  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
MOVIELENS = SHARED / "movielens-latest-small"
GOODBOOKS = SHARED / "goodbooks-10k"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real dataset not found at {path} (the shared datasets folder is absent on this machine)")
    return path


# Seconds per file from a two-worker run on 2 cores (`make test PYTEST_ADDOPTS=--durations=0`: each file's setup,
# call and teardown times summed, a setup capped at 20 s, as a wait for the shared demo catalog is not the file's own)
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_collection_modifyitems(config, items):
    """The order files run in; pytest-xdist hands whole files out in this order (`--no-loadscope-reorder`). The
    longest file that needs the ingested demo catalog (`demo_catalog`, 1-3 min to make) comes first, so that one
    worker makes the catalog at once, and the longest file that does not comes next, for the other worker
    meanwhile; then the longest first, so that the run ends on short files on both workers. Durations come from
    tests/durations.json (a file not in it: a second per test); a stale one only costs time."""
    known = json.loads(DURATIONS.read_text(encoding="utf-8")) if DURATIONS.exists() else {}
    root = Path(__file__).parent
    counts = Counter(item.path for item in items)
    seconds = {path: known.get(path.relative_to(root).as_posix(), counts[path]) for path in counts}
    needs = {item.path for item in items if "demo_catalog" in getattr(item, "fixturenames", ())}
    longest = [max(group, key=seconds.get) for group in (needs, set(counts) - needs) if group]
    items.sort(key=lambda item: (longest.index(item.path) if item.path in longest else len(longest),
                                 -seconds[item.path], str(item.path)))  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def embedder():
    return get_embedder(Settings())


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings):
    s = EdgeStore(settings.data_dir)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def demo_movies() -> list[dict]:
    with open(DEMO_CATALOG, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory) -> Path:
    """The demo catalog ingested once per test run into Qdrant Edge as ragrec opens it by default (HNSW), with the
    code defaults (no RAGREC_* variables, no .env): a closed data dir (`data/`, with the ingest's `report.json`
    beside it) that fixtures copy, never open. The ingest takes 1-3 min on 2 shared cores; under pytest-xdist the
    first worker to need it makes it and the others wait on a file lock, instead of every worker ingesting its own."""
    from filelock import FileLock

    from ragrec.evaluation.pipeline import ensure_catalog

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's folder, shared by workers
    made = root / "demo-catalog"
    with FileLock(root / "demo-catalog.lock"):
        if not (made / "report.json").exists():
            shutil.rmtree(made, ignore_errors=True)  # what a worker that failed half way left
            with pytest.MonkeyPatch.context() as mp:
                for key in [k for k in os.environ if k.startswith("RAGREC_")]:
                    mp.delenv(key)
                mp.chdir(root)
                report = ensure_catalog(made / "data")
            (made / "report.json").write_text(report.model_dump_json(), encoding="utf-8")
    return made


def copy_catalog(made: Path, data_dir: Path) -> IngestReport:
    """A private copy of the ingested demo catalog at `data_dir`: the report of the ingest that made it."""
    shutil.copytree(made / "data", data_dir)
    return IngestReport.model_validate_json((made / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def demo(tmp_path_factory, demo_catalog):
    """The whole demo catalog in Qdrant Edge, this worker's copy, open for the session: (settings, store, the
    ingest's report)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("demo") / "data")
    report = copy_catalog(demo_catalog, settings.data_dir)
    store = open_store(settings)
    try:
        yield settings, store, report
    finally:
        store.close()


def private_copy(store, source: str, alias: str) -> str:
    """A copy of collection `source` (a name or an alias) behind `alias`, with the source's generation number (so
    a later reindex or ingest names its next generation as it would have); drop it with
    `store.drop_collection(alias)`."""
    physical = store.resolve(source) or source
    generation = physical.rsplit("-g", 1)[1] if "-g" in physical else "1"
    store.clone_collection(physical, f"{alias}-g{generation}")
    store.set_alias(alias, f"{alias}-g{generation}")
    return alias


def private_items(store, source: str = "items") -> str:
    """A private copy of the shared demo items (or of `source`) behind the alias `items-<id>`, for a test that
    changes them."""
    import uuid

    return private_copy(store, source, f"items-{uuid.uuid4().hex[:8]}")


# --- the bundled LLM and a real OpenAI-compatible server (tests/generation, tests/api) ---------------------------
REPO = Path(__file__).resolve().parents[1]
MODEL_CACHE = Path(os.environ.get("RAGREC_TEST_MODEL_CACHE", REPO / ".cache" / "models"))


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The converted bundled model (~20 s the first time on a clean clone, then reused)."""
    from ragrec.generation.models import BUNDLED_SMOLLM2, resolve_llm_model

    return resolve_llm_model(BUNDLED_SMOLLM2, MODEL_CACHE)


@pytest.fixture(scope="session")
def local_llm(model_dir, tmp_path_factory):
    from ragrec.generation.local import LocalLLM

    llm = LocalLLM(Settings(data_dir=tmp_path_factory.mktemp("llm"), llm_cache_dir=MODEL_CACHE))
    llm.warm()
    return llm


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(model_dir: Path, port: int, timeout: float = 120.0) -> subprocess.Popen:
    """`transformers serve MODEL_DIR --device cpu` on 127.0.0.1:port, ready (model loaded) or killed."""
    from ragrec.generation.local import resolve_dtype

    cmd = [sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve", str(model_dir),
           "--device", "cpu", "--dtype", resolve_dtype("auto"), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}  # 1 thread: the 2 cores are shared
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                # a first tiny request loads the model, so the tests do not pay for it
                r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60, json={
                    "model": str(model_dir), "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
                if r.status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"transformers serve not ready on port {port} after {timeout} s")
    except BaseException:
        stop(proc)
        raise


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def server(model_dir):
    """One real `transformers serve` per session: (base_url, model name it expects)."""
    port = free_port()
    proc = start_serve(model_dir, port)
    try:
        yield f"http://127.0.0.1:{port}/v1", str(model_dir)
    finally:
        stop(proc)




def tiny_catalog(root: Path, embedder, n: int = 6, **settings) -> Settings:
    """The first `n` movies of the demo catalog ingested into a fresh data dir under `root` (store closed again,
    so a CLI command in the same process can open it): its Settings."""
    import itertools

    subset = root / "movies.jsonl"
    with open(DEMO_CATALOG, encoding="utf-8") as src:
        subset.write_text("".join(itertools.islice(src, n)), encoding="utf-8")
    s = Settings(data_dir=root / "data", llm_cache_dir=MODEL_CACHE, **settings)
    store = open_store(s)
    try:
        ingest(subset, demo_options(), settings=s, store=store, embedder=embedder)
    finally:
        store.close()
    return s
