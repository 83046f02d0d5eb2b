"""Rules, generated from the rule data: what each rule finds, why it matters, what to write instead."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import ALL_ROLES, get_scanner, require

require(*ALL_ROLES)
st.title("Rules")
pack = get_scanner().rules
st.caption(f"Rule pack {pack.version} · {len(pack.rules)} rules")
cat = st.selectbox("Category", ["all", *sorted({r.category for r in pack.rules})])
for r in pack.rules:
    if cat != "all" and r.category != cat:
        continue
    with st.expander(f"{r.id} · {r.title or r.message} · {r.severity}"):
        st.write(f"**What it finds:** {r.message}")
        st.write(f"**Why it matters:** {r.rationale}")
        st.write(f"**Write instead:** {r.remediation}")
        st.caption(f"Citation: {r.citation} · applies to: {', '.join(r.kinds)}")
        for kind, label in (("fire", "Fires on"), ("silent", "Stays silent on")):
            st.write(f"*{label}:*")
            for ex in r.examples.get(kind, []):
                st.write(f"- {ex['text'] if isinstance(ex, dict) else ex}")
