"""Audit log (compliance and admin): every registry change and review decision, filter and export."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import COMPLIANCE, get_store, require

from scanner import audit

require(*COMPLIANCE)
st.title("Audit log")
store = get_store()
action = st.text_input("Action starts with (e.g. review., registry.)")
rows = [e for e in audit.entries(store, limit=2000) if not action or e["action"].startswith(action)]
df = pd.DataFrame(rows)
if df.empty:
    st.info("No entries.")
else:
    df["detail"] = df["detail"].astype(str)
    st.dataframe(df, hide_index=True)
    st.download_button("Export CSV", df.to_csv(index=False).encode(), file_name="audit.csv", mime="text/csv")
if st.button("Verify the hash chain"):
    problems = audit.verify(store)
    if problems:
        for p in problems:
            st.error(p)
    else:
        st.success("Audit log intact.")
