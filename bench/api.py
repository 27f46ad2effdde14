"""HTTP API benchmark on 127.0.0.1: a real `ragrec serve` process, and a load generator in another process.

    python -m bench.api [--requests 4000] [--clients 20] [--explain-requests 40]

Scenarios, on a copy of the demo catalog with 300 warm users (a reindex trained their collab vectors):
- recommendations without the LLM, closed loop: `--clients` concurrent clients, each sending its next request when
  the last one is answered, `--requests` in all (bounded in time too): the server's maximum rate. By Little's law
  the mean latency is then clients / rate: 20 clients at 200 requests/s wait 100 ms on average, so "p99 <= 50 ms"
  at 20 clients needs >= 400 requests/s;
- the same, open loop: Poisson arrivals at each of `--rates` requests/s for `--open-seconds`, latency from the
  scheduled arrival: the latency at a given load, the honest test of a latency target at a rate;
- the same with rerank and descriptions on the local model (`explain`, `rerank`): fewer requests;
- the chat stream: time to the first item and to the first description event;
- cold start: from starting `ragrec serve` to /readyz answering 200, models cached, with the torch embedding backend
  (the default) and onnx (its export made by a first start).
Latencies are medians and 99th percentiles of one run; requests/s over the wall time of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np

from ragrec.config import Settings
from ragrec.demo import DEMO_CATALOG, demo_options
from ragrec.events.models import Event

KEY = "bench-key"
MODELS = Path(__file__).resolve().parents[1] / ".cache" / "models"  # the converted LLM, shared with the tests
HEADERS = {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work: Path) -> Path:
    """A data dir with the demo catalog and 300 users with 30 likes each, reindexed (cached in bench/.cache)."""
    cached = Path(__file__).parent / ".cache" / "api-demo"
    if not (cached / "ready").exists():
        from ragrec.ingestion import ingest
        from ragrec.recommender import Recommender

        shutil.rmtree(cached, ignore_errors=True)
        settings = Settings(data_dir=cached / "data", llm="none")
        ingest(DEMO_CATALOG, demo_options(), settings=settings)
        rec = Recommender(settings)
        ids = [r.payload["item_id"] for r in rec.store.scroll("items", payload=["item_id"])]
        rng = random.Random(5)
        t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
        rec.log.append([Event(event_id=f"u{u}-{i}", user_id=f"u{u}", item_id=rng.choice(ids), type="like",
                              timestamp=t0 + timedelta(minutes=i)) for u in range(300) for i in range(30)],
                       known_items=set)
        rec.reindex()
        rec.close()
        (cached / "ready").write_text("ok")
    shutil.copytree(cached / "data", work / "data")
    return work / "data"


def start(data: Path, port: int, llm: str, embedding: str = "torch") -> tuple[subprocess.Popen, float]:
    """`ragrec serve` on the data dir; seconds until /readyz said 200."""
    env = {**os.environ, "RAGREC_DATA_DIR": str(data), "RAGREC_API_KEYS": json.dumps({KEY: "admin"}),
           "RAGREC_LLM": llm, "HF_HUB_OFFLINE": "1", "RAGREC_LLM_CACHE_DIR": str(MODELS),
           "RAGREC_EMBEDDING_BACKEND": embedding}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ragrec.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def load(url: str, clients: int, requests: int, seconds: float, body) -> dict:
    latencies, errors = [], []
    counter = iter(range(requests))

    async def client(c: httpx.AsyncClient) -> None:
        for n in counter:
            t = time.perf_counter()
            r = await c.post(f"{url}/v1/recommendations", json=body(n), headers=HEADERS)
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                errors.append(r.status_code)
            if time.perf_counter() - started > seconds:
                return

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=300) as c:
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "errors": len(errors), "rps": len(ms) / wall, "p50": float(np.median(ms)),
            "p99": float(np.percentile(ms, 99))}


async def open_loop(url: str, rate: float, seconds: float, body) -> dict:
    """Requests arrive at `rate` per second (Poisson arrivals, seeded) for `seconds`, whatever the server's pace:
    each one's latency counts from its scheduled arrival, so a server that falls behind shows it in the latency
    (no coordinated omission), unlike the closed loop, where a slow server slows the clients down."""
    arrivals = np.cumsum(np.random.default_rng(0).exponential(1 / rate, int(rate * seconds)))
    latencies, errors = [], []

    async def one(c: httpx.AsyncClient, n: int, at: float) -> None:
        await asyncio.sleep(max(0.0, started + at - time.perf_counter()))
        try:
            r = await c.post(f"{url}/v1/recommendations", json=body(n), headers=HEADERS)
        except httpx.TransportError as exc:  # counted, not fatal: a server that cannot keep up may drop connections
            errors.append(type(exc).__name__)
            return
        latencies.append(time.perf_counter() - (started + at))
        if r.status_code != 200:
            errors.append(r.status_code)

    # idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them under a request
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=1)
    async with httpx.AsyncClient(limits=limits, timeout=300) as c:
        started = time.perf_counter()
        await asyncio.gather(*(one(c, n, at) for n, at in enumerate(arrivals)))
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "errors": len(errors), "rps": len(ms) / wall, "p50": float(np.median(ms)),
            "p99": float(np.percentile(ms, 99))}


async def chat_stream(url: str, message: str) -> dict:
    """Seconds from the request to the first item event and to the first description event."""
    first_item = first_description = None
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=300) as c:
        async with c.stream("POST", f"{url}/v1/chat", headers=HEADERS,
                            json={"message": message, "user_id": "u1", "k": 5}) as r:
            async for line in r.aiter_lines():
                if line.startswith("event: item") and first_item is None:
                    first_item = time.perf_counter() - started
                elif line.startswith("event: description") and first_description is None:
                    first_description = time.perf_counter() - started
    return {"first_item": first_item, "first_description": first_description, "total": time.perf_counter() - started}


def row(name: str, r: dict) -> str:
    return f"| {name} | {r['requests']:,} | {r['errors']} | {r['rps']:.3g} | {r['p50']:.1f} | {r['p99']:.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--explain-requests", type=int, default=40)
    ap.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",") if x], default=[50.0, 100.0, 200.0],
                    help="open-loop arrival rates (requests/s), comma-separated; empty: none")
    ap.add_argument("--open-seconds", type=float, default=20, help="how long each open-loop rate runs")
    ap.add_argument("--no-llm", action="store_true", help="only the scenarios without the LLM (and cold start)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragrec-bench-api-"))
    try:
        data = prepare(work)
        users = [f"u{u}" for u in range(300)]
        rows = []

        port = free_port()
        proc, _ = start(data, port, "none")
        url = f"http://127.0.0.1:{port}"

        def plain(n: int) -> dict:
            return {"user_id": users[n % 300], "k": 10}

        try:
            asyncio.run(load(url, 4, 100, 30, plain))  # warm-up
            cpu, client_cpu = cpu_seconds(proc.pid), time.process_time()
            r = asyncio.run(load(url, args.clients, args.requests, args.seconds, plain))
            cpu_ms = (cpu_seconds(proc.pid) - cpu) * 1000 / r["requests"]
            client_ms = (time.process_time() - client_cpu) * 1000 / r["requests"]  # the load generator's share
            rows.append(row(f"recommendations k=10, no LLM, {args.clients} clients (closed loop)", r))
            for rate in args.rates:
                r = asyncio.run(open_loop(url, rate, args.open_seconds, plain))
                rows.append(row(f"recommendations k=10, no LLM, Poisson arrivals at {rate:g}/s (open loop)", r))
        finally:
            stop(proc)

        sse = []
        if not args.no_llm:
            port = free_port()
            proc, _ = start(data, port, "local")
            url = f"http://127.0.0.1:{port}"
            try:
                r = asyncio.run(load(url, args.clients, args.explain_requests, args.seconds * 10,
                                     lambda n: {"user_id": users[n % 300], "k": 5, "explain": True, "rerank": True}))
                rows.append(row(f"k=5 with rerank + descriptions (local LLM), {args.clients} clients", r))
                sse = [asyncio.run(chat_stream(url, m)) for m in ("something like Toy Story", "comedies from the 90s",
                                                                   "scary movies", "space opera", "like Heat")]
            finally:
                stop(proc)
        colds = {}
        for llm in ("none",) if args.no_llm else ("none", "local"):
            for embedding in ("torch", "onnx"):
                stop(start(data, free_port(), llm, embedding)[0])  # the first onnx start exports the model
                colds[llm, embedding] = []
                for _ in range(3):  # models cached (converted or exported before)
                    proc, seconds = start(data, free_port(), llm, embedding)
                    stop(proc)
                    colds[llm, embedding].append(seconds)

        print("\n127.0.0.1, load generator in a second process, demo catalog (9,742 items):\n")
        print("| scenario | requests | errors | requests/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
        print(f"\nCPU per request in the closed loop: server {cpu_ms:.1f} ms, this load generator {client_ms:.1f} ms "
              f"(both on this machine's {os.cpu_count()} cores)")
        if sse:
            print("\nchat stream (local LLM, k=5): seconds to the first item / first description / whole answer: "
                  + "; ".join(f"{s['first_item']:.2f} / {s['first_description']:.2f} / {s['total']:.2f}"
                              for s in sse))
        for (llm, embedding), seconds in colds.items():
            print(f"\nserve cold start to ready, llm {llm}, embedding backend {embedding}, models cached: "
                  f"{', '.join(f'{c:.1f}' for c in seconds)} s (median {np.median(seconds):.1f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
