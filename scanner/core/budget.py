"""Per-item time budget: how long one item may take before the rest of it is left unchecked.

`MEDSPA_SCAN_ITEM_BUDGET` (seconds, default 60; 0 switches the budget off). The text analysis starts a
`Deadline` for each item (charged with its share of the batch parse) and hands it on in the analysis; the
stages check it at their boundaries (each slice of the Presidio analysis, each rule, the images) and stop
when it has passed. What was not checked then shows as a `scan_incomplete` finding (rule PHI900), so an
item that ran out of time is never `pass`. A single stage is not interrupted: the budget bounds the work
to the budget plus one stage, which the linear-time text analysis keeps short.
"""
from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)
ENV = "MEDSPA_SCAN_ITEM_BUDGET"
DEFAULT_SECONDS = 60.0


def item_budget() -> float | None:
    """Seconds one item may take (None: no budget); a value that is not a number falls back to the default."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        log.warning("%s is not a number of seconds; using %.0f", ENV, DEFAULT_SECONDS)
        return DEFAULT_SECONDS
    return seconds if seconds > 0 else None


class Deadline:
    """The moment one item's budget runs out; `spent` is time already used for it (its share of a batch)."""

    def __init__(self, seconds: float | None = None, spent: float = 0.0):
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds - spent
        self.cut: list[str] = []  # what was left unchecked, in order

    @classmethod
    def start(cls, spent: float = 0.0) -> Deadline:
        return cls(item_budget(), spent)

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def skip(self, what: str) -> bool:
        """True (and `what` noted as unchecked) when the budget has run out."""
        if not self.expired():
            return False
        if what not in self.cut:
            self.cut.append(what)
        return True

    def message(self) -> str:
        return (f"The scan of this item ran past its time budget of {self.seconds:g} s ({ENV}); "
                f"not checked: {', '.join(self.cut)}.")
