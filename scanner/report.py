"""The weekly report of a crawl run (HTML and CSV): each problem with its permalink, finding and
evidence, and the removal and incident checklist (who acts, the four-factor breach risk assessment of
45 CFR 164.402(2), the 60-day notification deadline counted from discovery)."""
from __future__ import annotations

import csv
import html
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .store import Run, Store, StoredItem

FOUR_FACTORS = (
    "What PHI was involved: the types of identifiers (name, photo, treatment, dates) and how likely the person "
    "can be re-identified?",
    "Who saw or could see it: the unauthorized person or audience to whom it was disclosed (public post, followers, "
    "a third party)?",
    "Was the PHI actually acquired or viewed (impressions, comments, shares, screenshots)?",
    "To what extent has the risk been mitigated (removed, hidden, platform caches cleared, reposts requested down)?",
)
WHO_ACTS = ("Marketing lead: remove or hide the content today and keep a copy for the record.",
            "Privacy officer: open an incident, run the four-factor risk assessment, decide on notification.",
            "Practice owner: approve notification of the patient (and HHS/media if required) before the deadline.")


def problems(store: Store, run_id: int) -> tuple[Run, list[dict[str, Any]]]:
    with store.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise ValueError(f"no run {run_id}")
        s.expunge(run)
        rows = []
        for it in s.execute(select(StoredItem).where(StoredItem.run_id == run_id).order_by(StoredItem.id)).scalars():
            for f in it.findings:
                if f.severity not in ("high", "medium") or f.waived:
                    continue
                d = f.data
                rows.append({"item": it.item_id, "channel": it.channel, "kind": it.kind, "permalink": it.permalink or "",
                             "verdict": it.verdict, "rule_id": f.rule_id, "category": f.category,
                             "severity": f.severity, "evidence": d.get("evidence", ""), "message": d.get("message", ""),
                             "fix": d.get("suggestion", ""), "citation": d.get("citation", "")})
    return run, rows


def write_report(store: Store, run_id: int, out_dir: str | Path) -> tuple[Path, Path]:
    run, rows = problems(store, run_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    discovered = run.started_at.date()
    deadline = discovered + timedelta(days=60)
    csv_path = out / f"crawl-run-{run_id}.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["item", "channel", "kind", "permalink", "verdict", "rule_id", "category",
                                           "severity", "evidence", "message", "fix", "citation", "discovered",
                                           "notify_by"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "discovered": discovered.isoformat(), "notify_by": deadline.isoformat()})
    html_path = out / f"crawl-run-{run_id}.html"
    html_path.write_text(_html(run, rows, discovered, deadline), encoding="utf-8")
    return html_path, csv_path


def _html(run: Run, rows: list[dict[str, Any]], discovered: date, deadline: date) -> str:
    e = html.escape
    items: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        items.setdefault(r["item"], []).append(r)
    parts = [f"<!doctype html><meta charset='utf-8'><title>Published content scan, run {run.id}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td,th{border:1px solid #ccc;padding:4px}"
             "table{border-collapse:collapse}.high{color:#b00}</style>",
             f"<h1>Published content scan: run {run.id}</h1>",
             f"<p>Scanned {e(run.started_at.isoformat(timespec='minutes'))} · {len(items)} item(s) to act on · "
             f"discovery date {discovered} · <b>notification deadline {deadline}</b> (60 days from discovery, "
             f"45 CFR 164.404(b))</p>"]
    counts = run.counts or {}
    if counts.get("failed_sources"):
        parts.append("<p><b>Sources that failed:</b> " + ", ".join(
            f"{e(k)} ({e(v)})" for k, v in counts["failed_sources"].items()) + "</p>")
    parts.append("<h2>What to remove</h2>")
    if not items:
        parts.append("<p>Nothing found that needs action.</p>")
    for item, finds in items.items():
        link = finds[0]["permalink"]
        parts.append(f"<h3>{e(finds[0]['kind'])} on {e(finds[0]['channel'])}: "
                     + (f"<a href='{e(link)}'>{e(link)}</a>" if link else e(item)) + "</h3><table>"
                     "<tr><th>rule</th><th>category</th><th>severity</th><th>evidence</th><th>finding and fix</th></tr>")
        for f in finds:
            parts.append(f"<tr><td>{e(f['rule_id'])}</td><td>{e(f['category'])}</td><td class='{e(f['severity'])}'>"
                         f"{e(f['severity'])}</td><td>{e(f['evidence'])}</td><td>{e(f['message'])}<br><i>{e(f['fix'])}"
                         f"</i><br><small>{e(f['citation'])}</small></td></tr>")
        parts.append("</table>")
    parts.append("<h2>Removal and incident checklist</h2><h3>Who must act</h3><ul>"
                 + "".join(f"<li>{e(w)}</li>" for w in WHO_ACTS) + "</ul>")
    parts.append("<h3>Breach risk assessment (four factors, 45 CFR 164.402(2))</h3><ol>"
                 + "".join(f"<li>{e(q)}</li>" for q in FOUR_FACTORS) + "</ol>")
    parts.append(f"<p>Unless the assessment shows a low probability that the PHI was compromised, notify each "
                 f"affected patient without unreasonable delay and no later than <b>{deadline}</b>.</p>")
    return "\n".join(parts)
