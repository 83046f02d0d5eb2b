"""The weekly report of a crawl run, as HTML and CSV.

Owns: gathering what a crawl run found (every published item it saw that still needs review or removal,
scanned this week or carried over unchanged from an earlier crawl, with waived findings set aside;
items taken down since the last crawl; sources and items that were not checked) and writing it with the
removal and incident checklist: who must act, the four-factor breach risk assessment questions of
45 CFR 164.402(2), and the 60-day notification deadline (45 CFR 164.404(b)) counted from the discovery
date (the day a crawl first found the problem). The report quotes evidence: it is as confidential as
the records it points at.
"""
from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..core.csv_cells import csv_cell
from ..core.store import Run, Store, StoredFinding, StoredItem
from .run import CrawlSighting, waiver_key

NOTIFY_DAYS = 60
ACTION_SEVERITIES = ("high", "medium")

WHO_ACTS = (
    ("Marketing or social media manager (whoever published it)",
     "Today: take the item down (delete or hide it, or edit out the finding), keep a dated screenshot for the "
     "incident file only, and do not discuss the patient in public replies."),
    ("Privacy officer (45 CFR 164.530(a))",
     "Log the incident, run the four-factor risk assessment below, decide whether notification is needed, and "
     "keep the assessment and decision for six years (45 CFR 164.530(j))."),
    ("Practice owner or medical director",
     "Approve the notification and its wording before the deadline; apply sanctions and retraining "
     "(45 CFR 164.530(b), (e))."),
    ("Agency or vendor that posts for the spa (a business associate)",
     "Report the incident to the spa without unreasonable delay and within 60 days of discovery "
     "(45 CFR 164.410), and help take the content down."),
)

FOUR_FACTORS = (
    ("The nature and extent of the PHI involved, including the types of identifiers and the likelihood of "
     "re-identification (164.402(2)(i))",
     "What was disclosed: a name, handle, face or photo, treatment, condition, visit date? Can the person be "
     "identified from it, alone or with other public information?"),
    ("The unauthorized person who used the PHI or to whom the disclosure was made (164.402(2)(ii))",
     "Who could see it: the general public, followers, reviewers, search engines? Was it shared or reposted?"),
    ("Whether the PHI was actually acquired or viewed (164.402(2)(iii))",
     "Was it seen: impressions, reach, likes, comments, shares, saves, screenshots? How long was it up "
     "(published date to removal)?"),
    ("The extent to which the risk to the PHI has been mitigated (164.402(2)(iv))",
     "Is it gone everywhere (the item, edits history, caches, reposts, link previews)? What did the spa do, "
     "and when? A consent obtained afterwards does not undo the disclosure."),
)

REMOVAL_STEPS = (
    "Save a dated screenshot and the permalink for the incident file (kept by the privacy officer only).",
    "Take the item down: delete or hide it on the platform (edit it only if the finding can be removed entirely).",
    "Where a reply was needed, post the generic reply instead (suggested below when there is one).",
    "Look for copies: shares, reposts, cross-posts, cached pages and link previews; ask for their removal.",
    "Tell the privacy officer the item id, the permalink and the time it was taken down.",
)


class ReportError(ValueError):
    """The report cannot be made (no such run, not a crawl run)."""


@dataclass
class Problem:
    item_id: str
    source: str
    status: str  # new, changed, rescanned, unchanged (still published)
    kind: str
    channel: str
    permalink: str
    published_at: datetime | None
    verdict: str  # with waived findings set aside
    excerpt: str
    suggested_text: str | None
    discovered: date
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def notify_by(self) -> date:
        return self.discovered + timedelta(days=NOTIFY_DAYS)

    @property
    def incomplete_only(self) -> bool:
        return all(f.get("category") == "scan_incomplete" for f in self.findings)


@dataclass
class Removed:
    item_id: str
    kind: str
    channel: str
    permalink: str
    had_problem: bool
    discovered: date | None


@dataclass
class ReportData:
    run: Run
    problems: list[Problem]
    removed: list[Removed]
    checked: int
    waived: int


def latest_crawl_run(store: Store) -> int | None:
    with store.session() as s:
        return s.execute(select(Run.id).where(Run.source == "crawl", Run.status != "running")
                         .order_by(Run.id.desc()).limit(1)).scalar()


def _local_date(stamp: datetime | None) -> date | None:
    if stamp is None:
        return None
    return stamp.replace(tzinfo=UTC).astimezone().date()


def gather(store: Store, run_id: int) -> ReportData:
    """What the report shows for crawl run `run_id`."""
    try:
        from ..review.queue import active_waivers

        waivers = active_waivers(store)
    except ImportError:  # pragma: no cover
        waivers = {}
    with store.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise ReportError(f"--run: there is no run {run_id}")
        if run.source != "crawl":
            raise ReportError(f"--run: run {run_id} is a {run.source} run, not a crawl")
        s.expunge(run)
        sightings = list(s.execute(select(CrawlSighting).where(CrawlSighting.run_id == run_id)
                                   .order_by(CrawlSighting.id)).scalars())
        if sightings:
            live = [(x.status, x.source, x.item_pk, x.flagged_since) for x in sightings if x.status != "removed"]
            gone = [x for x in sightings if x.status == "removed"]
        else:  # a crawl stored before sightings existed: the items of the run itself
            pks = s.execute(select(StoredItem.id).where(StoredItem.run_id == run_id)).scalars().all()
            live = [("new", "", pk, run.started_at) for pk in pks]
            gone = []
        pks = [pk for _, _, pk, _ in live if pk is not None] + [x.item_pk for x in gone if x.item_pk is not None]
        items: dict[int, StoredItem] = {}
        findings: dict[int, list[StoredFinding]] = {}
        for i in range(0, len(pks), 500):
            chunk = pks[i:i + 500]
            for row in s.execute(select(StoredItem).where(StoredItem.id.in_(chunk))).scalars():
                items[row.id] = row
            for f in s.execute(select(StoredFinding).where(StoredFinding.item_pk.in_(chunk))
                               .order_by(StoredFinding.id)).scalars():
                findings.setdefault(f.item_pk, []).append(f)
        published = {x.item_id: x.published_at for x in sightings}
        problems: list[Problem] = []
        waived = 0
        started = _local_date(run.started_at) or date.today()
        for status, source, pk, flagged in live:
            it = items.get(pk) if pk is not None else None
            if it is None:
                continue
            kept = []
            for f in findings.get(pk, []) if pk is not None else []:
                if f.severity not in ACTION_SEVERITIES:
                    continue
                if f.category != "scan_incomplete" and (f.waived or waiver_key(it.content_hash, f.data) in waivers):
                    waived += 1
                    continue
                kept.append(f.data)
            if not kept:
                continue
            top = "block" if any(f.get("severity") == "high" for f in kept) else "review"
            text = " ".join((it.text or "").split())
            problems.append(Problem(
                item_id=it.item_id, source=source or it.item_id.split(":", 1)[0], status=status, kind=it.kind,
                channel=it.channel, permalink=it.permalink or "", published_at=published.get(it.item_id),
                verdict=top, excerpt=text[:200] + ("…" if len(text) > 200 else ""),
                suggested_text=it.suggested_text, discovered=_local_date(flagged) or started,
                findings=sorted(kept, key=lambda d: (d.get("severity") != "high", d.get("rule_id", "")))))
        removed = []
        for x in gone:
            it = items.get(x.item_pk) if x.item_pk is not None else None
            removed.append(Removed(item_id=x.item_id, kind=it.kind if it else "", channel=it.channel if it else "",
                                   permalink=(it.permalink or "") if it else "",
                                   had_problem=bool(it and it.verdict != "pass"), discovered=_local_date(x.flagged_since)))
    problems.sort(key=lambda p: (p.verdict != "block", p.discovered, p.item_id))
    checked = len(live)
    return ReportData(run=run, problems=problems, removed=removed, checked=checked, waived=waived)


def write_report(store: Store, run_id: int, out_dir: str | Path, today: date | None = None) -> tuple[Path, Path]:
    """Write crawl-run-ID.html and crawl-run-ID.csv into OUT_DIR; returns their paths."""
    data = gather(store, run_id)
    today = today or date.today()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"--out: cannot create {out} ({exc.strerror})") from None
    html_path = out / f"crawl-run-{run_id}.html"
    csv_path = out / f"crawl-run-{run_id}.csv"
    _write_csv(csv_path, data, today)
    html_path.write_text(render_html(data, today), encoding="utf-8")
    return html_path, csv_path


# ---------------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------------
CSV_FIELDS = ("run", "item_id", "source", "status", "kind", "channel", "permalink", "published_at", "verdict",
              "severity", "category", "rule_id", "finding", "evidence", "fix", "citation", "discovered_on",
              "notify_by", "days_left", "who_acts")


_cell = csv_cell  # a CSV cell that spreadsheets will not run as a formula (published text is untrusted)


def _write_csv(path: Path, data: ReportData, today: date) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_FIELDS)
        for p in data.problems:
            for f in p.findings:
                w.writerow([_cell(v) for v in (
                    data.run.id, p.item_id, p.source, _status_label(p.status), p.kind, p.channel, p.permalink,
                    p.published_at.isoformat(timespec="minutes") if p.published_at else "", p.verdict,
                    f.get("severity"), f.get("category"), f.get("rule_id"), f.get("message"), f.get("evidence"),
                    f.get("suggestion") or "", f.get("citation"), p.discovered.isoformat(), p.notify_by.isoformat(),
                    (p.notify_by - today).days,
                    "marketing: take down today; privacy officer: risk assessment and notification decision")]
                )


# ---------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------
CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:62em;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:2px solid #ddd;padding-bottom:.2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f4f4f4}.block{color:#b00020;font-weight:600}.review{color:#9a5b00;font-weight:600}
.item{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:1em 0;page-break-inside:avoid}
.meta{color:#555;font-size:.9em}.due{font-weight:600}.overdue{color:#b00020;font-weight:700}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}ul.check{list-style:none;padding-left:.5em}
ul.check li:before{content:"\\2610  "}blockquote{margin:.3em 0;padding:.3em .8em;background:#f7f7f7;border-left:3px solid #ccc}
@media print{a{color:#000}}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _link(url: str, label: str | None = None) -> str:
    """A link only for http(s) addresses (a feed could carry javascript: URLs); plain text otherwise."""
    if url.lower().startswith(("https://", "http://")):
        return f'<a href="{_e(url)}" rel="noopener noreferrer nofollow">{_e(label or url)}</a>'
    return _e(label or url)


def _status_label(status: str) -> str:
    return {"new": "found this week", "changed": "changed this week", "rescanned": "rescanned this week",
            "unchanged": "still published, unchanged"}.get(status, status)


def _due(p: Problem, today: date) -> str:
    left = (p.notify_by - today).days
    if left < 0:
        return f'<span class="overdue">notification deadline {p.notify_by} passed {-left} day(s) ago</span>'
    return f'<span class="due">notify by {p.notify_by}</span> ({left} day(s) left)'


def render_html(data: ReportData, today: date) -> str:
    run = data.run
    counts = run.counts or {}
    started = run.started_at.replace(tzinfo=UTC).astimezone()
    blocks = sum(1 for p in data.problems if p.verdict == "block")
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>Published content scan, crawl run {run.id}</title><style>{CSS}</style><body>",
        f"<h1>Published content scan: crawl run {run.id}</h1>",
        f"<p class='meta'>Crawled {_e(started.strftime('%Y-%m-%d %H:%M %Z'))} · run status {_e(run.status)} · "
        f"rule pack {_e(run.rule_pack)} · report made {today}</p>",
        "<p class='note'>Confidential: this report quotes what was found (names, treatments, evidence). Keep it "
        "with the privacy officer's incident records; do not forward it unencrypted.</p>",
        "<h2>Summary</h2><table>",
        f"<tr><th>Published items checked</th><td>{data.checked}</td></tr>",
        f"<tr><th>New or changed this week</th><td>{int(counts.get('new', 0)) + int(counts.get('changed', 0))}"
        f"</td></tr>",
        f"<tr><th>Items to act on</th><td>{len(data.problems)} ({blocks} to remove, "
        f"{len(data.problems) - blocks} to review)</td></tr>",
        f"<tr><th>Removed since the last crawl</th><td>{len(data.removed)}</td></tr>",
        f"<tr><th>Findings set aside by a reviewer (waived)</th><td>{data.waived}</td></tr>",
        "</table>",
    ]
    parts.append(_sources_html(counts))
    parts.append("<h2>What to remove or fix</h2>")
    if not data.problems:
        parts.append("<p>Nothing published needs removal or review.</p>")
    for n, p in enumerate(data.problems, 1):
        parts.append(_problem_html(n, p, today))
    parts.append(_removed_html(data.removed))
    parts.append(_checklist_html(data, today))
    parts.append("<p class='meta'>Made by medspa-scan. This checklist supports, and does not replace, the "
                 "privacy officer's judgment or legal advice.</p></body></html>")
    return "\n".join(parts)


def _sources_html(counts: dict[str, Any]) -> str:
    sources = counts.get("sources") or {}
    if not sources:
        failed = counts.get("failed_sources") or {}
        return ("<p><b>Sources that failed:</b> " + ", ".join(f"{_e(k)} ({_e(v)})" for k, v in failed.items())
                + "</p>") if failed else ""
    rows = ["<h2>Sources</h2><table><tr><th>source</th><th>type</th><th>status</th><th>items</th>"
            "<th>pictures</th><th>problems reading it</th></tr>"]
    for name, r in sources.items():
        status = str(r.get("status", ""))
        cls = "block" if status == "failed" else "review" if status == "partial" else ""
        notes = r.get("error") or "; ".join(str(w) for w in r.get("first_warnings", []))
        if r.get("warnings", 0) > len(r.get("first_warnings", [])):
            notes += f" (and {r['warnings'] - len(r.get('first_warnings', []))} more)"
        rows.append(f"<tr><td>{_e(name)}</td><td>{_e(r.get('type'))}</td><td class='{cls}'>"
                    f"{_e('NOT CHECKED: failed' if status == 'failed' else status)}</td><td>{_e(r.get('items'))}</td>"
                    f"<td>{_e(r.get('images', 0))} ({_e(r.get('images_failed', 0))} not checked)</td>"
                    f"<td>{_e(notes)}</td></tr>")
    rows.append("</table>")
    if any(r.get("status") == "failed" for r in sources.values()):
        rows.append("<p class='note'>A failed source was not checked this week: nothing it published is covered "
                    "by this report. Fix the problem shown and run the crawl again.</p>")
    return "".join(rows)


def _problem_html(n: int, p: Problem, today: date) -> str:
    where = f"{p.kind} on {p.channel}"
    head = (f"<div class='item'><h3>{n}. <span class='{p.verdict}'>"
            f"{'REMOVE' if p.verdict == 'block' else 'REVIEW'}</span> · {_e(where)} · "
            f"{_link(p.permalink, p.permalink) if p.permalink else _e(p.item_id)}</h3>")
    meta = (f"<p class='meta'>item {_e(p.item_id)} · {_e(_status_label(p.status))}"
            + (f" · published {_e(p.published_at.date())}" if p.published_at else "")
            + f" · discovered {p.discovered} · {_due(p, today)}</p>")
    rows = ["<table><tr><th>severity</th><th>finding</th><th>evidence</th><th>fix</th></tr>"]
    for f in p.findings:
        sev = str(f.get("severity", ""))
        rows.append(f"<tr><td class='{'block' if sev == 'high' else 'review'}'>{_e(sev)}</td>"
                    f"<td>{_e(f.get('message'))}<br><small>{_e(f.get('rule_id'))} · {_e(f.get('category'))} · "
                    f"{_e(f.get('citation'))}</small></td><td>{_e(f.get('evidence'))}</td>"
                    f"<td>{_e(f.get('suggestion') or '')}</td></tr>")
    rows.append("</table>")
    body = [head, meta, f"<blockquote>{_e(p.excerpt)}</blockquote>" if p.excerpt else "", "".join(rows)]
    if p.suggested_text:
        body.append(f"<p><b>Safe text to use instead:</b></p><blockquote>{_e(p.suggested_text)}</blockquote>")
    if p.incomplete_only:
        body.append("<p><b>Not fully checked:</b> a person must look at the parts named above before the item "
                    "can be considered safe.</p>")
    else:
        body.append("<b>Removal checklist</b><ul class='check'>" + "".join(f"<li>{_e(s)}</li>" for s in REMOVAL_STEPS)
                    + "</ul>")
    body.append("</div>")
    return "".join(body)


def _removed_html(removed: list[Removed]) -> str:
    if not removed:
        return ""
    rows = ["<h2>Taken down since the last crawl</h2><p>These items were published last time and are gone now. "
            "For items that had a problem, record the removal date: it is evidence of mitigation (factor 4).</p>"
            "<table><tr><th>item</th><th>where</th><th>had a problem</th><th>discovered</th></tr>"]
    for r in removed:
        rows.append(f"<tr><td>{_link(r.permalink, r.item_id) if r.permalink else _e(r.item_id)}</td>"
                    f"<td>{_e(r.kind)} {_e(r.channel)}</td><td>{'yes' if r.had_problem else 'no'}</td>"
                    f"<td>{_e(r.discovered or '')}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _checklist_html(data: ReportData, today: date) -> str:
    earliest = min((p.discovered for p in data.problems), default=None)
    deadline = (f"<p>The earliest problem in this report was discovered on <b>{earliest}</b>: unless the risk "
                f"assessment shows a low probability that the PHI was compromised, notify the affected patient(s) "
                f"without unreasonable delay and <b>no later than {earliest + timedelta(days=NOTIFY_DAYS)}</b>. "
                f"Each item above shows its own deadline.</p>") if earliest else \
        "<p>No open problems: no deadline is running from this crawl.</p>"
    parts = [
        "<h2>Removal and incident checklist</h2>",
        "<h3>Who must act</h3><table><tr><th>who</th><th>what</th></tr>",
        "".join(f"<tr><td>{_e(who)}</td><td>{_e(what)}</td></tr>" for who, what in WHO_ACTS),
        "</table>",
        "<h3>Breach risk assessment: the four factors (45 CFR 164.402(2))</h3>",
        "<p>An impermissible disclosure is presumed to be a breach unless a documented assessment of at least "
        "these four factors shows a low probability that the PHI has been compromised.</p><ol>",
        "".join(f"<li><b>{_e(factor)}</b><br>{_e(question)}</li>" for factor, question in FOUR_FACTORS),
        "</ol>",
        "<h3>Notification deadline: 60 days from discovery</h3>",
        "<p>The discovery date is the first day the problem was known, or would have been known with reasonable "
        "diligence (45 CFR 164.404(a)(2)); for these items it is the day a crawl first found them. Notify each "
        "affected individual without unreasonable delay and in no case later than 60 calendar days after "
        "discovery (45 CFR 164.404(b)). 500 or more residents of a state: also the media (164.406) and HHS at "
        "the same time (164.408(b)); fewer than 500: log it and report it to HHS within 60 days after the end "
        "of the calendar year (164.408(c)).</p>",
        deadline,
        "<ul class='check'><li>Incident logged with its discovery date</li><li>Four-factor assessment "
        "written and signed</li><li>Notification decision recorded (and letters sent if needed)</li>"
        "<li>Staff retrained; sanction applied if warranted</li><li>Documentation kept for six years</li></ul>",
    ]
    return "".join(parts)
