"""The review queue and reviewers' decisions: approve or reject an item, waive a finding as a false
positive (with a justification, a reviewer and an expiry). Every decision is stored and audit-logged;
waivers never edit the rules.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from . import audit
from .store import Base, Run, Store, StoredFinding, StoredItem, utcnow

DECISIONS = ("approve", "reject", "false_positive", "submit")


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), nullable=True)
    decision: Mapped[str] = mapped_column(String(20))
    justification: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(120))
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReviewError(ValueError):
    """A decision that cannot be taken (missing justification, unknown item)."""


def queue(store: Store, source: str | None = None, channel: str | None = None, category: str | None = None,
          severity: str | None = None, since: date | None = None, status: str | None = "open",
          verdicts: tuple[str, ...] = ("block", "review")) -> list[dict[str, Any]]:
    """Items that need a decision, newest first, with their findings."""
    with store.session() as s:
        q = select(StoredItem).where(StoredItem.verdict.in_(verdicts)).order_by(StoredItem.id.desc())
        if source:
            q = q.where(StoredItem.source == source)
        if channel:
            q = q.where(StoredItem.channel == channel)
        if status:
            q = q.where(StoredItem.review_status == status)
        if since:
            q = q.where(StoredItem.created_at >= datetime.combine(since, datetime.min.time()))
        out = []
        for it in s.execute(q.limit(500)).scalars():
            finds = [dict(f.data, id=f.id, waived=f.waived) for f in it.findings]
            if category and not any(f["category"] == category for f in finds):
                continue
            if severity and not any(f["severity"] == severity for f in finds):
                continue
            out.append(item_dict(it, finds))
        return out


def item_dict(it: StoredItem, finds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"pk": it.id, "id": it.item_id, "kind": it.kind, "channel": it.channel, "text": it.text,
            "in_reply_to": it.in_reply_to, "author": it.author, "source": it.source, "verdict": it.verdict,
            "status": it.review_status, "submitted_by": it.submitted_by, "suggested_text": it.suggested_text,
            "created_at": it.created_at.isoformat(timespec="seconds"), "findings": finds,
            "permalink": it.permalink}


def get_item(store: Store, pk: int) -> dict[str, Any] | None:
    with store.session() as s:
        it = s.get(StoredItem, pk)
        if it is None:
            return None
        return item_dict(it, [dict(f.data, id=f.id, waived=f.waived) for f in it.findings])


def decide(store: Store, pk: int, decision: str, reviewer: str, justification: str = "") -> None:
    """Approve, reject or submit an item; stored and audit-logged."""
    if decision not in ("approve", "reject", "submit"):
        raise ReviewError(f"unknown decision {decision!r}")
    if decision == "reject" and not justification.strip():
        raise ReviewError("a rejection needs a reason")
    with store.session() as s:
        it = s.get(StoredItem, pk)
        if it is None:
            raise ReviewError(f"no item {pk}")
        it.review_status = {"approve": "approved", "reject": "rejected", "submit": "open"}[decision]
        if decision == "submit":
            it.submitted_by = reviewer
        s.add(Decision(item_pk=pk, decision=decision, justification=justification, reviewer=reviewer))
    audit.record(store, reviewer, f"review.{decision}", f"item:{pk}", {"justification": justification})


def waive(store: Store, finding_id: int, reviewer: str, justification: str, expires_on: date | None = None) -> None:
    """Mark one finding a false positive (e.g. a hired model's face); needs a justification."""
    if not justification.strip():
        raise ReviewError("a false-positive waiver needs a justification")
    with store.session() as s:
        f = s.get(StoredFinding, finding_id)
        if f is None:
            raise ReviewError(f"no finding {finding_id}")
        f.waived = True
        s.add(Decision(item_pk=f.item_pk, finding_id=finding_id, decision="false_positive",
                       justification=justification, reviewer=reviewer, expires_on=expires_on))
        rule = f.rule_id
    audit.record(store, reviewer, "review.false_positive", f"finding:{finding_id}",
                 {"rule_id": rule, "justification": justification,
                  "expires_on": expires_on.isoformat() if expires_on else None})


def runs(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    with store.session() as s:
        return [{"id": r.id, "source": r.source, "actor": r.actor, "rule_pack": r.rule_pack, "status": r.status,
                 "started_at": r.started_at.isoformat(timespec="seconds"), "counts": r.counts}
                for r in s.execute(select(Run).order_by(Run.id.desc()).limit(limit)).scalars()]


def findings_table(store: Store, run_id: int | None = None, source: str | None = None) -> list[dict[str, Any]]:
    """One row per high/medium finding with its item's channel, source and week, for charts and CSV."""
    with store.session() as s:
        q = select(StoredFinding, StoredItem).join(StoredItem, StoredFinding.item_pk == StoredItem.id)
        if run_id:
            q = q.where(StoredItem.run_id == run_id)
        if source:
            q = q.where(StoredItem.source == source)
        rows = []
        for f, it in s.execute(q):
            if f.severity not in ("high", "medium"):
                continue
            rows.append({"run": it.run_id, "item": it.item_id, "pk": it.id, "source": it.source,
                         "channel": it.channel, "category": f.category, "severity": f.severity,
                         "rule_id": f.rule_id, "week": it.created_at.strftime("%G-W%V"),
                         "permalink": it.permalink or "", "waived": f.waived})
        return rows
