"""A chain's API set-up against the single-spa one, in one run: reply-gate throughput of 1 server on the
SQLite file vs 2 servers on one PostgreSQL database (each server `--workers 1`; the load is split
evenly between the two, as a reverse proxy would), and 1 server on PostgreSQL for reference.

    .venv/bin/python bench/bench_chain.py [--requests 600] [--concurrency 8]

PostgreSQL is a throw-away cluster started here (Debian's binaries, tests/_pg.py). Every request is a
different ~300-character Google review reply (bench/loadtest_api.py), and every check is stored.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from loadtest_api import make_reply, pct, run_load, start_server  # noqa: E402

from tests._pg import PgServer, PgUnavailable  # noqa: E402


async def _split(urls: list[str], key: str, payloads: list[dict], concurrency: int) -> tuple[list[float], int, float]:
    """The payloads dealt round-robin to the servers, each with its share of the concurrency, all at once."""
    t0 = time.perf_counter()
    parts = await asyncio.gather(*(run_load(u, key, payloads[i::len(urls)], max(1, concurrency // len(urls)))
                                   for i, u in enumerate(urls)))
    wall = time.perf_counter() - t0
    return sorted(x for lat, _, _, _ in parts for x in lat), sum(len(e) for _, _, e, _ in parts), wall


def measure(label: str, servers: int, db: str | None, payloads: list[dict], warmup: int, concurrency: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="medspa-chain-"))
    procs, urls, key = [], [], None
    try:
        for _ in range(servers):
            proc, url, key, _home = start_server(1, home=home, db=db, key=key)
            procs.append(proc)
            urls.append(url)
        assert key is not None
        asyncio.run(_split(urls, key, payloads[:warmup], concurrency))
        lat, errors, wall = asyncio.run(_split(urls, key, payloads[warmup:], concurrency))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    n = len(payloads) - warmup
    row = {"set-up": label, "rps": n / wall, "p50": pct(lat, 50), "p95": pct(lat, 95), "errors": errors}
    print(f"  {label:<34} {row['rps']:6.1f} requests/s   p50 {row['p50']:6.1f} ms   p95 {row['p95']:6.1f} ms   "
          f"errors {errors}", flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=30)
    args = ap.parse_args()
    rng = random.Random(11)
    payloads = [make_reply(i, rng, 300, 0.33) for i in range(args.requests + args.warmup)]
    try:
        pg = PgServer()
    except PgUnavailable as exc:
        print(f"bench_chain: PostgreSQL unavailable ({exc})")
        return 2
    print(f"{args.requests} checks, {args.concurrency} concurrent, {os.cpu_count()} CPU(s); "
          "each server 1 worker; every check stored")
    try:
        rows = [measure("1 server, SQLite", 1, None, payloads, args.warmup, args.concurrency),
                measure("1 server, PostgreSQL", 1, pg.create_db("bench"), payloads, args.warmup, args.concurrency),
                measure("2 servers, one PostgreSQL", 2, pg.create_db("bench"), payloads, args.warmup,
                        args.concurrency)]
    finally:
        pg.stop()
    print(f"  2 servers on PostgreSQL vs 1 on SQLite: {rows[2]['rps'] / rows[0]['rps']:.2f}x the throughput")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
