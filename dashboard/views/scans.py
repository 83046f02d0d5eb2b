"""Published scans (compliance, admin): what went out or was sent for approval (crawls of published content,
reply-gate and command-line batches, submitted pre-checks; never an unsubmitted draft), counted in items,
not findings. Charts by problem, channel and week in blues (red stays for "block"); click a bar to drill
down to the items and open one; the runs (crawls and batches); CSV export of the rows shown."""
from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import REVIEWERS, compact_top, require, store
from _explain import category_label

from scanner.core.csv_cells import neutralize_frame
from scanner.review import queue as review

SEVERITY_COLORS = alt.Scale(domain=["high", "medium"], range=["#1864ab", "#74c0fc"])  # not the severity red
PALETTE = ["#1864ab", "#74c0fc", "#0b7285", "#66d9e8", "#5f3dc4", "#b197fc", "#087f5b", "#63e6be", "#495057"]
RUN_SOURCES = {"crawl": "crawl", "api": "api", "cli": "cli-batch"}  # item source -> its runs (no single checks)
RUN_LABEL = {"crawl": "crawl", "api": "reply-gate batch", "cli-batch": "command-line batch"}
ALL = "all"

require(*REVIEWERS)
compact_top()
st.title("Published scans")
st.caption("Content that was published or sent for approval. Numbers are items (a post with three problems "
           "counts once per problem type).")
s = store()

c1, c2, c3, c4 = st.columns(4)
source = c1.selectbox("Source", [ALL, *RUN_SOURCES, "dashboard"], key="s_source",
                      format_func=lambda x: {"dashboard": "pre-check (submitted)"}.get(x, review.SOURCES.get(x, x)))
runs = pd.DataFrame(review.runs(s, sources=tuple(RUN_SOURCES.values()) if source in (ALL, "dashboard")
                               else (RUN_SOURCES[source],)))
run_ids = [] if runs.empty or source == "dashboard" else runs["id"].tolist()
run_choice = c2.selectbox("Run", [ALL, *run_ids], key="s_run", format_func=lambda r: r if r == ALL else (
    lambda row: f"#{r} {RUN_LABEL.get(row.source, row.source)} {row.started_at[:16].replace('T', ' ')}")(
        runs.set_index("id").loc[r]))
since = c3.date_input("From", value=date.today() - timedelta(days=180), key="s_since")
until = c4.date_input("To", value=date.today(), key="s_until")

rows = pd.DataFrame(review.published_rows(s, run_id=None if run_choice == ALL else int(run_choice),
                                          source=None if source == ALL else source, since=since, until=until))
if rows.empty:
    st.success("No published or submitted content with problems for this selection.")
else:
    rows["problem"] = rows["category"].map(category_label)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Items with problems", rows["pk"].nunique())
    m2.metric("Would be blocked", rows[rows["verdict"] == "block"]["pk"].nunique())
    m3.metric("Still open", rows[rows["status"] == "open"]["pk"].nunique())
    m4.metric("Channels", rows["channel"].nunique())

    def bar(field: str, title: str, name: str) -> alt.Chart:
        pick = alt.selection_point(fields=[field], name=name)
        return alt.Chart(rows, title=title).mark_bar().encode(
            y=alt.Y(f"{field}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X("distinct(pk):Q", title="items"),
            color=alt.Color("severity:N", scale=SEVERITY_COLORS, legend=alt.Legend(orient="bottom", title="worst")),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
            tooltip=[alt.Tooltip(f"{field}:N"), "severity:N", alt.Tooltip("distinct(pk):Q", title="items")],
        ).add_params(pick)

    def picked(event: Any, name: str, field: str) -> str | None:
        try:
            chosen = event.selection[name]
        except (AttributeError, KeyError, TypeError):
            return None
        return chosen[0].get(field) if chosen else None

    g1, g2 = st.columns(2)
    ev_cat = g1.altair_chart(bar("problem", "By problem (click a bar)", "pick_problem"), width="stretch",
                             on_select="rerun", key="chart_problem")
    ev_chan = g2.altair_chart(bar("channel", "By channel (click a bar)", "pick_channel"), width="stretch",
                              on_select="rerun", key="chart_channel")
    weekly = alt.Chart(rows, title="By week").mark_bar().encode(
        x=alt.X("week:O", title="ISO week", sort="ascending"), xOffset="problem:N",
        y=alt.Y("distinct(pk):Q", title="items"),
        color=alt.Color("problem:N", scale=alt.Scale(range=PALETTE),
                        legend=alt.Legend(orient="bottom", columns=3, labelLimit=260, title=None)),
        tooltip=["week:O", "problem:N", alt.Tooltip("distinct(pk):Q", title="items")])
    st.altair_chart(weekly, width="stretch")

    st.subheader("Drill down")
    d1, d2, d3, d4 = st.columns(4)
    f_cat = d1.selectbox("Problem", [ALL, *sorted(rows["problem"].unique())], key="s_cat")
    f_chan = d2.selectbox("Channel", [ALL, *sorted(rows["channel"].unique())], key="s_chan")
    f_week = d3.selectbox("Week", [ALL, *sorted(rows["week"].unique(), reverse=True)], key="s_week")
    f_sev = d4.selectbox("Worst severity", [ALL, "high", "medium"], key="s_sev")
    f_cat = picked(ev_cat, "pick_problem", "problem") or f_cat  # a clicked bar wins over the list
    f_chan = picked(ev_chan, "pick_channel", "channel") or f_chan
    sel = rows
    for col, val in (("problem", f_cat), ("channel", f_chan), ("week", f_week), ("severity", f_sev)):
        if val != ALL:
            sel = sel[sel[col] == val]
    items = (sel.groupby("pk", sort=False)
             .agg(item=("item", "first"), source=("source", "first"), channel=("channel", "first"),
                  kind=("kind", "first"), scanned=("scanned_at", "first"), status=("status", "first"),
                  problems=("problem", lambda v: ", ".join(sorted(set(v)))), permalink=("permalink", "first"))
             .reset_index())
    items["source"] = items["source"].map(lambda x: review.SOURCES.get(x, x))
    items["scanned"] = items["scanned"].str.replace("T", " ")
    items["open"] = items["pk"].map(lambda pk: f"queue?item={pk}")
    shown = [f"problem {f_cat}" if f_cat != ALL else "", f"channel {f_chan}" if f_chan != ALL else ""]
    st.caption(f"{len(items)} item(s)" + (" · " + " · ".join(x for x in shown if x) if any(shown) else ""))
    st.dataframe(items.drop(columns=["pk"]), hide_index=True,
                 column_config={"permalink": st.column_config.LinkColumn("published at"),
                                "open": st.column_config.LinkColumn("open", display_text="open item")})
    st.download_button("Export CSV", neutralize_frame(items.drop(columns=["pk", "open"])).to_csv(index=False).encode("utf-8"),
                       file_name=f"published-scans-{date.today().isoformat()}.csv", mime="text/csv",
                       icon=":material/download:")

with st.expander(f"Runs: crawls and batches ({len(runs)})"):
    if runs.empty:
        st.caption("No crawls or batches yet: `medspa-scan crawl --config sources.yaml` or `medspa-scan batch`.")
    else:
        view = runs.assign(source=runs["source"].map(lambda x: RUN_LABEL.get(x, x)),
                           started=runs["started_at"].str.replace("T", " "))
        st.dataframe(view, hide_index=True, column_order=["id", "started", "source", "actor", "status", "items",
                                                          "block", "review", "pass"])
