"""Findings in a marketer's words: the one-sentence verdict ("Don't post: it names Sarah and confirms their
lip filler."), one card per highlighted span (overlapping findings merged, repeats of the same words
grouped), readable category and action labels. Pure functions of the findings (dicts as stored), so the
pre-check, the queue and the tests share them; rule ids and citations stay in the cards' details."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "info": 0}
SEVERITY_BG = {"high": "#ffc9c9", "medium": "#ffe0a8", "low": "#fff3bf", "info": "#e7f5ff"}
CATEGORY_LABEL = {
    "patient_identifier": "Names a client",
    "relationship_confirmation": "Confirms someone is a client",
    "treatment_disclosure": "Reveals a treatment",
    "medical_advice": "Personal medical advice",
    "unauthorized_use": "Client used without authorization",
    "identifiable_image": "Identifiable face",
    "image_text": "Text in the image",
    "image_metadata": "Hidden photo data",
    "scan_incomplete": "Not fully checked",
}
OPENING = {"block": "Don't post", "review": "Check before posting", "pass": "Good to go"}


_CLI_HINT = re.compile(r"\s*\(medspa-scan check --(redact|strip-metadata) OUT\)")
_BUTTON = {"redact": "Download with faces blurred", "strip-metadata": "Download without metadata"}


def dashboard_terms(text: str) -> str:
    """A rule's fix as a dashboard user reads it: "(medspa-scan check --redact OUT)" -> the button to use."""
    return _CLI_HINT.sub(lambda m: f" (the “{_BUTTON[m.group(1)]}” button under the image)", text)


def category_label(category: str) -> str:
    return CATEGORY_LABEL.get(category, category.replace("_", " ").capitalize())


def counted(f: dict[str, Any]) -> bool:
    """A finding that matters for the verdict (not an advisory, not waived)."""
    return f.get("severity") in ("high", "medium") and not f.get("waived")


def _join(parts: list[str]) -> str:
    parts = list(dict.fromkeys(p for p in parts if p))
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _evidence(findings: list[dict[str, Any]], categories: tuple[str, ...], limit: int = 2) -> list[str]:
    out: dict[str, str] = {}
    for f in findings:
        ev = " ".join(str(f.get("evidence") or "").split())
        if f["category"] in categories and ev and f.get("source", "text") == "text" and len(ev) <= 40:
            out.setdefault(ev.lower(), ev)
    return list(out.values())[:limit]


def verdict_sentence(verdict: str, findings: list[dict[str, Any]]) -> str:
    """One plain sentence built from the findings that count, e.g. "Don't post: it names Sarah and
    confirms their lip filler." A pass says so, and how many tips there are."""
    live = [f for f in findings if counted(f)]
    if verdict == "pass" or not live:
        tips = sum(1 for f in findings if f.get("severity") == "low" and not f.get("waived"))
        tail = f" ({tips} tip{'s' if tips != 1 else ''} below)" if tips else ""
        return f"{OPENING['pass']}: nothing in it identifies a client or their treatment{tail}."
    cats = {f["category"] for f in live}
    names = _evidence(live, ("patient_identifier", "unauthorized_use"))
    treatments = _evidence(live, ("treatment_disclosure",))
    parts = []
    if names:
        tagged = [n for n in names if n.startswith("@")]
        plain = [n for n in names if not n.startswith("@")]
        parts.append(_join(([f"names {_join(plain)}"] if plain else []) + ([f"tags {_join(tagged)}"] if tagged else [])))
    elif cats & {"patient_identifier", "unauthorized_use"}:
        parts.append("identifies a client")
    if treatments:
        parts.append(f"confirms {'their' if names else 'a client’s'} {_join(treatments)}")
    elif "treatment_disclosure" in cats:
        parts.append("reveals a client’s treatment")
    if "relationship_confirmation" in cats and not treatments:
        parts.append("confirms they are a client")
    if "medical_advice" in cats:
        parts.append("gives personal medical advice in public")
    if "unauthorized_use" in cats and not names:
        parts.append("uses a client without a valid authorization")
    if "identifiable_image" in cats:
        parts.append("shows a face nobody has authorized for this post")
    if "image_text" in cats:
        parts.append("has text in the image that discloses patient details")
    if "image_metadata" in cats:
        parts.append("carries hidden photo data (such as location or names)")
    if "scan_incomplete" in cats:
        parts.append("could not be fully checked")
    if not parts:
        parts = [category_label(c).lower() for c in sorted(cats)]
    return f"{OPENING.get(verdict, 'Check before posting')}: it {_join(parts)}."


@dataclass
class Card:
    """One problem as a marketer sees it: a highlighted span (or an image, or the whole item) with every
    finding on it, and how many times the same words recur."""
    number: int
    findings: list[dict[str, Any]]
    spans: list[tuple[int, int]] = field(default_factory=list)
    source: str = "text"
    words: str = ""

    @property
    def severity(self) -> str:
        return max((f["severity"] for f in self.findings), key=lambda s: SEVERITY_RANK.get(s, 0))

    @property
    def top(self) -> dict[str, Any]:
        return max(self.findings, key=lambda f: SEVERITY_RANK.get(f["severity"], 0))

    @property
    def title(self) -> str:
        cats = list(dict.fromkeys(f["category"] for f in sorted(
            self.findings, key=lambda f: -SEVERITY_RANK.get(f["severity"], 0))))
        what = " · ".join(category_label(c) for c in cats)
        where = f"“{self.words}”" if self.words else ("Image " + self.source.split(":", 1)[1]
                                                       if self.source.startswith("image:") else "")
        times = f" (×{len(self.spans)})" if len(self.spans) > 1 else ""
        return f"{where}{times} — {what}" if where else what

    @property
    def fix(self) -> str:
        """What to write or do instead, in dashboard terms (a command-line hint becomes the download button)."""
        for f in sorted(self.findings, key=lambda f: -SEVERITY_RANK.get(f["severity"], 0)):
            if f.get("suggestion"):
                return dashboard_terms(str(f["suggestion"]))
        return ""

    @property
    def rule_ids(self) -> list[str]:
        return list(dict.fromkeys(f["rule_id"] for f in self.findings))


def _has_span(f: dict[str, Any], text_len: dict[str, int]) -> bool:
    s, e = f.get("start"), f.get("end")
    src = f.get("source", "text")
    return isinstance(s, int) and isinstance(e, int) and src in text_len and 0 <= s < e <= text_len[src]


def cards(findings: list[dict[str, Any]], text: str = "", in_reply_to: str = "",
          include_low: bool = True) -> list[Card]:
    """Findings grouped into cards: overlapping spans in a text merged into one card, cards with the same
    words and rules merged (repeats), findings without a span grouped by rule and source. Info findings and
    waived ones are left out (the caller lists waivers separately); ordered by severity, then position."""
    lens = {"text": len(text or ""), "in_reply_to": len(in_reply_to or "")}
    texts = {"text": text or "", "in_reply_to": in_reply_to or ""}
    keep = [f for f in findings if f.get("severity") != "info" and not f.get("waived")
            and (include_low or f.get("severity") != "low")]
    clusters: list[tuple[str, int, int, list[dict[str, Any]]]] = []
    for f in sorted((f for f in keep if _has_span(f, lens)), key=lambda f: (f.get("source", "text"), f["start"])):
        src = f.get("source", "text")
        if clusters and clusters[-1][0] == src and f["start"] < clusters[-1][2]:
            c = clusters[-1]
            clusters[-1] = (src, c[1], max(c[2], f["end"]), [*c[3], f])
        else:
            clusters.append((src, f["start"], f["end"], [f]))
    grouped: dict[tuple, Card] = {}
    for src, s, e, fs in clusters:
        words = " ".join(texts[src][s:e].split())
        key = ("span", src, words.lower(), frozenset(f["rule_id"] for f in fs))
        if key in grouped:
            grouped[key].spans.append((s, e))
            grouped[key].findings.extend(fs)
        else:
            grouped[key] = Card(0, list(fs), [(s, e)], src, words)
    for f in keep:
        if _has_span(f, lens):
            continue
        key = ("rule", f.get("source", "text"), f["rule_id"])
        if key in grouped:
            grouped[key].findings.append(f)
        else:
            grouped[key] = Card(0, [f], [], f.get("source", "text"))
    out = sorted(grouped.values(), key=lambda c: (-SEVERITY_RANK.get(c.severity, 0),
                                                  c.spans[0][0] if c.spans else 10**9))
    for n, c in enumerate(out, start=1):
        c.number = n
    return out


def highlight(text: str, card_list: list[Card], source: str = "text") -> str:
    """HTML of `text` with every card's spans marked (colour by severity, the card's number after it)."""
    spans = sorted((s, e, c) for c in card_list if c.source == source for s, e in c.spans)
    out, at = [], 0
    for s, e, c in spans:
        if s < at:
            continue
        out.append(html.escape(text[at:s]))
        out.append(f"<mark style=\"background:{SEVERITY_BG.get(c.severity, '#eee')};padding:1px 2px;"
                   f"border-radius:3px\">{html.escape(text[s:e])}</mark><sup><b>{c.number}</b></sup>")
        at = e
    out.append(html.escape(text[at:]))
    return "".join(out).replace("\n", "<br>")


ACTION_LABEL = {
    "auth.login": "Logged in", "auth.failed": "Failed log-in", "auth.refused": "Log-in refused (locked)",
    "review.submit": "Submitted for approval", "review.approve": "Approved", "review.reject": "Rejected",
    "review.send_back": "Sent back with the safe text", "review.false_positive": "Marked a false positive",
    "review.unwaive": "Withdrew a waiver",
    "users.add": "Added a user", "users.password": "Set a password", "users.role": "Changed a role",
    "users.disable": "Disabled a user", "users.enable": "Enabled a user",
    "registry.add": "Added an authorization", "registry.import": "Imported authorizations",
    "registry.revoke": "Revoked an authorization", "registry.enroll": "Enrolled a photo",
    "registry.migrate": "Upgraded the registry", "registry.key": "Registry key event", "registry.csv": "Registry export",
    "apikey.create": "Created an API key", "apikey.revoke": "Revoked an API key",
    "crawl.run": "Crawled published content", "crawl.lock": "Crawl already running",
}
AREA_LABEL = {"auth": "Log-ins", "review": "Review decisions", "users": "Users", "registry": "Registry",
              "apikey": "API keys", "crawl": "Crawls"}


def action_label(action: str) -> str:
    return ACTION_LABEL.get(action, action.split(".", 1)[-1].replace("_", " ").capitalize())


def detail_text(detail: Any) -> str:
    """An audit entry's detail as "key: value" pairs (no JSON braces); long values shortened."""
    if not isinstance(detail, dict) or not detail:
        return ""
    parts = []
    for k, v in detail.items():
        if isinstance(v, list | tuple):
            v = ", ".join(map(str, v))
        elif isinstance(v, dict):
            v = ", ".join(f"{a} {b}" for a, b in v.items())
        v = str(v)
        parts.append(f"{k.replace('_', ' ')}: {v if len(v) <= 80 else v[:79] + '…'}")
    return "; ".join(parts)
