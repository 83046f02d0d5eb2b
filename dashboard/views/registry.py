"""Registry (compliance and admin only; marketing never sees it): the clients' marketing authorizations by
name, expiry first and coloured by status (valid, expiring soon, expired, revoked), purposes in words;
add or renew one authorization with a form, revoke by name after a confirmation, import a CSV, enroll a
reference photo. Every change goes through `scanner.registry.Registry` and is audit-logged there; the
scanner picks the change up before its next check."""
from __future__ import annotations

import sys
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import REVIEWERS, compact_top, require, store

from scanner import Registry, RegistryError
from scanner.core.crypto import KeyError_
from scanner.core.csv_cells import neutralize_frame
from scanner.registry.authorizations import PURPOSES, REGISTRY_CHANNELS

STATUS_LABEL = {"valid": "valid", "expiring": "expiring soon", "expired": "expired", "revoked": "revoked",
                "not_yet_valid": "not yet valid"}
STATUS_BG = {"valid": "#d3f9d8", "expiring soon": "#fff3bf", "expired": "#ffe3e3", "revoked": "#e9ecef",
             "not yet valid": "#e7f5ff"}
PURPOSE_LABEL = {"testimonial": "testimonials", "before_after_photos": "before/after photos",
                 "name_in_marketing": "name in marketing", "case_study": "case studies"}
PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]

user, role = require(*REVIEWERS)  # before anything of the registry is read
compact_top()
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


def words(items: list[str] | tuple[str, ...], labels: dict[str, str] | None = None) -> str:
    return ", ".join((labels or {}).get(x, x) for x in items)


faces = enrolled_faces()
names = {r.patient_id: r.full_name for r in recs}
table = pd.DataFrame([{
    "expires": r.expires_on, "status": STATUS_LABEL.get(r.status(today), r.status(today)), "name": r.full_name,
    "covers": words(r.purposes, PURPOSE_LABEL), "channels": "all channels" if "all" in r.channels else words(r.channels),
    "signed": r.signed_on, "revoked": r.revoked_on, "also known as": words([*r.aliases, *r.social_handles]),
    "id": r.patient_id, "photos": faces.get(r.patient_id, 0) if faces is not None else None} for r in recs])

if table.empty:
    st.info("The registry is empty; add an authorization or import a CSV below.")
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
        hay = view[["id", "name", "also known as"]].astype(str).agg(" ".join, axis=1)
        view = view[hay.str.lower().str.contains(needle, regex=False)]
    view = view.sort_values("expires", key=lambda c: c.map(lambda d: d or date.max)).reset_index(drop=True)
    st.dataframe(view.style.map(lambda v: f"background-color:{STATUS_BG.get(v, '')}", subset=["status"]),
                 hide_index=True, column_config={"expires": st.column_config.DateColumn("expires", format="YYYY-MM-DD"),
                                                 "covers": st.column_config.TextColumn("covers", width="medium")})
    st.download_button("Export CSV", neutralize_frame(view).to_csv(index=False).encode("utf-8"), file_name="registry.csv",
                       mime="text/csv", icon=":material/download:")


def who(pid: str | None) -> str:
    return "—" if pid is None else f"{names.get(pid, pid)} ({pid})"


left, right = st.columns(2, gap="large")
with left, st.form("add_authorization", clear_on_submit=True):
    st.subheader("Add or renew an authorization")
    NEW = "__new__"
    pick = st.selectbox("Client", [NEW, *sorted(names, key=lambda p: names[p].lower())], key="add_pid",
                        format_func=lambda p: "A new client" if p == NEW else who(p))
    n1, n2 = st.columns(2)
    new_name = n1.text_input("Full name (new client)", key="add_name")
    new_id = n2.text_input("Client id (new client)", key="add_id", placeholder="e.g. chart number")
    purposes = st.multiselect("What it allows", PURPOSES, format_func=lambda p: PURPOSE_LABEL.get(p, p),
                              key="add_purposes")
    channels = st.multiselect("Where", REGISTRY_CHANNELS, default=["all"], key="add_channels",
                              format_func=lambda c: "all channels" if c == "all" else c)
    d1, d2 = st.columns(2)
    signed = d1.date_input("Signed on", value=today, key="add_signed")
    expires = d2.date_input("Expires on", value=today + timedelta(days=365), key="add_expires")
    why = st.text_input("Note for the audit log (optional)", key="add_reason")
    if st.form_submit_button("Save authorization", type="primary", icon=":material/add:"):
        pid = new_id.strip() if pick == NEW else pick
        fields = {"patient_id": pid, "full_name": new_name.strip() if pick == NEW else "",
                  "purposes": ";".join(purposes), "channels": ";".join(channels), "signed_on": signed.isoformat(),
                  "expires_on": expires.isoformat() if expires else ""}
        try:
            Registry.add(s, fields, actor=user, reason=why.strip())
        except RegistryError as exc:
            st.error(f"Not saved: {exc}")
        else:
            names.setdefault(pid, fields["full_name"])
            st.session_state["registry_flash"] = f"Saved an authorization for {who(pid)} until {fields['expires_on']}."
            st.rerun()

with right:
    st.subheader("Revoke")
    active = sorted((r.patient_id for r in recs if r.status(today) != "revoked"), key=lambda p: names[p].lower())
    pending = st.session_state.get("confirm_revoke")
    if pending is None:
        pid = st.selectbox("Client", list(dict.fromkeys(active)), key="revoke_pid", index=None,
                           placeholder="Choose a client by name", format_func=who)
        on = st.date_input("Revoked on", value=today, key="revoke_on")
        reason = st.text_input("Reason", key="revoke_reason", placeholder="e.g. written revocation received by mail")
        if st.button("Revoke…", icon=":material/block:", key="revoke_ask"):
            if pid is None or not reason.strip():
                st.error("Choose a client and give the reason.")
            else:
                st.session_state["confirm_revoke"] = (pid, on.isoformat(), reason.strip())
                st.rerun()
    else:
        pid, on_s, reason = pending
        st.warning(f"Revoke every authorization of **{who(pid)}** as of {on_s}? Marketing that uses them will "
                   f"be blocked from then on. Reason: {reason}")
        y, n = st.columns(2)
        if y.button(f"Yes, revoke {names.get(pid, pid)}", type="primary", key="revoke_yes"):
            st.session_state.pop("confirm_revoke", None)
            try:
                Registry.revoke(s, pid, date.fromisoformat(on_s), reason, actor=user)
                st.session_state["registry_flash"] = f"Revoked {who(pid)} as of {on_s}."
            except RegistryError as exc:
                st.session_state["registry_flash"] = None
                st.error(str(exc))
            else:
                st.rerun()
        if n.button("Cancel", key="revoke_no"):
            st.session_state.pop("confirm_revoke", None)
            st.rerun()

i1, i2 = st.columns(2, gap="large")
with i1:
    st.subheader("Import a CSV")
    st.caption("Header: patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,"
               "photo. Rows are added or updated, all or nothing.")
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

with i2:
    st.subheader("Enroll a reference photo")
    st.caption("A photo with exactly one face; stored encrypted, used to recognise this client in images.")
    epid = st.selectbox("For client", sorted(names, key=lambda p: names[p].lower()), key="enroll_pid", index=None,
                        placeholder="Choose a client by name", format_func=who)
    photo = st.file_uploader("Photo", type=PHOTO_TYPES, key="enroll_photo")
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
                st.session_state["registry_flash"] = f"Enrolled a photo for {who(epid)} (encrypted at rest)."
                st.rerun()
