"""Where the reply-gate API's scans run: a loaded Scanner kept current, on a thread of the server
process (`ThreadEngine`) or in N worker processes fed from one queue (`ProcessEngine`), plus the
store thread that records every check like a CLI run (source "api", the key's name).

Worker processes each load the models once (in the pool initializer, started by the app's
lifespan). One shared queue balances the load across them, the server's event loop never waits for
the GIL of a scan, and rate limits stay exact because there is one HTTP process. A worker that dies
is replaced; its check fails with a generic error (never a verdict). Logs carry ids and counts only.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import Any

from ..core.models import Item, ScanResult

log = logging.getLogger("medspa_scan.api")
WARM_UP = Item(id="warm-up", kind="reply", channel="google", text="Thank you for the kind words!")


class EngineBusy(Exception):
    """Too many checks are queued; the caller should retry shortly."""


class ScanState:
    """A loaded Scanner kept current for a long-running server: it judges authorizations as of
    today, and reloads the authorization registry when it changed (checked at most every
    `refresh_seconds`; every registry change is audit-logged as `registry.*`)."""

    def __init__(self, scanner: Any, refresh_seconds: float):
        self.scanner = scanner
        self.refresh_seconds = refresh_seconds
        self._mark: tuple[Any, ...] | None = None
        self._checked = 0.0

    @staticmethod
    def _fingerprint(registry: Any) -> tuple[Any, ...]:
        from sqlalchemy import func, select

        from ..core.audit import AuditEntry

        with registry.store.session() as s:
            last = s.execute(select(func.max(AuditEntry.id)).where(AuditEntry.action.like("registry.%"))).scalar()
            try:
                from ..registry.authorizations import Authorization

                count = s.execute(select(func.count()).select_from(Authorization)).scalar()
            except ImportError:
                count = None
        return (last, count)

    def refresh(self) -> None:
        self.scanner.as_of = date.today()
        registry = getattr(self.scanner, "registry", None)
        if registry is None or not hasattr(registry, "reload"):
            return
        now = time.monotonic()
        if now - self._checked < self.refresh_seconds:
            return
        self._checked = now
        mark = self._fingerprint(registry)
        if self._mark is not None and mark != self._mark:
            registry.reload()
            log.info("authorization registry reloaded (%d records), pid %d", len(registry), os.getpid())
        self._mark = mark

    def scan(self, items: list[Item]) -> list[ScanResult]:
        self.refresh()
        return list(self.scanner.scan_many(items))


class Engine:
    """What the API needs from an engine: start, check (scan + store), close, the rule pack."""

    def __init__(self, store: Any, max_pending: int, refresh_seconds: float):
        self.store = store
        self.max_pending = max_pending
        self.refresh_seconds = refresh_seconds
        self.pending = 0
        self.rules: Any = None  # the loaded RulePack (for /v1/rules)
        self.ready = False
        self._lock = threading.Lock()
        self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="medspa-api-store")

    @property
    def rule_pack(self) -> str:
        return self.rules.version if self.rules is not None else ""

    def _open_store(self) -> None:
        if self.store is None:
            from ..core.store import Store

            self.store = Store()

    def start(self) -> None:
        raise NotImplementedError

    async def _scan(self, items: list[Item]) -> list[ScanResult]:
        raise NotImplementedError

    def close(self) -> None:
        self._store_pool.shutdown(wait=True)

    def _save(self, pairs: list[tuple[Item, ScanResult]], key_name: str) -> None:
        run = self.store.start_run("api", actor=key_name, rule_pack=pairs[0][1].rule_pack if pairs else "")
        self.store.save_results(run, pairs, source="api", submitted_by=key_name)
        counts: dict[str, int] = {"items": len(pairs)}
        for _, r in pairs:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        self.store.finish_run(run, counts)

    async def check(self, items: list[Item], stored: list[Item], key_name: str) -> list[ScanResult]:
        """Scan, then store (on the store thread); answers only once the check is recorded."""
        with self._lock:
            if self.pending >= self.max_pending:
                raise EngineBusy
            self.pending += 1
        try:
            results = await self._scan(items)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._store_pool, self._save, list(zip(stored, results, strict=True)), key_name)
            return results
        finally:
            with self._lock:
                self.pending -= 1


class ThreadEngine(Engine):
    """Scans on one dedicated thread of the server process (the models are not shared between threads)."""

    def __init__(self, store: Any, scanner: Any, max_pending: int, refresh_seconds: float):
        super().__init__(store, max_pending, refresh_seconds)
        self.scanner = scanner
        self._scan_pool = ThreadPoolExecutor(1, thread_name_prefix="medspa-api-scan")
        self._state: ScanState | None = None

    def start(self) -> None:
        self._open_store()
        if self.scanner is None:
            from ..pipeline.engine import Scanner

            self.scanner = Scanner(store=self.store)
        self._state = ScanState(self.scanner, self.refresh_seconds)
        self.rules = self.scanner.rules
        self._scan_pool.submit(self._state.scan, [WARM_UP]).result()
        self.ready = True
        log.info("reply gate ready: rule pack %s, scanning on a thread of pid %d", self.rule_pack, os.getpid())

    async def _scan(self, items: list[Item]) -> list[ScanResult]:
        assert self._state is not None
        return await asyncio.get_running_loop().run_in_executor(self._scan_pool, self._state.scan, items)

    def close(self) -> None:
        self._scan_pool.shutdown(wait=False, cancel_futures=True)
        super().close()


# -- worker processes ---------------------------------------------------------------------------------
_WORKER: ScanState | None = None
_BARRIER: Any = None


def _worker_init(db_url: str, refresh_seconds: float, log_level: int, barrier: Any) -> None:
    """Runs once in each worker process: load the models, warm them up."""
    global _WORKER, _BARRIER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server shuts us down
    root = logging.getLogger("medspa_scan")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(log_level)
        root.propagate = False
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from ..core.store import Store
    from ..pipeline.engine import Scanner

    _WORKER = ScanState(Scanner(store=Store(db_url)), refresh_seconds)
    _WORKER.scan([WARM_UP])
    _BARRIER = barrier
    log.info("scan worker ready: rule pack %s, pid %d", _WORKER.scanner.rule_pack, os.getpid())


def _worker_ready() -> int:
    """Returns once every worker has loaded (so each of the N start-up calls lands on its own worker)."""
    if _BARRIER is not None:
        _BARRIER.wait(timeout=600)
    return os.getpid()


def _worker_scan(items: list[Item]) -> list[ScanResult]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.scan(items)


class ProcessEngine(Engine):
    """Scans in N worker processes (spawned, each loading the models once) fed from one queue."""

    def __init__(self, store: Any, workers: int, max_pending: int, refresh_seconds: float):
        super().__init__(store, max_pending, refresh_seconds)
        self.workers = workers
        self.pids: list[int] = []
        self._pool: ProcessPoolExecutor | None = None
        self._restart_lock = threading.Lock()

    def start(self) -> None:
        self._open_store()
        from ..text.rule_loader import load_rule_pack

        self.rules = load_rule_pack()
        self._pool = self._new_pool()
        self.ready = True
        log.info("reply gate ready: rule pack %s, %d scan worker(s) %s", self.rule_pack, self.workers, self.pids)

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = mp.get_context("spawn")  # a clean interpreter: no threads or event loop copied from the server
        barrier = ctx.Barrier(self.workers)
        level = logging.getLogger("medspa_scan").getEffectiveLevel()
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init,
                                   initargs=(self.store.url, self.refresh_seconds, level, barrier))
        futures = [pool.submit(_worker_ready) for _ in range(self.workers)]
        self.pids = sorted(f.result(timeout=900) for f in futures)
        return pool

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._restart_lock:
            if self._pool is not broken:  # another request already replaced it
                return
            log.error("a scan worker died; starting a new pool of %d", self.workers)
            self.ready = False
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self.ready = True

    async def _scan(self, items: list[Item]) -> list[ScanResult]:
        pool = self._pool
        assert pool is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _worker_scan, items)
        except BrokenProcessPool:
            await loop.run_in_executor(None, self._restart, pool)
            raise RuntimeError("scan worker died during the check") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        super().close()
