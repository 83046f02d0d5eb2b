"""CSV cells that spreadsheets will not run as formulas: the one neutralizer every CSV the product writes
uses (the crawl report, `batch --format csv`, `registry export`, the dashboard's downloads), and its
inverse for `registry import`, so an export still imports as it was.

A cell that starts with = + - @, a tab or a carriage return gets a leading apostrophe (OWASP's advice for
CSV injection); spreadsheets show the text and run nothing. Content, names and handles are untrusted.
"""
from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """The text of a CSV cell, with an apostrophe in front when a spreadsheet would read a formula."""
    s = "" if value is None else str(value)
    return "'" + s if s[:1] in FORMULA_START else s


def csv_uncell(value: str) -> str:
    """What `csv_cell` wrote, back to the value (the apostrophe before a formula character dropped)."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_START and len(value) > 1 else value


def neutralize_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with every cell passed through `csv_cell` (empty for missing values),
    for `DataFrame.to_csv` downloads."""
    return frame.astype(object).where(frame.notna(), None).map(csv_cell)
