"""Published scans (compliance, admin): the runs (crawls, reply-gate batches, command-line and dashboard
checks), findings by category, channel and week as charts, a drill-down from a chart's slice to the items,
and CSV export."""
from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import (
    REVIEWERS,
    finding_title,
    get_rule_pack,
    require,
    show_finding,
    store,
    text_box,
    verdict_badge,
)

from scanner import review

SEVERITY_COLORS = alt.Scale(domain=["high", "medium"], range=["#e03131", "#f08c00"])

require(*REVIEWERS)
st.title("Published scans and runs")
s = store()
runs = pd.DataFrame(review.runs(s))
if runs.empty:
    st.info("No runs yet. Run `medspa-scan crawl --config sources.yaml`, scan a batch, or pre-check a draft.")
    st.stop()

ALL = "all"
c1, c2, c3, c4 = st.columns(4)
source = c1.selectbox("Source", [ALL, "crawl", "api", "cli", "dashboard"], key="s_source",
                      format_func=lambda x: review.SOURCES.get(x, x))
run_ids = runs[runs["source"] == source]["id"].tolist() if source != ALL else runs["id"].tolist()
run_choice = c2.selectbox("Run", [ALL, *run_ids], key="s_run")
since = c3.date_input("From", value=date.today() - timedelta(days=180), key="s_since")
until = c4.date_input("To", value=date.today(), key="s_until")

with st.expander(f"Runs ({len(runs)})", expanded=False):
    st.dataframe(runs, hide_index=True)

rows = pd.DataFrame(review.findings_table(s, run_id=None if run_choice == ALL else int(run_choice),
                                          source=None if source == ALL else source, since=since, until=until))
if rows.empty:
    st.success("No high or medium findings for this selection.")
    st.stop()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Findings", len(rows))
m2.metric("High", int((rows["severity"] == "high").sum()))
m3.metric("Items affected", rows["pk"].nunique())
m4.metric("Waived", int(rows["waived"].sum()))


def bar(field: str, title: str, sort: str | list[str] = "-x") -> alt.Chart:
    return alt.Chart(rows, title=title).mark_bar().encode(
        y=alt.Y(f"{field}:N", sort=sort, title=None),
        x=alt.X("count():Q", title="findings"),
        color=alt.Color("severity:N", scale=SEVERITY_COLORS, legend=alt.Legend(orient="bottom")),
        tooltip=[f"{field}:N", "severity:N", "count():Q"])


g1, g2 = st.columns(2)
g1.altair_chart(bar("category", "By category"), width="stretch")
g2.altair_chart(bar("channel", "By channel"), width="stretch")
weekly = alt.Chart(rows, title="By week").mark_bar().encode(
    x=alt.X("week:O", title="ISO week", sort="ascending"), y=alt.Y("count():Q", title="findings"),
    color=alt.Color("category:N", legend=alt.Legend(orient="bottom", columns=3)),
    tooltip=["week:O", "category:N", "count():Q"])
st.altair_chart(weekly, width="stretch")

st.subheader("Drill down")
d1, d2, d3, d4 = st.columns(4)
f_cat = d1.selectbox("Category", [ALL, *sorted(rows["category"].unique())], key="s_cat")
f_chan = d2.selectbox("Channel", [ALL, *sorted(rows["channel"].unique())], key="s_chan")
f_week = d3.selectbox("Week", [ALL, *sorted(rows["week"].unique(), reverse=True)], key="s_week")
f_sev = d4.selectbox("Severity", [ALL, "high", "medium"], key="s_sev")
sel = rows
for col, val in (("category", f_cat), ("channel", f_chan), ("week", f_week), ("severity", f_sev)):
    if val != ALL:
        sel = sel[sel[col] == val]
st.caption(f"{len(sel)} finding(s) in {sel['pk'].nunique()} item(s)")
st.dataframe(sel.drop(columns=["pk"]), hide_index=True,
             column_config={"permalink": st.column_config.LinkColumn("permalink")})
st.download_button("Export CSV", sel.drop(columns=["pk"]).to_csv(index=False).encode("utf-8"),
                   file_name=f"findings-{date.today().isoformat()}.csv", mime="text/csv", icon=":material/download:")

items = sel.drop_duplicates("pk")
labels = {int(r.pk): f"{r.item} · {r.kind}/{r.channel} · {r.source} · {r.scanned_at}" for r in items.itertuples()}
pick = st.selectbox("Open an item", [None, *labels], format_func=lambda pk: "—" if pk is None else labels[pk],
                    key="s_item")
if pick is not None:
    it = review.get_item(s, int(pick))
    if it is not None:
        verdict_badge(it["verdict"], it["effective_verdict"])
        st.caption(f"status {it['status']} · {review.SOURCES.get(it['source'], it['source'])}")
        if str(it["permalink"] or "").startswith(("https://", "http://")):
            st.link_button("Open the published item", it["permalink"], icon=":material/open_in_new:")
        if it["text"]:
            text_box(it["text"], it["findings"])
        pack = get_rule_pack()
        for n, f in enumerate(it["findings"], start=1):
            if f["severity"] != "info":
                with st.expander(finding_title(n, f)):
                    show_finding(n, f, pack.get(f["rule_id"]), show_record=True)
        if it["status"] == "open":
            st.caption("It is still open: decide on it in the Review queue.")
