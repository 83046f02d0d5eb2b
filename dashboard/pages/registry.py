"""Registry (compliance and admin only): authorizations with status, revoke, import, enroll a photo."""
from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import COMPLIANCE, get_store, require

from scanner.crypto import KeyError_
from scanner.registry import Registry, RegistryError

user, role = require(*COMPLIANCE)
st.title("Authorization registry")
store = get_store()
today = date.today()
recs = Registry.all_records(store)
table = pd.DataFrame([{**r.as_row(), "status": r.status(today)} for r in recs]).drop(columns=["photo"], errors="ignore")
status = st.multiselect("Status", ["valid", "expiring", "expired", "revoked", "not_yet_valid"],
                        default=["valid", "expiring", "expired", "revoked"])
if not table.empty:
    st.dataframe(table[table["status"].isin(status)], hide_index=True)
else:
    st.info("The registry is empty; import a CSV below.")

with st.form("revoke"):
    st.subheader("Revoke")
    pid = st.selectbox("Patient", [r.patient_id for r in recs])
    on = st.date_input("Revoked on", value=today)
    reason = st.text_input("Reason")
    if st.form_submit_button("Revoke"):
        try:
            Registry.revoke(store, pid, on, reason, actor=user)
            st.success(f"Revoked {pid}.")
        except RegistryError as exc:
            st.error(str(exc))

st.subheader("Import a CSV")
up = st.file_uploader("consents.csv", type=["csv"])
if up is not None and st.button("Import"):
    p = Path(tempfile.mkdtemp()) / Path(up.name).name
    p.write_bytes(up.getvalue())
    try:
        res = Registry.import_csv(store, p, actor=user)
        st.success(f"Imported {res['rows']} authorization(s).")
    except RegistryError as exc:
        st.error(str(exc))

st.subheader("Enroll a reference photo")
photo = st.file_uploader("Photo with exactly one face", type=["jpg", "jpeg", "png", "webp", "heic"])
epid = st.selectbox("For patient", [r.patient_id for r in recs], key="enroll_pid")
if photo is not None and st.button("Enroll"):
    p = Path(tempfile.mkdtemp()) / Path(photo.name).name
    p.write_bytes(photo.getvalue())
    try:
        Registry(store).enroll_face(epid, p, actor=user)
        st.success("Enrolled (photo and encoding encrypted at rest).")
    except (RegistryError, KeyError_) as exc:
        st.error(str(exc))
