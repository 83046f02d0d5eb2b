"""Image pipeline (placeholder until the image issue lands): every image is reported as not checked.

Fail closed: an image that was not checked can never let an item pass.
"""
from __future__ import annotations

from ._models import Finding, Item, Severity


def incomplete(message: str, source: str = "image") -> Finding:
    return Finding(
        rule_id="IMG900",
        category="scan_incomplete",
        severity=Severity.medium,
        message=message,
        evidence="",
        source=source,
        citation="45 CFR 164.530(c)",
    )


def scan_images(item: Item, analysis, ctx) -> list[Finding]:
    return [incomplete("image pipeline not available; the image was not checked", f"image:{p}") for p in item.images]
