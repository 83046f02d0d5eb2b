"""sources.yaml: loading and validating the crawl's configuration (errors name the file, the source and the
key), and the `--since` window.

The keys are pydantic models: `Defaults` (the `defaults:` block) and one model a connector type, built from the
keys the connector declares with their kinds (crawl/sources/); the keys every source takes are COMMON_KEYS.
A kind is a strict pydantic type plus the phrase that tells a person what was expected (KINDS); pydantic's
errors are turned into one line naming the file, the source, the key, what was expected and what was found
(never a secret's value)."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from annotated_types import Len
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
)
from pydantic_core import PydanticCustomError

from ..core.models import CHANNELS

if TYPE_CHECKING:
    from .sources import Source, SourceType

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
URL_PATTERN = r"^https?://[^/\s]+"
DATA_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")


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


# ----------------------------------------------------------------------------------------------
# The kinds of value: a strict pydantic type and what a person is told was expected
# ----------------------------------------------------------------------------------------------
def _id(value: str | int) -> str:
    s = str(value).strip()
    if not s:
        raise ValueError("empty id")
    if re.search(r"[\s/?#&%]", s):
        raise PydanticCustomError("expected", "{expected}",
                                  {"expected": "an id without spaces, '/', '?', '#', '&' or '%'"})
    return s


def _channel(value: str) -> str:
    if value.lower() not in CHANNELS:
        raise ValueError("unknown channel")
    return value.lower()


def _path(value: str, info: ValidationInfo) -> str:
    """A data file, relative to sources.yaml (its folder comes in the validation context)."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else Path((info.context or {}).get("base_dir", ".")) / path
    if not path.is_file():
        raise PydanticCustomError("file", "no such file {path}", {"path": str(path)})
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise PydanticCustomError("file", "expected a .csv or .jsonl file, got {name}", {"name": path.name})
    return str(path.resolve())


Text = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1)]
Url = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, pattern=URL_PATTERN)]
KINDS: dict[str, tuple[Any, str]] = {
    "id": (Annotated[Annotated[str, Strict()] | Annotated[int, Strict()], AfterValidator(_id)],
           "an id (text or number)"),
    "url": (Url, "an http(s) URL"),
    "urls": (Annotated[list[Url], Len(min_length=1)], "a non-empty list of http(s) URLs"),
    "path": (Annotated[Text, AfterValidator(_path)], "a file path"),
    "str": (Text, "non-empty text"),
    "secret": (Text, "non-empty text"),
    "env": (Annotated[str, Strict(), StringConstraints(pattern=f"^{ENV_RE.pattern}$")],
            "the name of an environment variable (letters, digits, _)"),
    "channel": (Annotated[Text, AfterValidator(_channel)], f"one of {', '.join(CHANNELS)}"),
    "bool": (Annotated[bool, Strict()], "true or false"),
    "int": (Annotated[int, Strict(), Field(ge=1)], "a whole number (1 or more)"),
    "int0": (Annotated[int, Strict(), Field(ge=0)], "a whole number (0 or more)"),
    "float": (Annotated[float, Strict(), Field(gt=0)], "a positive number"),
    "float0": (Annotated[float, Strict(), Field(ge=0)], "a number (0 or more)"),
}


def _field(kind: str, required: bool) -> tuple[Any, Any]:
    """A model field of KIND. An optional one defaults to None, which is never validated, while a null
    written in the file is (and refused); only the keys a file sets are passed on (`exclude_unset`), so
    the connector's own defaults apply to the rest."""
    return KINDS[kind][0], (... if required else None)


FORBID = ConfigDict(extra="forbid")
Defaults: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Defaults", __config__=FORBID, **{k: _field(COMMON_KEYS[k], False) for k in DEFAULTS_KEYS})


@cache
def source_model(type_name: str) -> type[BaseModel]:
    """The keys a source of connector type TYPE_NAME takes (besides name and type), as a pydantic model."""
    from .sources import SOURCE_TYPES

    st = SOURCE_TYPES[type_name]
    fields = {k: _field(kind, False) for k, kind in COMMON_KEYS.items() if k not in ("name", "type")}
    fields.update({k: _field(kind, False) for k, kind in st.optional.items()})
    fields.update({k: _field(kind, True) for k, kind in st.required.items()})
    return create_model(f"{st.name}_source", __config__=FORBID, **fields)  # type: ignore[call-overload, no-any-return]


def _kind_of(key: str, st: SourceType | None) -> str:
    if st is not None and key in {**st.required, **st.optional}:
        return {**st.required, **st.optional}[key]
    return COMMON_KEYS.get(key, "str")


def _explain(exc: ValidationError, where: str, st: SourceType | None, allowed: list[str]) -> ConfigError:
    """Pydantic's first problem (unknown keys first, missing keys last, all of them at once) as one line:
    where, which key, what was expected, what was found (never a secret's value)."""
    errors = exc.errors(include_url=False)
    extra = [e for e in errors if e["type"] == "extra_forbidden"]
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
    wrong = [e for e in errors if e["type"] not in ("extra_forbidden", "missing")]
    type_note = f" for type {st.name}" if st is not None else ""
    if extra:
        key = str(extra[0]["loc"][0])
        if st is None:
            return ConfigError(f"{where}unknown key {key!r} (expected one of {', '.join(allowed)})"
                               f"{_did_you_mean(key, allowed)}")
        return ConfigError(f"{where}unknown key {key!r}{type_note}{_did_you_mean(key, allowed)}")
    if wrong:
        e = wrong[0]
        key, kind = str(e["loc"][0]), _kind_of(str(e["loc"][0]), st)
        if e["type"] == "file":
            return ConfigError(f"{where}'{key}': {e['msg']}")
        value, expected = e["input"], KINDS[kind][1]
        if len(e["loc"]) > 1 and isinstance(e["loc"][1], int):  # one entry of a list
            key, expected = f"{key}' item {e['loc'][1] + 1}", "an http(s) URL"
            return ConfigError(f"{where}'{key} must be {expected} (got {value!r})")
        if e["type"] == "expected":
            expected = e["msg"]
        shown = "a value" if kind == "secret" else type(value).__name__ if isinstance(value, dict | list) else repr(value)
        return ConfigError(f"{where}'{key}' must be {expected} (got {shown})")
    return ConfigError(f"{where}missing {', '.join(repr(k) for k in missing)} (needed by type "
                       f"{st.name if st else '?'})")


# ----------------------------------------------------------------------------------------------
# The file
# ----------------------------------------------------------------------------------------------
def load_config(path: str | Path) -> CrawlConfig:
    """Read and validate sources.yaml; ConfigError names the file, the source and the key."""
    import yaml

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
    raw_defaults = data.get("defaults") or {}
    if not isinstance(raw_defaults, dict):
        raise ConfigError(f"{fname}: 'defaults' must be a mapping")
    context = {"base_dir": str(p.parent)}
    try:
        defaults = Defaults.model_validate(raw_defaults, context=context).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise _explain(exc, f"{fname}: defaults: ", None, list(DEFAULTS_KEYS)) from None
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{fname}: 'sources' must be a non-empty list")
    seen: set[str] = set()
    out: list[Source] = []
    for i, entry in enumerate(entries, 1):
        out_src = _source(entry, i, fname, context, defaults, seen)
        if out_src is not None:
            out.append(out_src)
    if not out:
        raise ConfigError(f"{fname}: every source is disabled (enabled: false)")
    return CrawlConfig(p, out)


def _source(entry: Any, i: int, fname: str, context: dict[str, str], defaults: dict[str, Any],
            seen: set[str]) -> Source | None:
    from .sources import SOURCE_TYPES, Source

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
    if kind not in SOURCE_TYPES:
        raise ConfigError(f"{where}: 'type' is {kind!r}; expected one of {', '.join(sorted(SOURCE_TYPES))}")
    st = SOURCE_TYPES[kind]
    keys = {k: v for k, v in entry.items() if k not in ("name", "type")}
    try:
        given = source_model(kind).model_validate(keys, context=context).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise _explain(exc, f"{where}: ", st, [*COMMON_KEYS, *st.required, *st.optional]) from None
    opts = {**defaults, **given}
    for group in st.one_of:
        if not any(opts.get(k) for k in group):
            raise ConfigError(f"{where}: needs {' or '.join(repr(k) for k in group)} (type {kind})")
    if opts.get("enabled") is False:
        return None
    token = opts.pop("token", None)
    return Source(name=name, type=kind, opts=opts, token=token)


def _did_you_mean(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
