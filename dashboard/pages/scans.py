"""Published scans: runs, findings by category, channel and week, drill-down and CSV export."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import COMPLIANCE, get_store, require

from scanner import review

require(*COMPLIANCE)
st.title("Published scans and runs")
store = get_store()
runs = pd.DataFrame(review.runs(store))
if runs.empty:
    st.info("No runs yet. Run `medspa-scan crawl --config sources.yaml` or scan a batch.")
    st.stop()
st.dataframe(runs, hide_index=True)
choice = st.selectbox("Run", ["all", *runs["id"].tolist()])
source = st.selectbox("Source", ["all", "crawl", "api", "cli", "dashboard"])
rows = pd.DataFrame(review.findings_table(store, run_id=None if choice == "all" else int(choice),
                                          source=None if source == "all" else source))
if rows.empty:
    st.success("No findings for this selection.")
    st.stop()
c1, c2, c3 = st.columns(3)
c1.subheader("By category")
c1.bar_chart(rows["category"].value_counts())
c2.subheader("By channel")
c2.bar_chart(rows["channel"].value_counts())
c3.subheader("By week")
c3.bar_chart(rows["week"].value_counts().sort_index())
st.subheader("Findings")
st.dataframe(rows, hide_index=True)
st.download_button("Export CSV", rows.to_csv(index=False).encode(), file_name="findings.csv", mime="text/csv")
