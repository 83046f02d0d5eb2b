"""The scanning pipeline: Item -> text analysis -> rules -> registry -> images -> verdict.

`Scanner` loads the models and rule packs once; `scan()` checks one item, `scan_many()` a stream of
items with one spaCy `nlp.pipe` pass (and worker processes when asked).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from ..core.models import Finding, Item, ScanResult, verdict_for

log = logging.getLogger(__name__)


@dataclass
class ScanContext:
    """What a stage may consult besides the item: the registry, the scan date, the text scanner."""

    registry: object | None
    as_of: date
    scan_text: Callable[[str, Item], list[Finding]]
    vocabulary: Callable[[str], tuple[str, ...]] = lambda key: ()  # the rule pack's lexicon terms by key
    switches: frozenset[str] = frozenset()  # detector extensions the loaded rules and vocabulary turn on


class Scanner:
    def __init__(self, store=None, as_of: date | None = None, with_images: bool = True):
        from ..core.config import SpaProfile
        from ..text import analysis as text
        from ..text import learned, rule_loader
        from . import verdict

        self.profile = SpaProfile.load()
        self.rules = rule_loader.load_rule_pack()
        self.rules.profile = self.profile
        self.text = text.TextAnalyzer(profile=self.profile)
        self.verdict = verdict
        self.store = store
        self.fixed_as_of = as_of  # None: judge authorizations as of the day of each scan
        self.with_images = with_images
        self.registry = self._load_registry(store)
        self.learned = learned.LearnedLayer.load(self.rules)

    @property
    def as_of(self) -> date:
        return self.fixed_as_of or date.today()

    @as_of.setter
    def as_of(self, value: date | None) -> None:
        self.fixed_as_of = value

    @property
    def rule_pack(self) -> str:
        return self.rules.version

    @staticmethod
    def _load_registry(store):
        if store is None:
            return None
        try:
            from ..registry.authorizations import Registry
        except ModuleNotFoundError:  # the registry module is optional for text-only use
            return None

        return Registry(store)

    # -- scanning ---------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Scan a made-up reply and drop the result: what the stages set up on first use (Presidio's
        patterns, the web-suffix list, phone-number metadata, the rules' regex cache) is set up now. Before
        forking workers this costs the time once instead of once in every worker."""
        self.scan(Item(id="warm-up", kind="reply", channel="google", author="Jane D.",
                       in_reply_to="Dr. Kim did my Botox last week, so happy! Call me Jane.",
                       text="Thanks Jane! Ice the area, skip the gym until Monday and call 555-201-3344 or "
                            "book at https://example.com/book (jane@example.com) for your touch-up on May 3."))

    def scan(self, item: Item) -> ScanResult:
        return next(iter(self.scan_many([item])))

    def scan_many(self, items: Iterable[Item], batch_size: int = 64) -> Iterator[ScanResult]:
        """Scan items in order; spaCy parses texts in batches (`nlp.pipe`)."""
        pending: list[Item] = []
        for item in items:
            pending.append(item)
            if len(pending) >= batch_size:
                yield from self._scan_chunk(pending)
                pending = []
        if pending:
            yield from self._scan_chunk(pending)

    def rule_stage(self, items: list[Item]) -> list[tuple[Item, object, list[Finding]]]:
        """Text analysis, rules and images for a chunk: (item, analysis, findings) before the learned layer."""
        analyses = self.text.analyze_items(items)
        staged: list[tuple[Item, object, list[Finding]]] = []
        for item, analysis in zip(items, analyses, strict=True):
            findings = self.rules.evaluate(item, analysis, registry=self.registry, as_of=self.as_of)
            if item.images and self.with_images:
                findings.extend(self._scan_images(item, analysis))
            staged.append((item, analysis, findings))
        return staged

    def _scan_chunk(self, items: list[Item]) -> Iterator[ScanResult]:
        staged = self.rule_stage(items)
        extra = self.learned.assess(staged) if self.learned else [[] for _ in staged]
        for (item, analysis, findings), more in zip(staged, extra, strict=True):
            findings = self.verdict.consolidate(findings + more)
            suggested = self.verdict.suggest(item, analysis, findings, self.profile)
            yield ScanResult(
                id=item.id,
                verdict=verdict_for(findings),
                findings=findings,
                suggested_text=suggested,
                rule_pack=self.rule_pack,
                permalink=item.permalink,
            )

    def _scan_images(self, item: Item, analysis) -> list[Finding]:
        from ..image import analysis as image

        ctx = ScanContext(registry=self.registry, as_of=self.as_of, scan_text=self.scan_text,
                          vocabulary=self.rules.lexicon.terms, switches=self.rules.switches)
        try:
            return image.scan_images(item, analysis, ctx)
        except Exception as exc:  # fail closed: an image stage that crashed is an incomplete scan
            log.warning("image stage failed for item %s: %s", item.id, type(exc).__name__)
            return [image.incomplete(f"image check failed ({type(exc).__name__})", source="image")]

    def scan_text(self, text: str, item: Item) -> list[Finding]:
        """Findings for a text found elsewhere (OCR), judged as if it were part of the item."""
        probe = item.model_copy(update={"text": text, "images": [], "in_reply_to": item.in_reply_to})
        analysis = self.text.analyze_items([probe])[0]
        return self.rules.evaluate(probe, analysis, registry=self.registry, as_of=self.as_of)


# -- parallel batches -------------------------------------------------------------------------------
_WORKER: Scanner | None = None


def _worker_scan(chunk: list[Item]) -> list[ScanResult]:
    assert _WORKER is not None
    return list(_WORKER.scan_many(chunk))


def scan_parallel(scanner: Scanner, items: list[Item], workers: int = 0,
                  chunk: int = 32) -> Generator[ScanResult, None, None]:
    """Scan in order on several cores: forked workers share the loaded models (copy-on-write).

    One pool for the whole list (a caller that stores results as they come consumes this lazily), so no core
    waits at a chunk boundary. The loaded models are moved out of the garbage collector's reach first
    (`gc.freeze`): a collection in a worker would otherwise write to every page that holds them and undo
    the sharing."""
    import gc
    import multiprocessing as mp
    import os

    global _WORKER
    n = workers or (os.cpu_count() or 1)
    if n <= 1 or len(items) < 4 * chunk or "fork" not in mp.get_all_start_methods():
        yield from scanner.scan_many(items)
        return
    scanner.warm_up()
    _WORKER = scanner
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    gc.freeze()
    try:
        with mp.get_context("fork").Pool(min(n, len(chunks))) as pool:
            for results in pool.imap(_worker_scan, chunks):
                yield from results
    finally:
        gc.unfreeze()
        _WORKER = None
