"""MedSpa Compliance Scanner: stops med spas from leaking patient information in posts, review
replies, images and messages.

Public surface (what the dashboard, the benchmarks, the evaluation and other tools import):
`Item`, `Finding`, `ScanResult`, `Severity` (the data contract), `Scanner` and `scan_parallel` (load
once, scan many), `Store` (SQLite or any SQLAlchemy URL), `Registry` and `RegistryError` (marketing
authorizations), `load_rule_pack` (the rules as loaded) and `create_app` (the reply-gate API). The
heavy ones load on first use, so `import scanner` stays fast. The layout behind it: docs/architecture.md.
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# Presidio's e-mail and URL recognizers use tldextract; never let it fetch the suffix list.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from .core.models import Finding, Item, ScanResult, Severity  # noqa: E402

if TYPE_CHECKING:
    from .api.app import create_app
    from .core.store import Store
    from .pipeline.engine import Scanner, scan_parallel
    from .registry.authorizations import Registry, RegistryError
    from .text.rule_loader import load_rule_pack

#: name -> the module it lives in (imported on first use)
_LAZY = {
    "Scanner": "scanner.pipeline.engine",
    "scan_parallel": "scanner.pipeline.engine",
    "Store": "scanner.core.store",
    "Registry": "scanner.registry.authorizations",
    "RegistryError": "scanner.registry.authorizations",
    "load_rule_pack": "scanner.text.rule_loader",
    "create_app": "scanner.api.app",
}

__all__ = ["Finding", "Item", "Registry", "RegistryError", "ScanResult", "Scanner", "Severity", "Store",
           "create_app", "load_rule_pack", "scan_parallel"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'scanner' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
