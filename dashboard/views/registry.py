"""Registry (compliance and admin only; marketing never sees it): the patients' marketing authorizations
with their status (valid, expiring soon, expired, revoked), revoke, import a CSV, enroll a reference
photo. Every change goes through `scanner.registry.Registry` and is audit-logged there; the scanner
picks the change up before its next check."""
from __future__ import annotations

import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import REVIEWERS, require, store

from scanner.crypto import KeyError_
from scanner.registry import Registry, RegistryError

STATUS_LABEL = {"valid": "valid", "expiring": "expiring soon", "expired": "expired", "revoked": "revoked",
                "not_yet_valid": "not yet valid"}
PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]

user, role = require(*REVIEWERS)  # before anything of the registry is read
st.title("Authorization registry")
st.caption("Written authorizations to use a client's name, story or photo in marketing: for which purposes and "
           "channels, until when. The scanner checks every draft against this list.")
if flash := st.session_state.pop("registry_flash", None):
    st.success(flash)
s = store()
today = date.today()
recs = Registry.all_records(s)


def enrolled_faces() -> Counter[str] | None:
    try:
        ids, _ = Registry(s).face_encodings()
    except KeyError_:  # a missing or wrong key only hides the photo column
        return None
    return Counter(ids)


faces = enrolled_faces()
rows = []
for r in recs:
    row = {k: v for k, v in r.as_row().items() if k != "photo"}
    row["status"] = STATUS_LABEL.get(r.status(today), r.status(today))
    row["photos"] = faces.get(r.patient_id, 0) if faces is not None else None
    rows.append(row)
table = pd.DataFrame(rows)

if table.empty:
    st.info("The registry is empty; import a CSV below.")
else:
    by_status = table["status"].value_counts()
    cols = st.columns(4)
    for col, label in zip(cols, ("valid", "expiring soon", "expired", "revoked"), strict=True):
        col.metric(label.capitalize(), int(by_status.get(label, 0)))
    f1, f2 = st.columns([2, 1])
    wanted = f1.multiselect("Status", list(STATUS_LABEL.values()), default=list(STATUS_LABEL.values()), key="r_status")
    needle = f2.text_input("Search name, alias, handle or id", key="r_search").strip().lower()
    view = table[table["status"].isin(wanted)]
    if needle:
        hay = view[["patient_id", "full_name", "aliases", "social_handles"]].astype(str).agg(" ".join, axis=1)
        view = view[hay.str.lower().str.contains(needle, regex=False)]
    st.dataframe(view, hide_index=True, column_order=["status", "patient_id", "full_name", "aliases", "social_handles",
                                                      "purposes", "channels", "signed_on", "expires_on", "revoked_on",
                                                      "photos"])
    st.download_button("Export CSV", view.to_csv(index=False).encode("utf-8"), file_name="registry.csv",
                       mime="text/csv", icon=":material/download:")

active = [r.patient_id for r in recs if r.status(today) != "revoked"]
left, right = st.columns(2)
with left, st.form("revoke", clear_on_submit=True):
    st.subheader("Revoke")
    pid = st.selectbox("Patient", active, key="revoke_pid", index=None, placeholder="Choose a patient id")
    on = st.date_input("Revoked on", value=today, key="revoke_on")
    reason = st.text_input("Reason", key="revoke_reason", placeholder="e.g. written revocation received by mail")
    if st.form_submit_button("Revoke", icon=":material/block:"):
        if pid is None:
            st.error("Choose a patient.")
        else:
            try:
                Registry.revoke(s, pid, on, reason, actor=user)
                st.session_state["registry_flash"] = f"Revoked {pid} as of {on.isoformat()}."
                st.rerun()
            except RegistryError as exc:
                st.error(str(exc))

with right:
    st.subheader("Import a CSV")
    st.caption("Header: patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,"
               "photo. Rows are added or updated, all or nothing. Enroll photos below (or import with the command "
               "line, where photo paths are relative to the CSV).")
    up = st.file_uploader("Registry CSV", type=["csv"], key="import_csv")
    if up is not None and st.button("Import", icon=":material/upload:"):
        with tempfile.TemporaryDirectory(prefix="medspa-import-") as tmp:
            p = Path(tmp) / (Path(up.name).name or "registry.csv")
            p.write_bytes(up.getvalue())
            try:
                res = Registry.import_csv(s, p, actor=user)
            except RegistryError as exc:
                st.error(f"Nothing imported: {exc}")
            else:
                st.session_state["registry_flash"] = (f"Imported {res['rows']} authorization(s): {res['inserted']} new, "
                                                      f"{res['updated']} updated.")
                st.rerun()

st.subheader("Enroll a reference photo")
st.caption("A photo with exactly one face; stored encrypted, used to recognise this client in images.")
e1, e2 = st.columns([1, 2])
epid = e1.selectbox("For patient", [r.patient_id for r in recs], key="enroll_pid", index=None,
                    placeholder="Choose a patient id")
photo = e2.file_uploader("Photo", type=PHOTO_TYPES, key="enroll_photo")
if st.button("Enroll", icon=":material/face:", disabled=photo is None or epid is None):
    assert photo is not None and epid is not None
    with tempfile.TemporaryDirectory(prefix="medspa-enroll-") as tmp:
        p = Path(tmp) / (Path(photo.name).name or "photo")
        p.write_bytes(photo.getvalue())
        try:
            Registry(s).enroll_face(epid, p, actor=user)
        except (RegistryError, KeyError_) as exc:
            st.error(f"Not enrolled: {exc}")
        else:
            st.session_state["registry_flash"] = f"Enrolled a photo for {epid} (encrypted at rest)."
            st.rerun()
