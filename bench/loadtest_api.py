"""Bounded load test of the reply-gate API: N requests of ~300-character Google review replies,
C at a time, against 127.0.0.1; prints p50/p95/p99 latency, throughput, errors and verdicts.

    .venv/bin/python bench/loadtest_api.py                      # starts its own server (temp data home)
    .venv/bin/python bench/loadtest_api.py --workers 1 --concurrency 4
    .venv/bin/python bench/loadtest_api.py --url http://127.0.0.1:8080 --key msk_...   # an existing server

Every reply is different (no caching can help); about a third confirm a visit or name a treatment.
When it starts its own server it creates a key with a high rate limit, so the limiter is not measured.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

OPENERS = ["Thank you so much for the kind words!", "We truly appreciate you taking the time to write this.",
           "What a lovely review to read this morning.", "Thank you for sharing your feedback with us.",
           "We are so happy to hear this!", "Thanks a million for this thoughtful review."]
MIDDLES = ["Our whole team works hard to make every guest feel welcome and comfortable.",
           "Creating a calm, friendly space is something we care about every single day.",
           "It means a great deal to our staff to know the atmosphere feels relaxing.",
           "Feedback like this helps other people find us and keeps our team motivated.",
           "We pass every comment along to the team so they know their work is noticed."]
CLOSERS = ["If there is ever anything we can do, please call our office.", "Warm regards from all of us.",
           "Please reach out to our front desk any time you have a question.", "Have a wonderful week!"]
RISKY = ["See you at your next Botox touch-up, {name}!", "So glad your lip filler healed so nicely, {name}.",
         "Great having you in last Tuesday for your laser session!", "{name}, your results after the peel look amazing."]
NAMES = ["Sarah", "Priya", "Dana", "Maria", "Jen", "Alex", "Chris", "Taylor"]
REVIEWS = ["Loved my visit, the staff were so sweet!", "Got Botox with Dr. Kim, so happy with it.",
           "Best lip filler experience ever.", "Clean, calm, friendly. Highly recommend.", "The facial was amazing."]


def make_reply(i: int, rng: random.Random, chars: int, risky_share: float) -> dict:
    parts = [rng.choice(OPENERS)]
    if rng.random() < risky_share:
        parts.append(rng.choice(RISKY).format(name=rng.choice(NAMES)))
    while len(" ".join(parts)) < chars - 40:
        parts.append(rng.choice(MIDDLES + CLOSERS))
    text = " ".join(parts)[: chars - 8] + f" #{i:05d}"
    return {"id": f"load-{i}", "kind": "reply", "channel": "google", "text": text,
            "in_reply_to": rng.choice(REVIEWS), "author": f"{rng.choice(NAMES)} {chr(65 + i % 26)}."}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int, home: Path | None = None, db: str | None = None,
                 key: str | None = None) -> tuple[subprocess.Popen, str, str, Path]:
    """A server in a temporary data home, or in `home` on store `db` (a URL) with `key` (several servers
    sharing one store: the first creates the key, the others reuse it)."""
    home = home or Path(tempfile.mkdtemp(prefix="medspa-loadtest-"))
    env = {**os.environ, "MEDSPA_SCAN_HOME": str(home), **({"MEDSPA_SCAN_DB": db} if db else {})}
    if key is None:
        made = subprocess.run([sys.executable, "-m", "scanner", "apikeys", "create", "loadtest", "--rate-limit",
                               "1000000"], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        key = made.stdout.strip().splitlines()[-1]
    port = free_port()
    log = (home / f"server-{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            sys.exit(f"server exited; see {log.name}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit("server did not start in 180 s")
        time.sleep(0.3)
    return proc, url, key, home


async def run_load(url: str, key: str, payloads: list[dict], concurrency: int) -> tuple[list[float], dict, list[str], float]:
    latencies: list[float] = []
    verdicts: dict[str, int] = {}
    errors: list[str] = []
    queue = iter(payloads)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                                 limits=limits) as client:

        async def worker() -> None:
            for payload in queue:
                started = time.perf_counter()
                try:
                    r = await client.post("/v1/check", json=payload)
                    elapsed = time.perf_counter() - started
                    if r.status_code == 200:
                        latencies.append(elapsed)
                        v = r.json()["verdict"]
                        verdicts[v] = verdicts.get(v, 0) + 1
                    else:
                        errors.append(f"HTTP {r.status_code}")
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return latencies, verdicts, errors, wall


def pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100 * len(sorted_vals) + 0.5) - 1))
    return sorted_vals[k] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--chars", type=int, default=300, help="reply length in characters")
    ap.add_argument("--risky-share", type=float, default=0.33, help="share of replies that confirm a visit")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server workers (own server only)")
    ap.add_argument("--warmup", type=int, default=40, help="requests sent first and not measured")
    ap.add_argument("--url", help="test this server instead of starting one")
    ap.add_argument("--key", default=os.environ.get("MEDSPA_SCAN_API_KEY"), help="API key for --url")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    rng = random.Random(7)
    payloads = [make_reply(i, rng, args.chars, args.risky_share) for i in range(args.requests + args.warmup)]
    proc = None
    if args.url:
        if not args.key:
            sys.exit("--key (or MEDSPA_SCAN_API_KEY) is needed with --url")
        url, key = args.url.rstrip("/"), args.key
    else:
        proc, url, key, home = start_server(args.workers)
        print(f"server: {args.workers} worker(s) on {url}, data home {home}")
    try:
        asyncio.run(run_load(url, key, payloads[: args.warmup], args.concurrency))
        lat, verdicts, errors, wall = asyncio.run(run_load(url, key, payloads[args.warmup:], args.concurrency))
        # single-request latency (no queueing), for comparison
        solo, _, solo_err, _ = asyncio.run(run_load(url, key, payloads[:50], 1))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    lat.sort()
    solo.sort()
    n = len(lat) + len(errors)
    figures = {
        "requests": n, "concurrency": args.concurrency, "reply_chars": args.chars,
        "server_workers": None if args.url else args.workers, "cpus": os.cpu_count(),
        "wall_s": round(wall, 2), "throughput_rps": round(n / wall, 1),
        "p50_ms": round(pct(lat, 50), 1), "p95_ms": round(pct(lat, 95), 1), "p99_ms": round(pct(lat, 99), 1),
        "max_ms": round(lat[-1] * 1000, 1) if lat else None, "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
        "errors": len(errors) + len(solo_err), "error_kinds": sorted(set(errors + solo_err)),
        "verdicts": verdicts,
        "solo_p50_ms": round(pct(solo, 50), 1), "solo_p95_ms": round(pct(solo, 95), 1),
    }
    print(f"{n} requests, {args.concurrency} concurrent, {args.chars}-character replies, "
          f"{figures['server_workers'] or '?'} server worker(s) on {os.cpu_count()} CPU(s)")
    print(f"  throughput  {figures['throughput_rps']} requests/s ({figures['wall_s']} s)")
    print(f"  latency     p50 {figures['p50_ms']} ms   p95 {figures['p95_ms']} ms   p99 {figures['p99_ms']} ms   "
          f"max {figures['max_ms']} ms")
    print(f"  one at a time (no queueing): p50 {figures['solo_p50_ms']} ms   p95 {figures['solo_p95_ms']} ms")
    print(f"  errors      {figures['errors']} {figures['error_kinds'] or ''}")
    print(f"  verdicts    {verdicts}")
    if args.json:
        print(json.dumps(figures))
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
