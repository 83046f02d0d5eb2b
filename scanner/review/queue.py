"""The review queue and reviewers' decisions.

Owns: dashboard pre-checks (scanned, stored as drafts, submitted for approval), the queue of items
that need a decision (submitted pre-checks, reply-gate decisions from the API, crawl findings, command
line scans) with filters, approve / reject, and false-positive waivers.

A waiver carries a justification, a reviewer and an expiry, lives beside the content (never in the
rules) and covers the same finding (rule and evidence) on the same content wherever it shows up again
(the weekly crawl re-scans the same page) until it expires or is withdrawn. `scan_incomplete` findings
cannot be waived: what was not checked is re-scanned, not excused. Every decision is stored in the
`decisions` table and audit-logged through `scanner.audit.record` (ids and reasons, no content).
"""
from __future__ import annotations

import threading
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, and_, case, func, select
from sqlalchemy.orm import Mapped, mapped_column, selectinload

from ..core import audit
from ..core.models import SEVERITY_RANK, Item, ScanResult
from ..core.store import Base, Run, Store, StoredFinding, StoredItem, utcnow
from ..pipeline import verdict

STATUSES = ("draft", "open", "approved", "rejected")
SOURCES = {"dashboard": "pre-check", "api": "reply gate", "crawl": "published (crawl)", "cli": "command line"}
WAIVER_DAYS = 90  # default waiver lifetime
MAX_WAIVER_DAYS = 366
QUEUE_LIMIT = 500


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), nullable=True)
    decision: Mapped[str] = mapped_column(String(20))  # submit, approve, reject, send_back, false_positive, unwaive
    justification: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(120))
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReviewError(ValueError):
    """A decision that cannot be taken (missing justification, unknown item, wrong status)."""


# -- pre-checks --------------------------------------------------------------------------------------
_SCAN_LOCK = threading.Lock()  # one scan at a time per process: the loaded models are shared
_REGISTRY_MARKS: weakref.WeakKeyDictionary[Any, tuple] = weakref.WeakKeyDictionary()


def new_precheck_id() -> str:
    return f"precheck-{uuid.uuid4().hex[:12]}"


def keep_current(scanner: Any) -> None:
    """Reload the scanner's registry when it changed (an import, a revocation, an enrolled photo, here or
    in another process) since the last scan. (The scanner judges authorizations as of each scan's day.)"""
    registry = getattr(scanner, "registry", None)
    if registry is None or not hasattr(registry, "reload"):
        return
    mark = _registry_mark(registry.store)
    if _REGISTRY_MARKS.get(registry) != mark:  # changed, or first seen (it may predate a change)
        registry.reload()
        _REGISTRY_MARKS[registry] = mark


def _registry_mark(store: Store) -> tuple:
    try:
        from ..registry.authorizations import Authorization, FaceRecord
    except ImportError:
        return ()
    with store.session() as s:
        auth = s.execute(select(func.count(), func.max(Authorization.updated_at))).one()
        faces = s.execute(select(func.count(), func.max(FaceRecord.id))).one()
    return (tuple(auth), tuple(faces))


def precheck(scanner: Any, store: Store, item: Item, user: str) -> tuple[ScanResult, int]:
    """Scan a draft for `user` and store it as a draft (not in the queue until submitted)."""
    with _SCAN_LOCK:
        keep_current(scanner)
        result = scanner.scan(item)
        if result.verdict != "pass":  # offer only a suggestion that passes the scanner itself
            text_bad = any(f.source in ("text", "in_reply_to") and f.severity.value in ("high", "medium")
                           for f in result.findings)  # only the image is wrong: no new text to offer
            safe = verdict.vetted(item, result.suggested_text, scanner.profile,
                                  lambda probe: scanner.scan(probe).verdict) if text_bad else None
            result = result.model_copy(update={"suggested_text": safe})
    run = store.start_run("dashboard", actor=user, rule_pack=result.rule_pack)
    pk = store.save_results(run, [(item, result)], source="dashboard", submitted_by=user)[0]
    with store.session() as s:
        row = s.get(StoredItem, pk)
        assert row is not None
        row.review_status = "draft"
    store.finish_run(run, {"items": 1, result.verdict: 1})
    return result, pk


def safe_text(scanner: Any, item: dict[str, Any]) -> str | None:
    """The item's suggested safe text if it passes the scanner itself, else the generic text for its kind
    if that passes, else None (for an item stored by the API, a crawl or the command line, whose
    suggestion was not checked when it was made)."""
    probe = Item(id=f"safe-{item['pk']}", kind=item["kind"], channel=item["channel"], text=item["text"] or "",
                 in_reply_to=item.get("in_reply_to") or None, author=item.get("author") or None)
    with _SCAN_LOCK:
        return verdict.vetted(probe, item.get("suggested_text"), scanner.profile,
                              lambda p: scanner.scan(p).verdict)


def submit(store: Store, pk: int, user: str, note: str = "") -> None:
    """Send a pre-checked draft to the compliance review queue."""
    with store.session() as s:
        it = s.get(StoredItem, pk)
        if it is None:
            raise ReviewError(f"no item {pk}")
        if it.review_status != "draft":
            raise ReviewError(f"item {pk} was already submitted (status {it.review_status})")
        it.review_status = "open"
        it.submitted_by = user
        s.add(Decision(item_pk=pk, decision="submit", justification=note, reviewer=user))
    audit.record(store, user, "review.submit", f"item:{pk}", {"note": note} if note else {})


# -- decisions ---------------------------------------------------------------------------------------
def _check_decision(item: dict[str, Any] | None, pk: int, decision: str, justification: str) -> None:
    if item is None:
        raise ReviewError(f"no item {pk}")
    if item["status"] != "open":
        raise ReviewError(f"item {pk} is {item['status']}, not open for a decision")
    if decision == "reject" and not justification:
        raise ReviewError("a rejection needs a reason")
    if decision == "approve" and item["effective_verdict"] == "block" and not justification:
        raise ReviewError("approving a blocked item needs a justification (or waive its findings first)")


def decide(store: Store, pk: int, decision: str, reviewer: str, justification: str = "") -> None:
    """Approve, reject or send back (with the safe text) an open item. A rejection needs a reason; so does
    approving an item that would still be blocked (a high finding that is not waived)."""
    done, errors = decide_many(store, [pk], decision, reviewer, justification)
    if errors:
        raise ReviewError(errors[0][1])


def decide_many(store: Store, pks: list[int], decision: str, reviewer: str, justification: str = "",
                scanner: Any = None) -> tuple[list[int], list[tuple[int, str]]]:
    """Approve, reject or send back several open items with one reason, in one transaction: returns the
    items decided and (item, why not) for the others (already decided, a blocked item approved without
    a reason...). `send_back` rejects the item with the safe text as the answer to its submitter; with
    `scanner`, that text is checked first (`safe_text`) and replaced by one that passes, or refused."""
    if decision not in ("approve", "reject", "send_back"):
        raise ReviewError(f"unknown decision {decision!r}; expected approve, reject or send_back")
    justification = justification.strip()
    if decision == "send_back" and not justification:
        justification = "Please use the suggested safe text instead."
    items = {it["pk"]: it for it in items_by_pk(store, pks)}
    ok: list[int] = []
    errors: list[tuple[int, str]] = []
    for pk in dict.fromkeys(pks):
        try:
            _check_decision(items.get(pk), pk, decision, justification)
            if decision == "send_back":
                safe = safe_text(scanner, items[pk]) if scanner is not None else items[pk]["suggested_text"]
                if not safe:
                    raise ReviewError(f"item {pk} has no safe text that passes; reject it with a reason instead")
                items[pk]["suggested_text"] = safe
        except ReviewError as exc:
            errors.append((pk, str(exc)))
        else:
            ok.append(pk)
    done = []
    with store.session() as s:
        for pk in ok:
            it = s.get(StoredItem, pk)
            if it is None or it.review_status != "open":  # decided meanwhile by someone else
                errors.append((pk, f"item {pk} was decided meanwhile; reload the queue"))
                continue
            it.review_status = "approved" if decision == "approve" else "rejected"
            if decision == "send_back" and it.suggested_text != items[pk]["suggested_text"]:
                it.suggested_text = items[pk]["suggested_text"]  # the checked text is what the submitter gets
            s.add(Decision(item_pk=pk, decision=decision, justification=justification, reviewer=reviewer))
            audit.record(store, reviewer, f"review.{decision}", f"item:{pk}",  # in the same transaction
                         {"verdict": items[pk]["verdict"], "effective_verdict": items[pk]["effective_verdict"],
                          "justification": justification}, session=s)
            done.append(pk)
    return done, errors


def waive(store: Store, finding_id: int, reviewer: str, justification: str, expires_on: date | None = None,
          today: date | None = None) -> date:
    """Mark one finding a false positive until `expires_on` (default: WAIVER_DAYS from today)."""
    today = today or date.today()
    justification = justification.strip()
    if not justification:
        raise ReviewError("a false-positive waiver needs a justification")
    expires_on = expires_on or today + timedelta(days=WAIVER_DAYS)
    if expires_on <= today:
        raise ReviewError("a waiver's expiry must be after today")
    if expires_on > today + timedelta(days=MAX_WAIVER_DAYS):
        raise ReviewError(f"a waiver may last at most {MAX_WAIVER_DAYS} days")
    with store.session() as s:
        f = s.get(StoredFinding, finding_id)
        if f is None:
            raise ReviewError(f"no finding {finding_id}")
        if f.category == "scan_incomplete":
            raise ReviewError("an incomplete scan cannot be waived; fix the input and scan it again")
        f.waived = True
        s.add(Decision(item_pk=f.item_pk, finding_id=finding_id, decision="false_positive",
                       justification=justification, reviewer=reviewer, expires_on=expires_on))
        rule, item_pk = f.rule_id, f.item_pk
    audit.record(store, reviewer, "review.false_positive", f"finding:{finding_id}",
                 {"item": item_pk, "rule_id": rule, "justification": justification,
                  "expires_on": expires_on.isoformat()})
    return expires_on


def unwaive(store: Store, finding_id: int, reviewer: str, reason: str) -> None:
    """Withdraw a waiver: the finding counts again (here and on the same content elsewhere)."""
    if not reason.strip():
        raise ReviewError("withdrawing a waiver needs a reason")
    with store.session() as s:
        f = s.get(StoredFinding, finding_id)
        if f is None:
            raise ReviewError(f"no finding {finding_id}")
        f.waived = False
        s.add(Decision(item_pk=f.item_pk, finding_id=finding_id, decision="unwaive",
                       justification=reason.strip(), reviewer=reviewer))
        rule = f.rule_id
    audit.record(store, reviewer, "review.unwaive", f"finding:{finding_id}",
                 {"rule_id": rule, "justification": reason.strip()})


# -- reading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Waiver:
    reviewer: str
    justification: str
    expires_on: date | None
    finding_id: int | None

    def public(self) -> dict[str, Any]:
        return {"reviewer": self.reviewer, "justification": self.justification, "finding_id": self.finding_id,
                "expires_on": self.expires_on.isoformat() if self.expires_on else None}


def _utc_start(day: date) -> datetime:
    """Local midnight of `day` as naive UTC (how the store keeps times), so date filters follow the user's day."""
    return datetime.combine(day, datetime.min.time()).astimezone(UTC).replace(tzinfo=None)


def _local(stamp: datetime) -> datetime:
    """A stored (naive UTC) time in the server's local time, for display and weekly grouping."""
    return stamp.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)


def _key(content_hash: str, data: dict[str, Any]) -> tuple[str, str, str, str]:
    return (content_hash, data.get("rule_id", ""), data.get("source", "text"), data.get("evidence", ""))


def active_waivers(store: Store, today: date | None = None) -> dict[tuple[str, str, str, str], Waiver]:
    """Waivers in force today, keyed by (content hash, rule id, source, evidence)."""
    today = today or date.today()
    latest: dict[tuple[str, str, str, str], tuple[str, Waiver]] = {}
    with store.session() as s:
        q = (select(Decision, StoredFinding.data, StoredItem.content_hash)
             .join(StoredFinding, Decision.finding_id == StoredFinding.id)
             .join(StoredItem, StoredFinding.item_pk == StoredItem.id)
             .where(Decision.decision.in_(("false_positive", "unwaive")))
             .order_by(Decision.id))
        for d, data, chash in s.execute(q):
            latest[_key(chash, data)] = (d.decision, Waiver(d.reviewer, d.justification, d.expires_on, d.finding_id))
    return {k: w for k, (kind, w) in latest.items()
            if kind == "false_positive" and (w.expires_on is None or w.expires_on >= today)}


def effective_verdict(findings: list[dict[str, Any]]) -> str:
    """The verdict counting only findings that are not waived (fail closed: scan_incomplete always counts)."""
    top = max((SEVERITY_RANK.get(f["severity"], 0) for f in findings if not f.get("waived")), default=0)
    return "block" if top >= 3 else "review" if top == 2 else "pass"


def _findings(it: StoredItem, waivers: dict[tuple[str, str, str, str], Waiver]) -> list[dict[str, Any]]:
    out = []
    for f in sorted(it.findings, key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.id)):
        w = waivers.get(_key(it.content_hash, f.data))
        out.append(dict(f.data, id=f.id, waived=w is not None, waiver=w.public() if w else None))
    return out


def item_dict(it: StoredItem, finds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"pk": it.id, "id": it.item_id, "run": it.run_id, "kind": it.kind, "channel": it.channel,
            "text": it.text, "in_reply_to": it.in_reply_to, "author": it.author, "images": list(it.images or []),
            "source": it.source, "verdict": it.verdict, "effective_verdict": effective_verdict(finds),
            "status": it.review_status, "submitted_by": it.submitted_by, "suggested_text": it.suggested_text,
            "rule_pack": it.rule_pack, "created_at": _local(it.created_at).isoformat(timespec="seconds"),
            "findings": finds, "permalink": it.permalink}


def _where_source_and_days(q: Any, source: str | None, since: date | None, until: date | None) -> Any:
    """Items from one source, scanned between two local days (inclusive)."""
    if source:
        q = q.where(StoredItem.source == source)
    if since:
        q = q.where(StoredItem.created_at >= _utc_start(since))
    if until:
        q = q.where(StoredItem.created_at < _utc_start(until + timedelta(days=1)))
    return q


def _queue_query(source: str | None, channel: str | None, category: str | None, severity: str | None,
                 since: date | None, until: date | None, status: str | None, verdicts: tuple[str, ...]) -> Any:
    if status is not None and status not in STATUSES:
        raise ReviewError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    q = _where_source_and_days(select(StoredItem).where(StoredItem.verdict.in_(verdicts)), source, since, until)
    if channel:
        q = q.where(StoredItem.channel == channel)
    if status:
        q = q.where(StoredItem.review_status == status)
    conds = []
    if category:
        conds.append(StoredFinding.category == category)
    if severity:
        conds.append(StoredFinding.severity == severity)
    if conds:  # one uncorrelated IN: SQLite ran the EXISTS form on the severity index once per item (seconds)
        q = q.where(StoredItem.id.in_(select(StoredFinding.item_pk).where(and_(*conds))))
    return q


def queue(store: Store, source: str | None = None, channel: str | None = None, category: str | None = None,
          severity: str | None = None, since: date | None = None, until: date | None = None,
          status: str | None = "open", verdicts: tuple[str, ...] = ("block", "review"),
          limit: int = QUEUE_LIMIT) -> list[dict[str, Any]]:
    """Items that need (or had) a decision, newest first, with their findings and waivers.

    `category` and `severity` select items with at least one finding of that category and severity;
    `since` and `until` are inclusive dates of the scan.
    """
    q = _queue_query(source, channel, category, severity, since, until, status, verdicts)
    return _dicts(store, q.order_by(StoredItem.id.desc()).limit(limit))


#: the queue view's sorts, as the order its page of `limit` rows is chosen in: which items make the page
ORDERS = {"newest": (StoredItem.id.desc(),), "oldest": (StoredItem.id.asc(),),
          "risk": (StoredItem.verdict.asc(), StoredItem.id.asc())}  # "block" < "review": blocked first, oldest first


def queue_rows(store: Store, source: str | None = None, channel: str | None = None, category: str | None = None,
               severity: str | None = None, since: date | None = None, until: date | None = None,
               status: str | None = "open", verdicts: tuple[str, ...] = ("block", "review"),
               limit: int = QUEUE_LIMIT, order: str = "newest") -> list[dict[str, Any]]:
    """The queue's table, cheaply: the same items as `queue` with what a row shows (text, kind, channel,
    source, submitter, time, note, effective verdict, the categories that count), reading findings'
    evidence only for content that has a waiver. Open one item with `get_item`.

    `order` (ORDERS) picks which `limit` items make the page when more match: the newest, the oldest, or the
    blocked ones first (oldest first); the view then sorts the page by what a reviewer sees."""
    if order not in ORDERS:
        raise ReviewError(f"unknown order {order!r}; expected one of {', '.join(ORDERS)}")
    base = _queue_query(source, channel, category, severity, since, until, status, verdicts)
    cols = (StoredItem.id, StoredItem.item_id, StoredItem.kind, StoredItem.channel, StoredItem.text,
            StoredItem.source, StoredItem.verdict, StoredItem.review_status, StoredItem.submitted_by,
            StoredItem.created_at, StoredItem.content_hash)
    waivers = active_waivers(store)
    waived_hashes = {k[0] for k in waivers}
    with store.session() as s:
        rows = s.execute(base.with_only_columns(*cols).order_by(*ORDERS[order]).limit(limit)).all()
        pks = [r[0] for r in rows]
        finds: dict[int, list[tuple[str, str, bool]]] = {pk: [] for pk in pks}
        need_data = {r[0] for r in rows if r[10] in waived_hashes}
        hashes = {r[0]: r[10] for r in rows}
        for pk, category, sev in s.execute(
                select(StoredFinding.item_pk, StoredFinding.category, StoredFinding.severity)
                .where(StoredFinding.item_pk.in_([pk for pk in pks if pk not in need_data]))):
            finds[pk].append((category, sev, False))
        if need_data:  # only these findings' evidence is read (decrypted) to match their waivers
            for pk, category, sev, data in s.execute(
                    select(StoredFinding.item_pk, StoredFinding.category, StoredFinding.severity, StoredFinding.data)
                    .where(StoredFinding.item_pk.in_(list(need_data)))):
                finds[pk].append((category, sev, _key(hashes[pk], data) in waivers))
        notes = {pk: (note, at) for pk, note, at in s.execute(
            select(Decision.item_pk, Decision.justification, Decision.at)
            .where(Decision.decision == "submit", Decision.item_pk.in_(pks)))}
        out = []
        for pk, iid, kind, chan, text, src, verdict, status_, by, created, _ in rows:
            fl = [{"category": c, "severity": v, "waived": w} for c, v, w in finds[pk]]
            note, at = notes.get(pk, ("", None))
            out.append({"pk": pk, "id": iid, "kind": kind, "channel": chan, "text": text, "source": src,
                        "verdict": verdict, "effective_verdict": effective_verdict(fl), "status": status_,
                        "submitted_by": by, "note": note,
                        "submitted_at": _local(at or created).isoformat(timespec="seconds"), "findings": fl})
        return out


def items_by_pk(store: Store, pks: list[int]) -> list[dict[str, Any]]:
    return _dicts(store, select(StoredItem).where(StoredItem.id.in_(list(pks)))) if pks else []


def _dicts(store: Store, q: Any) -> list[dict[str, Any]]:
    """Items with their findings (loaded in one query), waivers and the submitter's note."""
    waivers = active_waivers(store)
    with store.session() as s:
        rows = list(s.execute(q.options(selectinload(StoredItem.findings))).scalars())
        notes = {pk: (note, at) for pk, note, at in s.execute(
            select(Decision.item_pk, Decision.justification, Decision.at)
            .where(Decision.decision == "submit", Decision.item_pk.in_([it.id for it in rows])))}
        out = []
        for it in rows:
            d = item_dict(it, _findings(it, waivers))
            note, at = notes.get(it.id, ("", None))
            d["note"] = note
            d["submitted_at"] = _local(at).isoformat(timespec="seconds") if at else d["created_at"]
            out.append(d)
        return out


def get_item(store: Store, pk: int) -> dict[str, Any] | None:
    found = items_by_pk(store, [pk])
    return found[0] if found else None


def history(store: Store, pk: int) -> list[dict[str, Any]]:
    """Every decision taken on an item (oldest first)."""
    with store.session() as s:
        return [{"at": _local(d.at).isoformat(timespec="seconds"), "decision": d.decision, "reviewer": d.reviewer,
                 "justification": d.justification, "finding_id": d.finding_id,
                 "expires_on": d.expires_on.isoformat() if d.expires_on else None}
                for d in s.execute(select(Decision).where(Decision.item_pk == pk).order_by(Decision.id)).scalars()]


def mine(store: Store, user: str, limit: int = 50) -> list[dict[str, Any]]:
    """A user's submitted pre-checks, newest first, with the reviewer's decision and reason."""
    with store.session() as s:
        rows = list(s.execute(
            select(StoredItem).where(StoredItem.source == "dashboard", StoredItem.submitted_by == user,
                                     StoredItem.review_status != "draft")
            .order_by(StoredItem.id.desc()).limit(limit)).scalars())
        out = []
        for it in rows:
            last = s.execute(select(Decision).where(Decision.item_pk == it.id, Decision.decision.in_(
                ("approve", "reject", "send_back"))).order_by(Decision.id.desc()).limit(1)).scalar()
            out.append({"submitted": _local(it.created_at).isoformat(timespec="minutes"), "kind": it.kind,
                        "channel": it.channel, "verdict": it.verdict,
                        "status": "sent back" if last and last.decision == "send_back" else it.review_status,
                        "reviewer": last.reviewer if last else "", "reason": last.justification if last else "",
                        "text": it.text[:120] + ("…" if len(it.text) > 120 else ""),
                        "safe text": it.suggested_text or "" if last and last.decision == "send_back" else ""})
        return out


def counts(store: Store) -> dict[str, int]:
    """Open items per source (for the menu badge and the queue header)."""
    with store.session() as s:
        q = (select(StoredItem.source, func.count()).where(StoredItem.review_status == "open",
                                                           StoredItem.verdict.in_(("block", "review")))
             .group_by(StoredItem.source))
        return {src: int(n) for src, n in s.execute(q)}


def runs(store: Store, limit: int = 100, sources: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Runs newest first; `sources` keeps only those (crawls and batches, not one-draft pre-checks)."""
    q = select(Run).order_by(Run.id.desc()).limit(limit)
    if sources:
        q = q.where(Run.source.in_(sources))
    with store.session() as s:
        return [{"id": r.id, "source": r.source, "actor": r.actor, "rule_pack": r.rule_pack, "status": r.status,
                 "started_at": _local(r.started_at).isoformat(timespec="seconds"),
                 "items": int((r.counts or {}).get("items", 0)), "block": int((r.counts or {}).get("block", 0)),
                 "review": int((r.counts or {}).get("review", 0)), "pass": int((r.counts or {}).get("pass", 0))}
                for r in s.execute(q).scalars()]


def findings_table(store: Store, run_id: int | None = None, source: str | None = None,
                   since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """One row per high or medium finding with its item's run, source, channel and ISO week, for the
    charts, the drill-down and the CSV export."""
    q = select(StoredFinding, StoredItem).join(StoredItem, StoredFinding.item_pk == StoredItem.id).where(
        StoredFinding.severity.in_(("high", "medium")))
    if run_id:
        q = q.where(StoredItem.run_id == run_id)
    q = _where_source_and_days(q, source, since, until)
    waivers = active_waivers(store)
    rows = []
    with store.session() as s:
        for f, it in s.execute(q.order_by(StoredItem.id.desc(), StoredFinding.id)):
            rows.append({"run": it.run_id, "item": it.item_id, "pk": it.id, "source": it.source,
                         "channel": it.channel, "kind": it.kind, "category": f.category, "severity": f.severity,
                         "rule_id": f.rule_id, "message": f.data.get("message", ""),
                         "evidence": f.data.get("evidence", ""), "week": _local(it.created_at).strftime("%G-W%V"),
                         "scanned_at": _local(it.created_at).isoformat(timespec="seconds"), "status": it.review_status,
                         "permalink": it.permalink or "", "waived": _key(it.content_hash, f.data) in waivers})
    return rows


def published_rows(store: Store, run_id: int | None = None, source: str | None = None,
                   since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """One row per (item, category of its high or medium findings) for content that was published or
    submitted: crawls, reply-gate and command-line scans, and pre-checks sent for approval, never a
    pre-check draft nobody submitted. Charts count distinct items (`pk`), not findings."""
    q = (select(StoredItem.id, StoredItem.item_id, StoredItem.run_id, StoredItem.source, StoredItem.channel,
                StoredItem.kind, StoredItem.created_at, StoredItem.review_status, StoredItem.permalink,
                StoredItem.verdict, StoredFinding.category, func.max(case((StoredFinding.severity == "high", 1), else_=0)),
                func.count(StoredFinding.id))
         .join(StoredFinding, StoredFinding.item_pk == StoredItem.id)
         .where(StoredFinding.severity.in_(("high", "medium")), StoredItem.review_status != "draft")
         .group_by(StoredItem.id, StoredFinding.category))
    if run_id:
        q = q.where(StoredItem.run_id == run_id)
    q = _where_source_and_days(q, source, since, until)
    with store.session() as s:
        return [{"pk": pk, "item": iid, "run": run, "source": src, "channel": chan, "kind": kind,
                 "week": _local(at).strftime("%G-W%V"), "scanned_at": _local(at).isoformat(timespec="minutes"),
                 "status": status, "permalink": link or "", "verdict": verdict, "category": cat,
                 "severity": "high" if high else "medium", "findings": int(n)}
                for pk, iid, run, src, chan, kind, at, status, link, verdict, cat, high, n
                in s.execute(q.order_by(StoredItem.id.desc()))]
