"""The weekly scan of published content: load sources.yaml, fetch every source (a failing source does
not stop the others), skip items unchanged since the last crawl (same content, rule pack and
registry), scan the rest, store the run with its counts."""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from . import config
from ._models import Item, ScanResult
from .sources import SOURCE_TYPES, Http, Published, SourceError
from .store import Run, Store, StoredItem, content_hash, utcnow

log = logging.getLogger(__name__)
MAX_IMAGE_BYTES = int(os.environ.get("MEDSPA_SCAN_CRAWL_MAX_IMAGE", 15_000_000))


class ConfigError(ValueError):
    """sources.yaml is wrong; the message names the source and the key."""


def parse_since(value: str | None) -> timedelta | None:
    if not value:
        return None
    m = re.fullmatch(r"(\d+)\s*([dhw])", value.strip())
    if not m:
        raise ConfigError(f"--since: expected a duration like 7d, 24h or 2w, got {value!r}")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(days=n) if unit == "d" else timedelta(hours=n) if unit == "h" else timedelta(weeks=n)


def load_config(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list) or not data["sources"]:
        raise ConfigError(f"{p}: needs a non-empty 'sources:' list")
    seen: set[str] = set()
    out = []
    for i, src in enumerate(data["sources"], 1):
        where = f"{p.name}: source #{i}"
        if not isinstance(src, dict):
            raise ConfigError(f"{where}: expected a mapping")
        name = str(src.get("name") or "").strip()
        if not name:
            raise ConfigError(f"{where}: missing 'name'")
        where = f"{p.name}: source '{name}'"
        if name in seen:
            raise ConfigError(f"{where}: duplicate name")
        seen.add(name)
        kind = src.get("type")
        if kind not in SOURCE_TYPES:
            raise ConfigError(f"{where}: unknown type {kind!r} (expected {', '.join(sorted(SOURCE_TYPES))})")
        missing = [k for k in SOURCE_TYPES[kind][1] if not src.get(k)]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(repr(k) for k in missing)} for type {kind}")
        if src.get("type") == "file" and not Path(src["path"]).is_absolute():
            src = {**src, "path": str((p.parent / src["path"]).resolve())}
        out.append({**src, "name": name})
    return out


@dataclass
class CrawlResult:
    run_id: int
    fetched: int = 0
    new_or_changed: int = 0
    unchanged: int = 0
    removed: int = 0
    scanned: list[tuple[Item, ScanResult]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    by_category: Counter = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "new_or_changed": self.new_or_changed, "unchanged": self.unchanged,
                "removed": self.removed, "scanned": len(self.scanned), "failed_sources": self.failed,
                "findings_by_category": dict(self.by_category), "seconds": self.seconds}


def registry_version(scanner: Any) -> str:
    reg = getattr(scanner, "registry", None)
    if reg is None:
        return "none"
    parts = sorted(f"{r.patient_id}|{r.updated_at}|{r.revoked_on}" for r in reg.records.values())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _fetch_one(src: dict[str, Any], since: datetime | None, timeout: float) -> list[Published]:
    token = src.get("token")
    if src.get("token_env"):
        token = os.environ.get(src["token_env"])
        if not token:
            raise SourceError(f"environment variable {src['token_env']} (token_env) is not set")
    http = Http(token=token, timeout=timeout, retries=int(src.get("retries", 3)),
                max_retry_wait=float(src.get("max_retry_wait", 30)), backoff=float(src.get("backoff", 0.5)))
    try:
        return list(SOURCE_TYPES[src["type"]][0](src, http, since))
    finally:
        http.close()


def _to_item(p: Published, cache: Path, timeout: float) -> Item:
    images: list[str] = []
    if p.image_urls:
        http = Http(timeout=timeout, retries=1)
        try:
            for url in p.image_urls[:10]:
                try:
                    images.append(str(http.download_image(url, cache, MAX_IMAGE_BYTES)))
                except SourceError as exc:  # the image stage reports the missing file: never a silent pass
                    log.warning("image not downloaded for %s: %s", p.id, exc)
                    images.append(str(cache / "not-downloaded" / Path(url.split("?")[0]).name))
        finally:
            http.close()
    return Item(id=p.id[:200], kind=p.kind, channel=p.channel, text=p.text[:100_000], in_reply_to=p.in_reply_to,
                author=p.author, images=images, permalink=p.permalink)


def crawl(config_path: str | Path, scanner: Any, store: Store, since: timedelta | None = None,
          actor: str = "crawler", concurrency: int = 4, timeout: float = 15.0,
          progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None) -> CrawlResult:
    sources = load_config(config_path)
    version = f"{scanner.rule_pack}|{registry_version(scanner)}"
    run_id = store.start_run("crawl", actor=actor, rule_pack=version)
    res = CrawlResult(run_id)
    since_dt = utcnow() - since if since else None
    t0 = time.perf_counter()
    fetched: list[Published] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {src["name"]: pool.submit(_fetch_one, src, since_dt, timeout) for src in sources}
        for name, fut in futures.items():
            try:
                fetched.extend(fut.result())
            except (SourceError, OSError, KeyError, ValueError, TypeError) as exc:
                res.failed[name] = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__} in the payload"
                log.warning("source %s failed: %s", name, res.failed[name])
    res.fetched = len(fetched)
    res.seconds["fetch"] = round(time.perf_counter() - t0, 2)

    t1 = time.perf_counter()
    cache = config.home() / "crawl-cache"  # stable paths: an unchanged image keeps its item unchanged
    previous = _previous(store, run_id)
    todo: list[Item] = []
    for p in fetched:
        item = _to_item(p, cache, timeout)
        prior = previous.get(item.id)
        if prior and prior == (content_hash(item), version):
            res.unchanged += 1
            continue
        todo.append(item)
    failed_prefixes = tuple(f"{n}:" for n in res.failed)
    current = {p.id for p in fetched}
    res.removed = sum(1 for i in previous if i not in current and not i.startswith(failed_prefixes))
    res.new_or_changed = len(todo)
    res.seconds["prepare"] = round(time.perf_counter() - t1, 2)

    t2 = time.perf_counter()
    if on_total:
        on_total(len(todo))
    results = []
    from .engine import scan_parallel

    for r in scan_parallel(scanner, todo):
        results.append(r)
        if progress:
            progress(1)
    res.seconds["scan"] = round(time.perf_counter() - t2, 2)
    t3 = time.perf_counter()
    res.scanned = list(zip(todo, results, strict=True))
    store.save_results(run_id, res.scanned, source="crawl", submitted_by=actor)
    for _, r in res.scanned:
        res.by_category.update({f.category for f in r.findings if f.severity.value in ("high", "medium")})
    res.seconds["store"] = round(time.perf_counter() - t3, 2)
    store.finish_run(run_id, res.counts(), status="partial" if res.failed else "done")
    return res


def _previous(store: Store, run_id: int) -> dict[str, tuple[str, str]]:
    """item id -> (content hash, rule pack|registry version) of its newest crawled copy."""
    with store.session() as s:
        rows = s.execute(select(StoredItem.item_id, StoredItem.content_hash, Run.rule_pack)
                         .join(Run, StoredItem.run_id == Run.id)
                         .where(StoredItem.source == "crawl", StoredItem.run_id != run_id)
                         .order_by(StoredItem.id)).all()
    return {r[0]: (r[1], r[2]) for r in rows}
