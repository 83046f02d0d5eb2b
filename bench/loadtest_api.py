"""Bounded load test of the reply-gate API: starts `medspa-scan serve` on 127.0.0.1 with a fresh
store, sends N requests (default 2,000) with C concurrent clients (default 16) of ~300-character
replies, prints p50/p95/p99 latency, throughput and errors.

Run: .venv/bin/python bench/loadtest_api.py [--n 2000] [--c 16] [--workers 2]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
REPLIES = [
    "Thank you so much for the wonderful review! Our whole team truly appreciates you taking the time to share "
    "your thoughts with our community. We work hard to make every visit to our office warm and welcoming, and "
    "reviews like yours mean the world to us. Please reach out anytime at our office if we can ever help!",
    "Thanks Sarah! So glad you loved your lip filler, and we can't wait to see you at your touch-up in three "
    "weeks. Taylor says hi! Remember to keep icing for ten minutes at a time tonight and avoid the gym until "
    "tomorrow. Your results look amazing and we're so happy you trusted us with your first filler appointment.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run(base: str, key: str, n: int, c: int) -> tuple[list[float], int]:
    lat: list[float] = []
    errors = 0
    sem = asyncio.Semaphore(c)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as cl:
        async def one(i: int) -> None:
            nonlocal errors
            async with sem:
                t = time.perf_counter()
                try:
                    r = await cl.post("/v1/check", json={"id": f"lt{i}", "kind": "reply", "channel": "google",
                                                         "text": REPLIES[i % 2], "in_reply_to": "Love this place!"})
                    if r.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                lat.append((time.perf_counter() - t) * 1000)
        await asyncio.gather(*(one(i) for i in range(n)))
    return lat, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--c", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    home = tempfile.mkdtemp()
    env = dict(os.environ, MEDSPA_SCAN_HOME=home)
    exe = [sys.executable, "-m", "scanner"]
    key = subprocess.run([*exe, "apikeys", "create", "loadtest"], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    srv = subprocess.Popen([*exe, "serve", "--port", str(port), "--workers", str(a.workers)], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).json().get("rule_pack"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        asyncio.run(run(base, key, 50, a.c))  # warm every worker
        t = time.perf_counter()
        lat, errors = asyncio.run(run(base, key, a.n, a.c))
        wall = time.perf_counter() - t
        lat.sort()

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))]
        print(f"{a.n} requests, {a.c} concurrent, {a.workers} workers: p50 {pct(.5):.0f} ms  p95 {pct(.95):.0f} ms  "
              f"p99 {pct(.99):.0f} ms  throughput {a.n / wall:.0f} req/s  errors {errors}")
    finally:
        srv.terminate()
        srv.wait(timeout=20)


if __name__ == "__main__":
    main()
