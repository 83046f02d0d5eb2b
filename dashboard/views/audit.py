"""Audit log (compliance, admin): every registry change, review decision, user change and log-in outcome,
hash-chained; filter by action, actor and date, export CSV, verify the chain."""
from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import REVIEWERS, require, store

from scanner import audit

MAX_ROWS = 5000

require(*REVIEWERS)
st.title("Audit log")
s = store()
entries = audit.entries(s, limit=MAX_ROWS)
if not entries:
    st.info("No entries yet.")
    st.stop()
df = pd.DataFrame(entries)
df["day"] = df["at"].str.slice(0, 10)
ALL = "all"
c1, c2, c3, c4 = st.columns(4)
families = sorted({a.split(".")[0] for a in df["action"]})
family = c1.selectbox("Area", [ALL, *families], key="audit_family")
actions = sorted(a for a in df["action"].unique() if family == ALL or a.startswith(family + "."))
action = c2.selectbox("Action", [ALL, *actions], key="audit_action")
actor = c3.selectbox("Actor", [ALL, *sorted(df["actor"].unique())], key="audit_actor")
span = c4.date_input("Dates", value=(date.today() - timedelta(days=30), date.today()), key="audit_dates")
view = df
if family != ALL:
    view = view[view["action"].str.startswith(family + ".")]
if action != ALL:
    view = view[view["action"] == action]
if actor != ALL:
    view = view[view["actor"] == actor]
if isinstance(span, tuple) and len(span) == 2:
    view = view[(view["day"] >= span[0].isoformat()) & (view["day"] <= span[1].isoformat())]
view = view.assign(detail=view["detail"].map(lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True)))
view = view.drop(columns=["day"])
st.caption(f"{len(view)} of {len(df)} entries{' (the newest ' + str(MAX_ROWS) + ')' if len(df) >= MAX_ROWS else ''}")
st.dataframe(view, hide_index=True, column_order=["id", "at", "actor", "action", "target", "detail", "hash"])
b1, b2, _ = st.columns([1, 1, 3])
b1.download_button("Export CSV", view.to_csv(index=False).encode("utf-8"), mime="text/csv",
                   file_name=f"audit-{date.today().isoformat()}.csv", icon=":material/download:")
if b2.button("Verify the hash chain", icon=":material/verified:"):
    problems = audit.verify(s)
    if problems:
        for p in problems[:50]:
            st.error(p)
    else:
        st.success(f"Audit log intact: all {len(audit.entries(s))} entries chain correctly.")
