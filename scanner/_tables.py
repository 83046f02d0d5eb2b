"""Imports every module that declares tables on store.Base, so Store.create_all sees them all."""
from __future__ import annotations

import importlib

TABLE_MODULES = ("scanner.registry", "scanner.audit", "scanner.accounts", "scanner.apikeys", "scanner.review", "scanner.crawl",
                 "scanner.sessions")

for _name in TABLE_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a feature module not written yet
        if exc.name != _name:
            raise
