"""sources.yaml: loading and validating the crawl's configuration (errors name the file, the source and the
key), and the `--since` window. Each connector declares the keys it takes (crawl/sources/); the keys every
source takes are COMMON_KEYS."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sources import Source

COMMON_KEYS: dict[str, str] = {
    "name": "name", "type": "type", "token_env": "env", "token": "secret", "base_url": "url",
    "timeout": "float", "retries": "int0", "backoff": "float0", "max_retry_wait": "float0",
    "max_image_mb": "float", "images": "bool", "max_images": "int", "enabled": "bool",
    "max_body_mb": "float", "max_request_seconds": "float", "max_source_seconds": "float",
}
DEFAULTS_KEYS = ("timeout", "retries", "backoff", "max_retry_wait", "max_image_mb", "images", "max_images",
                 "max_body_mb", "max_request_seconds", "max_source_seconds")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(ValueError):
    """sources.yaml (or a crawl option) is wrong; the message names the file, the source and the key."""


@dataclass
class CrawlConfig:
    path: Path
    sources: list[Source]


def parse_since(value: str | None) -> timedelta | None:
    """'7d', '24h', '2w', '90m' -> a window; None for no window."""
    if value is None or not str(value).strip():
        return None
    m = re.fullmatch(r"(\d+)\s*([mhdw])", str(value).strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ConfigError(f"--since: expected a duration like 7d, 24h, 2w or 90m, got {value!r}")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


def load_config(path: str | Path) -> CrawlConfig:
    """Read and validate sources.yaml; ConfigError names the file, the source and the key."""
    import yaml

    from .sources import SOURCE_TYPES

    p = Path(path)
    fname = p.name
    try:
        raw = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot be read ({type(exc).__name__})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{fname}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{fname}: expected a mapping with a 'sources:' list")
    for key in data:
        if key not in ("sources", "defaults"):
            raise ConfigError(f"{fname}: unknown top-level key {key!r} (expected 'sources' and optionally "
                              f"'defaults'){_did_you_mean(str(key), ['sources', 'defaults'])}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{fname}: 'defaults' must be a mapping")
    for key, value in defaults.items():
        if key not in DEFAULTS_KEYS:
            raise ConfigError(f"{fname}: defaults: unknown key {key!r} (expected one of {', '.join(DEFAULTS_KEYS)})"
                              f"{_did_you_mean(str(key), list(DEFAULTS_KEYS))}")
        _check_value(f"{fname}: defaults: '{key}'", COMMON_KEYS[key], value, p.parent)
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{fname}: 'sources' must be a non-empty list")
    seen: set[str] = set()
    out: list[Source] = []
    for i, entry in enumerate(entries, 1):
        out_src = _source(entry, i, fname, p.parent, defaults, SOURCE_TYPES, seen)
        if out_src is not None:
            out.append(out_src)
    if not out:
        raise ConfigError(f"{fname}: every source is disabled (enabled: false)")
    return CrawlConfig(p, out)


def _source(entry: Any, i: int, fname: str, base_dir: Path, defaults: dict[str, Any], types: dict[str, Any],
            seen: set[str]) -> Source | None:
    from .sources import Source

    where = f"{fname}: source #{i}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with 'name' and 'type'")
    name = entry.get("name")
    if isinstance(name, bool):
        raise ConfigError(f"{where}: 'name' must be text (YAML reads on/off/yes/no as true/false: quote it)")
    if isinstance(name, int):
        name = str(name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: missing 'name'")
    if not NAME_RE.fullmatch(name):
        raise ConfigError(f"{where}: 'name' must be 1-60 letters, digits, '.', '_' or '-' (it prefixes item ids)")
    where = f"{fname}: source '{name}'"
    if name in seen:
        raise ConfigError(f"{where}: duplicate name (names must be unique)")
    seen.add(name)
    kind = entry.get("type")
    if kind not in types:
        raise ConfigError(f"{where}: 'type' is {kind!r}; expected one of {', '.join(sorted(types))}")
    st = types[kind]
    allowed = {**COMMON_KEYS, **st.required, **st.optional}
    opts: dict[str, Any] = {k: v for k, v in defaults.items()}
    for key, value in entry.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} for type {kind}"
                              f"{_did_you_mean(str(key), list(allowed))}")
        if key in ("name", "type"):
            continue
        opts[key] = _check_value(f"{where}: '{key}'", allowed[key], value, base_dir)
    missing = [k for k in st.required if opts.get(k) in (None, "", [])]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(repr(k) for k in missing)} (needed by type {kind})")
    for group in st.one_of:
        if not any(opts.get(k) for k in group):
            raise ConfigError(f"{where}: needs {' or '.join(repr(k) for k in group)} (type {kind})")
    if opts.get("enabled") is False:
        return None
    token = opts.pop("token", None)
    return Source(name=name, type=kind, opts=opts, token=token)


def _check_value(where: str, kind: str, value: Any, base_dir: Path) -> Any:
    """One value of sources.yaml checked against its kind; returns it normalised."""
    from ..core.models import CHANNELS

    def fail(expected: str) -> ConfigError:
        shown = "a value" if kind == "secret" else repr(value) if not isinstance(value, dict | list) else type(
            value).__name__
        return ConfigError(f"{where} must be {expected} (got {shown})")

    if kind in ("name", "type"):
        return value
    if kind == "id":
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise fail("an id (text or number)")
        s = str(value).strip()
        if re.search(r"[\s/?#&%]", s):
            raise fail("an id without spaces, '/', '?', '#', '&' or '%'")
        return s
    if kind == "url":
        if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value.strip()):
            raise fail("an http(s) URL")
        return value.strip()
    if kind == "urls":
        if not isinstance(value, list) or not value:
            raise fail("a non-empty list of http(s) URLs")
        for n, u in enumerate(value, 1):
            if not isinstance(u, str) or not re.match(r"https?://[^/\s]+", u.strip()):
                raise ConfigError(f"{where} item {n} must be an http(s) URL (got {u!r})")
        return [u.strip() for u in value]
    if kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise fail("a file path")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else (base_dir / path)
        if not path.is_file():
            raise ConfigError(f"{where}: no such file {path}")
        if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson", ".json"):
            raise ConfigError(f"{where}: expected a .csv or .jsonl file, got {path.name}")
        return str(path.resolve())
    if kind in ("str", "secret"):
        if not isinstance(value, str) or not value.strip():
            raise fail("non-empty text")
        return value.strip()
    if kind == "env":
        if not isinstance(value, str) or not ENV_RE.fullmatch(value):
            raise fail("the name of an environment variable (letters, digits, _)")
        return value
    if kind == "channel":
        if not isinstance(value, str) or value.strip().lower() not in CHANNELS:
            raise fail(f"one of {', '.join(CHANNELS)}")
        return value.strip().lower()
    if kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if kind in ("int", "int0"):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if kind == "int0" else 1):
            raise fail("a whole number" + (" (0 or more)" if kind == "int0" else " (1 or more)"))
        return value
    if kind in ("float", "float0"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
                kind == "float" and value == 0):
            raise fail("a positive number" if kind == "float" else "a number (0 or more)")
        return float(value)
    raise AssertionError(kind)  # pragma: no cover


def _did_you_mean(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
