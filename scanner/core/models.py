"""The one vocabulary every layer speaks: input Item, Finding and the output ScanResult (pydantic)."""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .scrub import scrub

KINDS = ("post", "reply", "comment", "message")
CHANNELS = ("instagram", "facebook", "tiktok", "google", "yelp", "website", "email", "sms")
MARKETING_KINDS = ("post", "message")
CATEGORIES = (
    "patient_identifier",
    "relationship_confirmation",
    "treatment_disclosure",
    "medical_advice",
    "unauthorized_use",
    "identifiable_image",
    "image_text",
    "image_metadata",
    "scan_incomplete",
)
MAX_TEXT_CHARS = 100_000


class Severity(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "info": 0}


class Item(BaseModel):
    """One piece of content to check (a draft post, a reply, a comment or a message)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: str = Field(default="item", min_length=1, max_length=200)
    kind: str = "post"
    channel: str = "instagram"
    text: str = ""
    in_reply_to: str | None = None
    author: str | None = None
    images: list[str] = Field(default_factory=list)
    permalink: str | None = None

    @field_validator("kind", "channel")
    @classmethod
    def _one_of(cls, v: str, info: ValidationInfo) -> str:
        allowed = KINDS if info.field_name == "kind" else CHANNELS
        v = v.strip().lower()
        if v not in allowed:
            raise ValueError(f"unknown {info.field_name} {v!r}; expected one of {', '.join(allowed)}")
        return v

    @field_validator("text", "in_reply_to")
    @classmethod
    def _size(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and len(v) > MAX_TEXT_CHARS:
            raise ValueError(f"{info.field_name} is {len(v):,} characters; the limit is {MAX_TEXT_CHARS:,}")
        return v

    @field_validator("id", "text", "in_reply_to", "author", "permalink")
    @classmethod
    def _scrub(cls, v: str | None) -> str | None:
        return None if v is None else scrub(v)  # a lone surrogate becomes U+FFFD; the item is still scanned

    @property
    def is_marketing(self) -> bool:
        return self.kind in MARKETING_KINDS


class Finding(BaseModel):
    """One problem (or advisory) found in an item, with its evidence."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str
    category: str
    severity: Severity
    message: str
    evidence: str = ""
    start: int | None = None
    end: int | None = None
    source: str = "text"
    citation: str = ""
    suggestion: str | None = None
    score: float | None = None
    pattern: str | None = None
    registry_record: str | None = None
    box: list[int] | None = None
    detail: dict[str, Any] | None = None

    @field_validator("message", "evidence", "source", "suggestion")
    @classmethod
    def _scrub(cls, v: str | None) -> str | None:
        return None if v is None else scrub(v)  # e.g. an image file name that was not UTF-8

    def public(self) -> dict[str, Any]:
        """The DESIGN.md output shape (optional keys only when set)."""
        return self.model_dump(mode="json", exclude_none=True)


class ScanResult(BaseModel):
    """The output item: verdict, findings and an optional safe rewrite."""

    id: str
    verdict: str
    findings: list[Finding]
    suggested_text: str | None = None
    rule_pack: str = ""
    permalink: str | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "verdict": self.verdict,
            "findings": [f.public() for f in self.findings],
        }
        if self.suggested_text is not None:
            out["suggested_text"] = self.suggested_text
        if self.permalink:
            out["permalink"] = self.permalink
        out["rule_pack"] = self.rule_pack
        return out


def verdict_for(findings: list[Finding]) -> str:
    """`block` on any high finding, `review` on any medium, else `pass`."""
    sev = {f.severity.value for f in findings}
    if "high" in sev:
        return "block"
    if "medium" in sev:
        return "review"
    return "pass"
