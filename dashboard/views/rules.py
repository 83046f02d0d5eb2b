"""Rules (every role), generated from the rule data (`scanner.rules.load_rule_pack()`), the same data as
`medspa-scan rules explain ID`: what each rule finds, why it matters, what to write instead, the citation
and the examples that must fire and must stay silent."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import ALL_ROLES, get_rule_pack, require

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}

require(*ALL_ROLES)
st.title("Rules")
pack = get_rule_pack()
st.caption(f"Rule pack {pack.version} · {len(pack.rules)} rules · block on any high finding, review on any "
           "medium; low and info findings are advisories.")
ALL = "all"
c1, c2, c3 = st.columns([1, 1, 2])
cat = c1.selectbox("Category", [ALL, *sorted({r.category for r in pack.rules})], key="rules_cat")
sev = c2.selectbox("Severity", [ALL, "high", "medium", "low", "info"], key="rules_sev")
needle = c3.text_input("Search", key="rules_search").strip().lower()


def example(ex: Any) -> str:
    if not isinstance(ex, dict):
        return str(ex)
    extra = [f"{k}: {ex[k]}" for k in ("kind", "channel", "in_reply_to", "author") if ex.get(k)]
    return f"“{ex.get('text', '')}”" + (f" ({'; '.join(extra)})" if extra else "")


shown = 0
for r in sorted(pack.rules, key=lambda r: (SEVERITY_ORDER.get(r.severity, 9), r.id)):
    if (cat != ALL and r.category != cat) or (sev != ALL and r.severity != sev):
        continue
    if needle and needle not in " ".join([r.id, r.title, r.message, r.rationale, r.remediation]).lower():
        continue
    shown += 1
    with st.expander(f"{r.id} · {r.title or r.message} · {r.severity} · {r.category}"):
        st.markdown(f"**What it finds:** {r.message}")
        st.markdown(f"**Why it matters:** {r.rationale}")
        st.markdown(f"**Write instead:** {r.remediation}")
        st.caption(f"Citation: {r.citation} · applies to: {', '.join(r.kinds)} · pack: {r.pack}")
        fire, silent = st.columns(2)
        fire.markdown("*Fires on*\n\n" + "\n".join(f"- {example(e)}" for e in r.examples.get("fire", [])))
        silent.markdown("*Stays silent on*\n\n" + "\n".join(f"- {example(e)}" for e in r.examples.get("silent", [])))
if not shown:
    st.info("No rule matches these filters.")
