"""Audit log (compliance, admin): every registry change, review decision, user change and log-in outcome,
hash-chained, in readable columns (local time, who, what in plain words, a link to the item, the details
as text); filter by area, action, person and dates, export CSV, verify the chain."""
from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import REVIEWERS, compact_top, require, store
from _explain import AREA_LABEL, action_label, detail_text

from scanner.core import audit
from scanner.core.csv_cells import neutralize_frame

MAX_ROWS = 5000

require(*REVIEWERS)
compact_top()
st.title("Audit log")
s = store()
entries = audit.entries(s, limit=MAX_ROWS)
if not entries:
    st.info("No entries yet.")
    st.stop()
try:
    zone = ZoneInfo(st.context.timezone) if st.context.timezone else None
except (ZoneInfoNotFoundError, ValueError):
    zone = None


def local(stamp: str) -> datetime:
    """A stored UTC time in the browser's time zone (the server's when the browser did not say)."""
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def link(target: str) -> str | None:
    kind, _, ref = target.partition(":")
    return f"queue?item={ref}" if kind == "item" and ref.isdigit() else None


df = pd.DataFrame([{
    "when": local(e["at"]), "who": e["actor"], "what": action_label(e["action"]), "area": e["action"].split(".")[0],
    "action": e["action"], "about": e["target"].replace(":", " ", 1), "open": link(e["target"]), "details": detail_text(e["detail"]),
    "entry": e["id"], "hash": e["hash"]} for e in entries])
ALL = "all"
c1, c2, c3, c4 = st.columns(4)
family = c1.selectbox("Area", [ALL, *sorted(df["area"].unique())], key="audit_family",
                      format_func=lambda a: AREA_LABEL.get(a, a))
actions = sorted(a for a in df["action"].unique() if family == ALL or a.startswith(family + "."))
action = c2.selectbox("Action", [ALL, *actions], key="audit_action",
                      format_func=lambda a: a if a == ALL else action_label(a))
actor = c3.selectbox("Person", [ALL, *sorted(df["who"].unique())], key="audit_actor")
span = c4.date_input("Dates", value=(date.today() - timedelta(days=30), date.today()), key="audit_dates")
view = df
if family != ALL:
    view = view[view["area"] == family]
if action != ALL:
    view = view[view["action"] == action]
if actor != ALL:
    view = view[view["who"] == actor]
if isinstance(span, tuple) and len(span) == 2:
    days = view["when"].dt.date
    view = view[(days >= span[0]) & (days <= span[1])]
st.caption(f"{len(view)} of {len(df)} entries{' (the newest ' + str(MAX_ROWS) + ')' if len(df) >= MAX_ROWS else ''}"
           f" · times in {zone or 'server time'}")
st.dataframe(view, hide_index=True, column_order=["when", "who", "what", "about", "open", "details"],
             column_config={"when": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm:ss"),
                            "open": st.column_config.LinkColumn("item", display_text="open item", width="small"),
                            "details": st.column_config.TextColumn("details", width="large")})
b1, b2, _ = st.columns([1, 1.4, 2.6])
b1.download_button("Export CSV", neutralize_frame(view).to_csv(index=False).encode("utf-8"), mime="text/csv",
                   file_name=f"audit-{date.today().isoformat()}.csv", icon=":material/download:")
if b2.button("Verify the hash chain", icon=":material/verified:", width="stretch"):
    problems = audit.verify(s)
    if problems:
        for p in problems[:50]:
            st.error(p)
    else:
        st.success(f"Audit log intact: all {len(audit.entries(s))} entries chain correctly.")
