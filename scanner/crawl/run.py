"""The weekly scan of published content.

Owns (sources.yaml itself is read and checked by crawl/config.py): the crawl run
(fetch every source in parallel under one request limit, a failing source never stops the others;
download pictures; skip items whose content, rule pack, registry and spa profile are unchanged since
the last crawl; scan the rest with `Scanner.scan_many` (on every core via `engine.scan_parallel`); store
them as one run with its counts; notice items deleted since); the crawl state tables (`crawl_state`: the
newest copy of every published item; `crawl_sightings`: what each run saw, for the weekly report).

Top-level imports stay light: `scanner.core.tables` imports this module whenever a Store opens.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Boolean, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from ..core.models import MAX_TEXT_CHARS, Finding, Item, ScanResult, verdict_for
from ..core.store import Base, Store, content_hash, utcnow
from .config import ConfigError, CrawlConfig, load_config

if TYPE_CHECKING:
    from .sources import FetchContext, Http, Published, Source

log = logging.getLogger(__name__)

MAX_IMAGES = 30
STORE_BATCH = 500


# ---------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------
class CrawlState(Base):
    """The newest copy of every published item the crawl has seen (one row per item id)."""

    __tablename__ = "crawl_state"
    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(60), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(160))
    item_pk: Mapped[int] = mapped_column(Integer)  # items.id of the newest scan
    verdict: Mapped[str] = mapped_column(String(10))
    retry: Mapped[bool] = mapped_column(Boolean, default=False)  # a part failed for a passing reason
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    first_seen_run: Mapped[int] = mapped_column(Integer)
    last_seen_run: Mapped[int] = mapped_column(Integer, index=True)
    removed_run: Mapped[int | None] = mapped_column(Integer, nullable=True)
    flagged_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # discovery of the problem


class CrawlSighting(Base):
    """What one crawl run saw of one item: new, changed, rescanned, unchanged or removed."""

    __tablename__ = "crawl_sightings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    item_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(12))
    item_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    flagged_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------
@dataclass
class SourceReport:
    name: str
    type: str
    status: str = "ok"  # ok, partial (some rows/pages skipped), failed
    items: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    images: int = 0
    images_failed: int = 0

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "status": self.status, "items": self.items,
                               "seconds": round(self.seconds, 2), "requests": self.requests,
                               "retries": self.retries, "images": self.images, "images_failed": self.images_failed}
        if self.error:
            out["error"] = self.error
        if self.warnings:
            out["warnings"] = len(self.warnings)
            out["first_warnings"] = self.warnings[:5]
        return out


@dataclass
class CrawlResult:
    run_id: int
    fetched: int = 0
    status: Counter[str] = field(default_factory=Counter)  # new, changed, rescanned, unchanged, removed
    scanned: list[tuple[Item, ScanResult]] = field(default_factory=list)
    scan_errors: int = 0
    sources: dict[str, SourceReport] = field(default_factory=dict)
    by_category: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    problems: int = 0  # published items that still need review or removal (scanned now or earlier)
    seconds: dict[str, float] = field(default_factory=dict)
    http: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        return {n: r.error or "failed" for n, r in self.sources.items() if r.status == "failed"}

    @property
    def new_or_changed(self) -> int:
        return self.status["new"] + self.status["changed"]

    @property
    def unchanged(self) -> int:
        return self.status["unchanged"]

    @property
    def removed(self) -> int:
        return self.status["removed"]

    def counts(self) -> dict[str, Any]:
        """What the run stores (and the dashboard's run list reads: items, block, review, pass)."""
        return {"items": len(self.scanned), "pass": self.verdicts["pass"], "review": self.verdicts["review"],
                "block": self.verdicts["block"], "fetched": self.fetched, "new": self.status["new"],
                "changed": self.status["changed"], "rescanned": self.status["rescanned"],
                "unchanged": self.unchanged, "removed": self.removed, "scanned": len(self.scanned),
                "scan_errors": self.scan_errors, "live_problems": self.problems,
                "findings_by_category": dict(sorted(self.by_category.items())),
                "sources": {n: r.public() for n, r in self.sources.items()},
                "failed_sources": self.failed, "seconds": self.seconds, "http": self.http}

    def summary(self) -> str:
        cats = ", ".join(f"{k} {v}" for k, v in sorted(self.by_category.items())) or "none"
        failed = ", ".join(f"{n} ({e})" for n, e in self.failed.items()) or "none"
        partial = [n for n, r in self.sources.items() if r.status == "partial"]
        lines = [
            f"crawl run {self.run_id}: {self.fetched} fetched from {len(self.sources)} source(s); "
            f"{self.new_or_changed} new or changed ({self.status['new']} new, {self.status['changed']} changed), "
            f"{self.status['rescanned']} rescanned (rules or registry changed, or a part failed before), "
            f"{self.unchanged} unchanged, {self.removed} removed since the last crawl",
            f"scanned {len(self.scanned)}: {self.verdicts['block']} block, {self.verdicts['review']} review, "
            f"{self.verdicts['pass']} pass" + (f"; {self.scan_errors} could not be scanned" if self.scan_errors else ""),
            f"findings by category (high and medium): {cats}",
            f"published items that need review or removal: {self.problems}",
            f"sources failed: {failed}" + (f"; partly read: {', '.join(partial)}" if partial else ""),
        ]
        return "\n".join(lines)


class Progress(Protocol):
    def phase(self, name: str, total: int | None) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class _NoProgress:
    def phase(self, name: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


# ---------------------------------------------------------------------------------------------------
# What the results depend on besides the content
# ---------------------------------------------------------------------------------------------------
def scan_version(scanner: Any) -> str:
    """Rule pack, registry and spa profile in one string: when it changes, every item is scanned again.
    The registry part counts each authorization's status as of today, so an authorization that expired
    since the last crawl changes it too."""
    from datetime import date

    reg = getattr(scanner, "registry", None)
    h = hashlib.sha256()
    if reg is not None:
        today = date.today()
        for pid, rec in sorted(getattr(reg, "records", {}).items()):
            status = rec.status(today) if hasattr(rec, "status") else ""
            h.update(f"{pid}|{getattr(rec, 'updated_at', '')}|{status}\n".encode())
            for a in getattr(rec, "authorizations", ()):  # each authorization's status as of today
                h.update(f" {getattr(a, 'authorization_id', '')}|{a.status(today)}\n".encode())
        h.update(_faces_mark(reg).encode())
    profile = getattr(scanner, "profile", None)
    prof_data: Any = (dataclasses.asdict(profile) if dataclasses.is_dataclass(profile) and not isinstance(profile, type)
                      else str(profile))
    prof = json.dumps(prof_data, sort_keys=True, default=str)
    return (f"{getattr(scanner, 'rule_pack', '')}|r:{h.hexdigest()[:16]}|"
            f"p:{hashlib.sha256(prof.encode()).hexdigest()[:8]}")


def _faces_mark(reg: Any) -> str:
    try:
        from sqlalchemy import func

        from ..registry.authorizations import FaceRecord

        with reg.store.session() as s:
            n, top = s.execute(select(func.count(), func.max(FaceRecord.id))).one()
        return f"faces:{n}:{top}"
    except Exception:  # noqa: BLE001 - a registry without faces
        return "faces:-"


# ---------------------------------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------------------------------
@dataclass
class _Fetched:
    """One source's outcome: its items with their downloaded pictures."""

    report: SourceReport
    items: list[tuple[Published, list[str], list[Finding], bool]] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)
    complete: bool = True


def _http_for(src: Source, limiter: Any, stats: Any, timeout: float) -> Http:
    from .sources import SOURCE_TYPES, Http, HttpOptions, SourceError
    from .sources._http import origin

    token = src.token
    env = src.get("token_env")
    if env:
        token = os.environ.get(env) or None
        if token is None:
            raise SourceError(f"environment variable {env} (token_env) is not set")
    st = SOURCE_TYPES[src.type]
    base = src.get("base_url") or st.default_base
    if st.uses_token and not token:
        log.warning("source %s has no token (token_env); the API will probably refuse it", src.name)
    opts = HttpOptions(timeout=float(src.get("timeout", timeout)), retries=int(src.get("retries", 3)),
                       backoff=float(src.get("backoff", 0.5)), max_retry_wait=float(src.get("max_retry_wait", 60)),
                       max_image_bytes=int(float(src.get("max_image_mb", 15)) * 1_000_000),
                       max_body_bytes=int(float(src.get("max_body_mb", 50)) * 1_000_000),
                       max_request_seconds=float(src.get("max_request_seconds", 60)),
                       max_source_seconds=float(src.get("max_source_seconds", 900)))
    return Http(opts, token=token, api_origin=origin(base) if base else None, limiter=limiter, stats=stats)


def _fetch_source(src: Source, since: datetime | None, limiter: Any, timeout: float, cache: Path,
                  progress: Progress) -> _Fetched:
    from .sources import SOURCE_TYPES, FetchContext, SourceError, Stats

    t0 = time.perf_counter()
    out = _Fetched(SourceReport(src.name, src.type))
    stats = Stats()
    http = None
    try:
        http = _http_for(src, limiter, stats, timeout)
        ctx = FetchContext(src, http, since)
        published = []
        for p in SOURCE_TYPES[src.type].fetch(ctx):
            published.append(p)
            progress.advance(1)
        seen: set[str] = set()
        unique = []
        for p in published:
            if p.id in seen:
                ctx.warn(f"item {p.id} listed twice; the first copy was used")
                continue
            seen.add(p.id)
            unique.append(p)
        out.items = _with_images(ctx, unique, cache, out.report)
        out.unreadable = set(ctx.unreadable)
        out.report.warnings = ctx.warnings
        out.complete = not any("max_pages" in w for w in ctx.warnings)
        out.report.status = "partial" if ctx.warnings else "ok"
    except SourceError as exc:
        out.report.status, out.report.error = "failed", _redact(src, str(exc))
        out.items = []
    except Exception as exc:  # noqa: BLE001 - one source's surprise never stops the others
        log.warning("source %s failed with %s", src.name, type(exc).__name__)
        out.report.status, out.report.error = "failed", f"unexpected {type(exc).__name__} while reading the source"
        out.items = []
    finally:
        if http is not None:
            http.close()
        out.report.seconds = time.perf_counter() - t0
        out.report.requests, out.report.retries = stats.requests, stats.retries
        out.report.items = len(out.items)
        if out.report.status == "failed":
            log.warning("source %s failed: %s", src.name, out.report.error)
    return out


def _redact(src: Source, message: str) -> str:
    token = src.token or (os.environ.get(src.get("token_env") or "") if src.get("token_env") else None)
    return message.replace(token, "[token]") if token else message


def _with_images(ctx: FetchContext, items: list[Published], cache: Path,
                 report: SourceReport) -> list[tuple[Published, list[str], list[Finding], bool]]:
    """Download every picture (in parallel, under the request limit). Returns per item: the local files,
    scan_incomplete findings for pictures that could not be checked, and whether a failure may pass."""
    from .sources import ImageRejected, safe_url

    want_images = ctx.source.get("images", True)
    limit = int(ctx.source.get("max_images", MAX_IMAGES))
    urls = sorted({u for p in items for u in p.image_urls[:limit]}) if want_images else []
    got: dict[str, Path | ImageRejected] = {}

    def one(url: str) -> tuple[str, Path | ImageRejected]:
        try:
            return url, ctx.http.download_image(url, cache)
        except ImageRejected as exc:
            return url, exc

    for url, res in ctx.http.map(one, urls):
        got[url] = res
    out = []
    for p in items:
        paths = [str(Path(x)) for x in p.images]
        notes: list[Finding] = [_incomplete(msg, "image", "IMG900") for msg in p.unchecked]
        retry = False
        text_parts: list[str] = []
        if want_images:
            for url in p.image_urls[:limit]:
                res = got[url]
                name = _image_name(url)
                if isinstance(res, Path):
                    report.images += 1
                    if res.suffix == ".svg":
                        words, note = _svg(res, name)
                        if words:
                            text_parts.append(words)
                        if note:
                            notes.append(note)
                    else:
                        paths.append(str(res))
                else:
                    report.images_failed += 1
                    retry = retry or res.rule_id == "IMG901"
                    notes.append(_incomplete(f"Picture not checked: {ctx.http.redact(str(res))}.", f"image:{name}",
                                             res.rule_id, evidence=safe_url(url)))
            extra = len(p.image_urls) - limit
            if extra > 0:
                notes.append(_incomplete(f"{extra} more picture(s) published with this item were not checked "
                                         f"(max_images is {limit}).", "image", "IMG903"))
        if text_parts:
            p = dataclasses.replace(p, text="\n".join([p.text, *text_parts]))
        out.append((p, paths, notes, retry))
    return out


def _image_name(url: str) -> str:
    from .sources import safe_url

    if url.startswith("data:"):
        return "inline-image"
    return (safe_url(url).rstrip("/").rsplit("/", 1)[-1] or "image")[:80]


def _svg(path: Path, name: str) -> tuple[str, Finding | None]:
    """An SVG's words join the item's text; an SVG that embeds pictures or cannot be read is noted."""
    from .sources._html import svg_text

    try:
        words, raster = svg_text(path.read_bytes())
    except Exception:  # noqa: BLE001 - malformed SVG: not checked, never passed
        return "", _incomplete("An SVG picture could not be read, so its text was not checked.", f"image:{name}",
                               "IMG900")
    note = _incomplete("An SVG picture embeds other pictures, which were not checked.", f"image:{name}",
                       "IMG903") if raster else None
    return words, note


def _incomplete(message: str, source: str, rule_id: str, evidence: str = "") -> Finding:
    from ..image.findings import finding

    return finding(rule_id, message, source, evidence=evidence)


# ---------------------------------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------------------------------
def to_items(p: Published, paths: list[str]) -> list[Item]:
    """The Item(s) for one published item: text longer than the item limit is split into parts
    (`id#part2`, ...) so every word is checked; pictures go with the first part."""
    parts = _split(p.text, MAX_TEXT_CHARS)
    permalink = p.permalink if p.permalink and len(p.permalink) <= 2000 else None
    context = p.in_reply_to[:MAX_TEXT_CHARS] if p.in_reply_to else None
    author = p.author[:300] if p.author else None
    items = []
    for n, text in enumerate(parts, 1):
        iid = p.id if n == 1 else f"{p.id[:190]}#part{n}"
        items.append(Item(id=iid, kind=p.kind, channel=p.channel, text=text, in_reply_to=context, author=author,
                          images=paths if n == 1 else [], permalink=permalink))
    return items


def _split(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    parts = []
    while len(text) > limit:
        cut = text.rfind("\n", limit // 2, limit)
        if cut < 0:
            cut = text.rfind(" ", limit // 2, limit)
        if cut < 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------
@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One crawl at a time per data folder (cron and a manual run must not interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a+")
    try:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            raise ConfigError(f"another crawl is running on this data folder (lock {path})") from None
        yield
    finally:
        fh.close()


def crawl(config_or_path: CrawlConfig | str | Path, scanner: Any, store: Store, since: timedelta | None = None,
          actor: str = "crawler", concurrency: int = 4, timeout: float = 20.0, full: bool = False,
          progress: Progress | None = None, cache_dir: Path | None = None) -> CrawlResult:
    """Fetch, compare, scan, store. See the module docstring. ConfigError for a bad config."""
    from ..core import config as app_config

    cfg = config_or_path if isinstance(config_or_path, CrawlConfig) else load_config(config_or_path)
    progress = progress or _NoProgress()
    home = app_config.home()
    cache = cache_dir or home / "crawl-cache" / "images"
    with _lock(home / "crawl.lock"):
        _keep_current(scanner)
        version = scan_version(scanner)
        run_id = store.start_run("crawl", actor=actor, rule_pack=str(getattr(scanner, "rule_pack", "")))
        res = CrawlResult(run_id)
        try:
            _run(cfg, scanner, store, res, version, since, concurrency, timeout, full, progress, cache)
        except BaseException:
            store.finish_run(run_id, res.counts(), status="failed")
            raise
        ok = [r for r in res.sources.values() if r.status != "failed"]
        status = "failed" if not ok else "partial" if len(ok) < len(res.sources) or res.scan_errors else "done"
        store.finish_run(run_id, res.counts(), status=status)
        _audit(store, actor, res, status)
    return res


def _keep_current(scanner: Any) -> None:
    try:
        from ..review.queue import keep_current
    except ImportError:  # pragma: no cover - review module absent
        return
    keep_current(scanner)


def _audit(store: Store, actor: str, res: CrawlResult, status: str) -> None:
    try:
        from ..core import audit
    except ImportError:  # pragma: no cover
        return
    audit.record(store, actor, "crawl.run", f"run:{res.run_id}",
                 {"status": status, "fetched": res.fetched, "scanned": len(res.scanned), "removed": res.removed,
                  "live_problems": res.problems, "failed_sources": sorted(res.failed)})


def _run(cfg: CrawlConfig, scanner: Any, store: Store, res: CrawlResult, version: str, since: timedelta | None,
         concurrency: int, timeout: float, full: bool, progress: Progress, cache: Path) -> None:
    from .sources import Limiter

    since_dt = utcnow() - since if since else None
    limiter = Limiter(concurrency)

    # 1. fetch every source in parallel; requests share one limit
    t = time.perf_counter()
    progress.phase("fetching", None)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(cfg.sources)))) as pool:
        fetched = list(pool.map(lambda s: _fetch_source(s, since_dt, limiter, timeout, cache, progress),
                                cfg.sources))
    for f in fetched:
        res.sources[f.report.name] = f.report
    res.fetched = sum(len(f.items) for f in fetched)
    res.seconds["fetch"] = round(time.perf_counter() - t, 3)
    res.http = {"requests": sum(f.report.requests for f in fetched), "retries": sum(f.report.retries for f in fetched),
                "images": sum(f.report.images for f in fetched),
                "images_failed": sum(f.report.images_failed for f in fetched)}

    # 2. what changed since the last crawl
    t = time.perf_counter()
    with store.session() as s:
        state = {r.item_id: r for r in s.execute(select(CrawlState)).scalars()}
        s.expunge_all()
    todo: list[_Todo] = []
    carried: list[tuple[Item, str, CrawlState, Published]] = []
    current: set[str] = set()
    for f in fetched:
        for p, paths, notes, retry in f.items:
            for n, item in enumerate(to_items(p, paths)):
                current.add(item.id)
                prev = state.get(item.id)
                chash = content_hash(item)
                if prev is None or prev.removed_run is not None:
                    status = "new"
                elif prev.content_hash != chash:
                    status = "changed"
                elif full or prev.version != version or prev.retry:
                    status = "rescanned"
                else:
                    status = "unchanged"
                res.status[status] += 1
                if status == "unchanged":
                    carried.append((item, f.report.name, prev, p))  # type: ignore[arg-type]
                else:
                    todo.append(_Todo(item, f.report.name, notes if n == 0 else [], retry, p, status))
    removed = _removed(state, fetched, current, since_dt)
    if removed:
        res.status["removed"] = len(removed)
    res.seconds["compare"] = round(time.perf_counter() - t, 3)

    # 3. scan what is new or changed
    t = time.perf_counter()
    progress.phase("scanning", len(todo))
    results = _scan_all(scanner, [x.item for x in todo], progress)
    res.seconds["scan"] = round(time.perf_counter() - t, 3)

    # 4. store the run, the state and what this run saw
    t = time.perf_counter()
    waivers = _waivers(store)
    pairs: list[tuple[_Todo, ScanResult]] = []
    for todo_item, r in zip(todo, results, strict=True):
        if r is None:
            res.scan_errors += 1
            continue
        if todo_item.notes:
            findings = [*r.findings, *todo_item.notes]
            r = r.model_copy(update={"findings": findings, "verdict": verdict_for(findings)})
        pairs.append((todo_item, r))
    pks: list[int] = []
    for i in range(0, len(pairs), STORE_BATCH):
        chunk = pairs[i:i + STORE_BATCH]
        pks.extend(store.save_results(res.run_id, [(x.item, r) for x, r in chunk], source="crawl",
                                      submitted_by="crawler"))
    res.scanned = [(x.item, r) for x, r in pairs]
    now = utcnow()
    with store.session() as s:
        for (x, r), pk in zip(pairs, pks, strict=True):
            item, src_name, p = x.item, x.source, x.published
            res.verdicts[r.verdict] += 1
            res.by_category.update(f.category for f in r.findings if f.severity.value in ("high", "medium"))
            prev = state.get(item.id)
            flagged = None
            if r.verdict != "pass":
                keep = prev is not None and prev.removed_run is None and prev.flagged_since is not None
                flagged = prev.flagged_since if keep and prev is not None else now
            row = s.get(CrawlState, item.id) or CrawlState(item_id=item.id, first_seen_run=res.run_id)
            if row.first_seen_run is None or (prev is not None and prev.removed_run is not None):
                row.first_seen_run = res.run_id
            row.source, row.content_hash, row.version = src_name, content_hash(item), version
            row.item_pk, row.verdict, row.retry = pk, r.verdict, x.retry
            row.published_at, row.last_seen_run, row.removed_run, row.flagged_since = (
                p.published_at, res.run_id, None, flagged)
            s.add(row)
            s.add(CrawlSighting(run_id=res.run_id, item_id=item.id, source=src_name, status=x.status,
                                item_pk=pk, flagged_since=flagged, published_at=p.published_at))
            if _effective(r.findings, content_hash(item), waivers) != "pass":
                res.problems += 1
        carried_pks = [c[2].item_pk for c in carried]
        carried_findings = _stored_findings(s, carried_pks)
        for item, src_name, prev, p in carried:
            kept = s.get(CrawlState, item.id)
            if kept is not None:
                kept.last_seen_run = res.run_id
                kept.published_at = p.published_at or kept.published_at
            s.add(CrawlSighting(run_id=res.run_id, item_id=item.id, source=src_name, status="unchanged",
                                item_pk=prev.item_pk, flagged_since=prev.flagged_since,
                                published_at=p.published_at))
            if prev.verdict != "pass" and _effective(carried_findings.get(prev.item_pk, []), prev.content_hash,
                                                      waivers) != "pass":
                res.problems += 1
        for prev in removed:
            gone = s.get(CrawlState, prev.item_id)
            if gone is not None:
                gone.removed_run = res.run_id
            s.add(CrawlSighting(run_id=res.run_id, item_id=prev.item_id, source=prev.source, status="removed",
                                item_pk=prev.item_pk, flagged_since=prev.flagged_since,
                                published_at=prev.published_at))
    res.seconds["store"] = round(time.perf_counter() - t, 3)
    res.problems += res.scan_errors


@dataclass
class _Todo:
    item: Item
    source: str
    notes: list[Finding]
    retry: bool
    published: Published
    status: str


def _removed(state: dict[str, CrawlState], fetched: list[_Fetched], current: set[str],
             since_dt: datetime | None) -> list[CrawlState]:
    """Items gone since the last crawl: from a source read completely this time, not seen, not merely
    unreadable, and (with --since) published inside the window, so their absence means something."""
    readable = {f.report.name for f in fetched if f.report.status != "failed" and f.complete}
    unreadable = set().union(*(f.unreadable for f in fetched)) if fetched else set()
    out = []
    for item_id, row in state.items():
        if row.removed_run is not None or row.source not in readable or item_id in current:
            continue
        base_id = item_id.split("#part", 1)[0]
        if item_id in unreadable or base_id in unreadable:
            continue
        if since_dt is not None and (row.published_at is None or row.published_at < since_dt):
            continue
        out.append(row)
    return out


def _scan_all(scanner: Any, items: list[Item], progress: Progress) -> list[ScanResult | None]:
    """Results in order; an item whose scan raised gets None (not stored, scanned again next time)."""
    from ..pipeline.engine import scan_parallel

    results: list[ScanResult | None] = []
    try:
        for r in scan_parallel(scanner, items):
            results.append(r)
            progress.advance(1)
    except Exception as exc:  # noqa: BLE001 - fall back to one at a time, isolating the failing item
        log.warning("batch scan failed (%s); scanning the rest one at a time", type(exc).__name__)
        for item in items[len(results):]:
            try:
                results.append(scanner.scan(item))
            except Exception as exc2:  # noqa: BLE001
                log.warning("item %s could not be scanned (%s)", item.id, type(exc2).__name__)
                results.append(None)
            progress.advance(1)
    return results


def _waivers(store: Store) -> dict[tuple[str, str, str, str], Any]:
    try:
        from ..review.queue import active_waivers
    except ImportError:  # pragma: no cover
        return {}
    return active_waivers(store)


def waiver_key(chash: str, f: dict[str, Any]) -> tuple[str, str, str, str]:
    """How review/queue.py keys a waiver: same content, rule, source and evidence."""
    return (chash, str(f.get("rule_id", "")), str(f.get("source", "text")), str(f.get("evidence", "")))


def _effective(findings: list[Finding] | list[dict[str, Any]], chash: str, waivers: dict[Any, Any]) -> str:
    """The verdict once waived findings are set aside (scan_incomplete is never waived)."""
    severities = set()
    for f in findings:
        d = f.public() if isinstance(f, Finding) else f
        if d.get("category") == "scan_incomplete" or waiver_key(chash, d) not in waivers:
            severities.add(d.get("severity"))
    return "block" if "high" in severities else "review" if "medium" in severities else "pass"


def _stored_findings(s: Any, pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    from ..core.store import StoredFinding

    out: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(pks), 500):
        for f in s.execute(select(StoredFinding).where(StoredFinding.item_pk.in_(pks[i:i + 500]))).scalars():
            out.setdefault(f.item_pk, []).append(f.data)
    return out
