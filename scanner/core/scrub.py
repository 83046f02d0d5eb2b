"""The step before everything else at every input boundary (the Item and Finding models, JSON read from the
platforms and from files, file names printed by the command line): lone surrogates become U+FFFD so one bad
character cannot stop a run."""
from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def scrub(value: str) -> str:
    """Lone surrogates (half an emoji cut off, bytes that were not UTF-8 decoded with surrogateescape)
    become U+FFFD, one for one, so offsets stay and the text can be encoded, parsed and stored."""
    return value if value.isascii() else _SURROGATE.sub(REPLACEMENT, value)


def scrub_json(value: Any) -> Any:
    """`scrub` every string (keys too) of a decoded JSON value."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_json(v) for k, v in value.items()}
    return value
