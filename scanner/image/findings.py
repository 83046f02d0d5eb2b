"""Image findings: one builder that takes each IMG rule's category, citation and remediation from the rule
pack (rules/images.yaml, what `rules explain` and SARIF show) so code and documentation cannot drift."""
from __future__ import annotations

from functools import cache
from typing import Any

from ..core.models import Finding, Severity

#: category and default severity of every rule the image pipeline emits (tests compare this with the YAML)
RULES: dict[str, tuple[str, Severity]] = {
    "IMG001": ("identifiable_image", Severity.medium),
    "IMG002": ("unauthorized_use", Severity.high),
    "IMG003": ("unauthorized_use", Severity.medium),
    "IMG004": ("identifiable_image", Severity.medium),
    "IMG010": ("image_metadata", Severity.medium),
    "IMG011": ("image_metadata", Severity.low),
    "IMG012": ("image_metadata", Severity.medium),
    "IMG013": ("image_metadata", Severity.medium),
    "IMG014": ("image_metadata", Severity.medium),
    "IMG015": ("image_metadata", Severity.medium),
    "IMG016": ("image_metadata", Severity.low),
    "IMG020": ("image_text", Severity.high),
    "IMG100": ("unauthorized_use", Severity.info),
    "IMG101": ("identifiable_image", Severity.info),
    "IMG900": ("scan_incomplete", Severity.medium),
    "IMG901": ("scan_incomplete", Severity.medium),
    "IMG902": ("scan_incomplete", Severity.medium),
    "IMG903": ("scan_incomplete", Severity.medium),
}
_FALLBACK_CITATION = "45 CFR 164.530(c)"


@cache
def rule_meta() -> dict[str, dict[str, Any]]:
    """IMG rule entries from rules/images.yaml by id ({} when the pack is not found)."""
    import yaml

    from ..core.config import rules_dir

    try:
        path = rules_dir() / "images.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return {str(r.get("id")): r for r in data.get("rules", []) if isinstance(r, dict)}


def finding(rule_id: str, message: str, source: str, *, evidence: str = "", severity: Severity | None = None,
            box: list[int] | None = None, detail: dict[str, Any] | None = None, registry_record: str | None = None,
            suggestion: str | None = None, score: float | None = None, citation: str | None = None) -> Finding:
    """A Finding for image rule `rule_id`; category, citation and the fix come from the rule pack."""
    category, default = RULES[rule_id]
    meta = rule_meta().get(rule_id, {})
    return Finding(
        rule_id=rule_id, category=category, severity=severity or default, message=message,
        evidence=evidence[:300], source=source, box=box, detail=detail or None, registry_record=registry_record,
        citation=citation or str(meta.get("citation") or _FALLBACK_CITATION),
        suggestion=(suggestion or None) if suggestion is not None else (str(meta.get("remediation", "")).strip() or None),
        score=score,
    )


def incomplete(message: str, source: str = "image", severity: Severity = Severity.medium,
               rule_id: str = "IMG900") -> Finding:
    """A `scan_incomplete` finding: this part of the item was not checked, so the item never passes."""
    return finding(rule_id, message, source, severity=severity)
