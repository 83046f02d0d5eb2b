"""What a scan answer may say about the authorization registry to a caller who may not see the registry.

The registry is PHI: that a person is a client, her patient id, when she signed, what she allowed. API
keys (always; keys have no scope that would allow more) and dashboard users who are not compliance or
admin get `without_registry(result)`: registry-derived details are removed, and a named person who is a
registered client without the right authorization, who matches several clients, or who is not in the
registry at all gets the same finding, word for word ("a client named here lacks authorization for this
use"). The stored result keeps every detail for the reviewers; the command line (a local administrator)
prints it in full.

What remains visible: the verdict (an authorized use passes, which is the product's job), and whether a
face in an image matched somebody (IMG001 vs IMG002/IMG003; the patient id is removed).
"""
from __future__ import annotations

from ..core.models import Finding, ScanResult, Severity

REGISTRY_ROLES = ("compliance", "admin")
CLIENT_MESSAGE = "A client named here lacks authorization for this use"
CLIENT_FIX = "Get the client's signed authorization for this use and channel first, or remove the person."
AUTHORIZED_MESSAGE = "Covered by a valid authorization for this use"
_UNAUTHORIZED = ("AUT001", "AUT002", "AUT003")  # not authorized, no record, ambiguous: one public form
_FACE_MESSAGE = {
    "IMG002": "A face in the image belongs to a client whose authorization does not cover before_after_photos "
              "on this channel.",
    "IMG003": "A face in the image could be more than one client; a reviewer must confirm who it is.",
    "IMG100": "A face in the image is covered by a valid before_after_photos authorization for this channel.",
}
_FACE_DETAIL = ("matched", "distance", "second_distance", "status")


def may_see_registry(role: str | None) -> bool:
    return role in REGISTRY_ROLES


def without_registry(result: ScanResult) -> ScanResult:
    """`result` as a caller without registry access may see it (see the module docstring)."""
    return result.model_copy(update={"findings": [_finding(f) for f in result.findings]})


def _finding(f: Finding) -> Finding:
    detail = dict(f.detail or {})
    update: dict = {"registry_record": None}
    purposes = ", ".join(detail.get("purposes") or [])
    use = f" (use: {purposes})" if purposes else ""
    if f.rule_id in _UNAUTHORIZED:
        update.update(rule_id="AUT001", severity=Severity.high, message=CLIENT_MESSAGE + use, suggestion=CLIENT_FIX,
                      detail={k: v for k, v in detail.items() if k in ("source", "purposes")} or None)
    elif f.rule_id == "AUT100":
        update.update(message=AUTHORIZED_MESSAGE + use,
                      detail={k: v for k, v in detail.items() if k in ("source", "purposes")} or None)
    elif f.rule_id in _FACE_MESSAGE:
        update.update(message=_FACE_MESSAGE[f.rule_id],
                      detail={k: v for k, v in detail.items() if k not in _FACE_DETAIL} or None)
    elif f.rule_id == "IMG020" and detail.get("text_rule") in _UNAUTHORIZED:  # a name in the image's text
        update.update(severity=Severity.high, message=f"Text in the image: {CLIENT_MESSAGE}", suggestion=CLIENT_FIX,
                      detail={**detail, "text_rule": "AUT001"})
    return f.model_copy(update=update)
