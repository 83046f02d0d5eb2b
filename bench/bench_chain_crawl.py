"""A chain's weekly crawl: a sources.yaml with 200 locations (each its Facebook page, Instagram account,
Google Business Profile, blog feed and website: 1,000 sources), served by the crawl fixture server on
127.0.0.1 (tests/fixtures/crawl/server.py, every location under its own path with the fixtures' posts,
comments, reviews, replies, pages and pictures), crawled end to end by `medspa-scan crawl` in its own
process. Prints the wall time, items per second, and the peak resident memory of the crawl process and of
its whole process tree (the scan's forked workers included; shared pages count once a process); then a
second crawl of the unchanged chain.

    .venv/bin/python bench/bench_chain_crawl.py [--locations 200] [--concurrency 4]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fixtures.crawl.server import TOKEN, FixtureServer, standard_routes  # noqa: E402


def location_sources(base: str, k: int) -> list[dict]:
    """The five sources of location K, as a chain lists them in sources.yaml."""
    at = f"{base}/loc{k}"
    return [
        {"name": f"loc{k}-fb", "type": "facebook_page", "page_id": "lumamedspa", "base_url": f"{at}/graph",
         "token_env": "SPA_GRAPH_TOKEN"},
        {"name": f"loc{k}-ig", "type": "instagram", "ig_user_id": "17841400000000001", "base_url": f"{at}/graph",
         "token_env": "SPA_GRAPH_TOKEN"},
        {"name": f"loc{k}-gbp", "type": "google_business", "account_id": "111", "location_id": "222",
         "base_url": f"{at}/gbp", "token_env": "SPA_GRAPH_TOKEN"},
        {"name": f"loc{k}-blog", "type": "rss", "url": f"{at}/blog/feed.xml"},
        {"name": f"loc{k}-site", "type": "website", "url": f"{at}/sitemap_index.xml"},
    ]


def _tree(root: int) -> list[int]:
    """ROOT and every process below it (from /proc)."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_crawl(cfg: Path, env: dict[str, str], concurrency: int) -> tuple[float, float, float, str, int]:
    """(wall seconds, peak RSS MB of the crawl process, peak RSS MB of its tree, its summary, exit status)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "crawl", "--config", str(cfg), "--no-progress",
                             "--concurrency", str(concurrency)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak_main = peak_tree = 0.0
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout or []), daemon=True)
    reader.start()
    while proc.poll() is None:
        pids = _tree(proc.pid)
        rss = {pid: _rss_mb(pid) for pid in pids}
        peak_main = max(peak_main, rss.get(proc.pid, 0.0))
        peak_tree = max(peak_tree, sum(rss.values()))
        time.sleep(0.2)
    wall = time.perf_counter() - t
    reader.join(timeout=10)
    return wall, peak_main, peak_tree, "".join(out), proc.returncode


def stage_seconds(home: Path) -> str:
    """Where the last crawl's time went, as its stored run says (fetch, compare, scan, store)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{home / 'medspa.db'}")
    with engine.connect() as c:
        raw = c.execute(text("SELECT counts FROM runs WHERE source = 'crawl' ORDER BY id DESC LIMIT 1")).scalar()
    engine.dispose()
    seconds = (json.loads(raw) if isinstance(raw, str) else raw or {}).get("seconds", {})
    return ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()) or "not stored"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--locations", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4, help="requests in flight (the crawl's default, 4)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="medspa-chain-crawl-"))
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home), SPA_GRAPH_TOKEN=TOKEN)
    with FixtureServer(protected=()) as srv:
        standard_routes(srv)  # the website pages' root-relative picture links
        for k in range(1, args.locations + 1):
            standard_routes(srv, f"/loc{k}")
        sources = [s for k in range(1, args.locations + 1) for s in location_sources(srv.base, k)]
        cfg = home / "sources.yaml"
        cfg.write_text(yaml.safe_dump({"defaults": {"backoff": 0.05}, "sources": sources}), encoding="utf-8")
        print(f"{args.locations} locations, {len(sources)} sources, fixture server on 127.0.0.1, "
              f"{os.cpu_count()} CPU(s), --concurrency {args.concurrency}", flush=True)
        rc = 0
        for label in ("first crawl (everything new)", "second crawl (nothing changed)"):
            wall, main_mb, tree_mb, out, code = run_crawl(cfg, env, args.concurrency)
            m = re.search(r"(\d+) fetched from (\d+) source\(s\)", out)
            scanned = re.search(r"scanned (\d+):", out)
            if code not in (0, 1) or not m:
                print(f"{label}: the crawl exited with {code}:\n{out[-3000:]}")
                return 2
            fetched = int(m.group(1))
            print(f"{label}: {fetched:,} items from {m.group(2)} sources in {wall:.1f} s end to end "
                  f"({fetched / wall:.1f} items/s; {scanned.group(1) if scanned else '?'} scanned); "
                  f"peak RSS crawl process {main_mb:.0f} MB, whole process tree {tree_mb:.0f} MB", flush=True)
            print(f"  stages: {stage_seconds(home)}", flush=True)
            failed = re.search(r"sources failed: ([^;\n]*)", out)
            if failed and failed.group(1).strip() != "none":  # "partly read": the fixture site's dead links
                print(f"  sources failed: {failed.group(1)[:300]}")
                rc = 1
        hits = sum(srv.hits.values())
        print(f"fixture server answered {hits:,} requests")
    return rc


if __name__ == "__main__":
    sys.exit(main())
