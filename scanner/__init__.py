"""MedSpa Compliance Scanner: stops med spas from leaking patient information in posts, review
replies, images and messages.

Public surface: `Item`, `Finding`, `ScanResult` (the data contract), `Scanner` (load once, scan
many), `Store` (SQLite or any SQLAlchemy URL). Everything else is internal.
"""
from __future__ import annotations

import os

# Presidio's e-mail and URL recognizers use tldextract; never let it fetch the suffix list.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from .core.models import Finding, Item, ScanResult, Severity  # noqa: E402

__all__ = ["Finding", "Item", "ScanResult", "Scanner", "Severity", "Store"]


def __getattr__(name: str):  # heavy modules load on first use
    if name == "Scanner":
        from .pipeline.engine import Scanner

        return Scanner
    if name == "Store":
        from .core.store import Store

        return Store
    raise AttributeError(name)
