"""The authorization registry: who agreed to what marketing use, on which channels, from when until when.

Owns the registry tables (patients, their authorizations, encrypted reference photos and face
encodings), the CSV import (upsert by patient_id, all or nothing), add/revoke, the authorization
check used by every scan (purposes x channels x [signed_on, expires_on) minus revocation, as of a
date), and matching people in text, file names (`registry.names`) and faces. Every change is
audit-logged in the same transaction as the change.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..core import audit
from ..core.at_rest import SealedList, SealedText
from ..core.csv_cells import csv_uncell
from ..core.models import CHANNELS
from ..core.store import Base, Store, utcnow
from .names import FILE_TOKEN_RE, NameIndex, PersonMatch, fold

FULL_MATCHES = ("full_name", "alias", "handle", "first_last_initial")  # a registry name the text gives in full

if TYPE_CHECKING:
    import numpy as np

    from ..core.crypto import Vault

__all__ = ["PURPOSES", "REGISTRY_CHANNELS", "CSV_COLUMNS", "AuthDecision", "AuthRecord", "FaceMatch", "PatientRecord",
           "PersonMatch", "Registry", "RegistryError", "encode_single_face", "open_vault"]

PURPOSES = ("testimonial", "before_after_photos", "name_in_marketing", "case_study")
REGISTRY_CHANNELS = (*CHANNELS, "print", "all")
CSV_COLUMNS = ("patient_id", "full_name", "aliases", "social_handles", "purposes", "channels", "signed_on",
               "expires_on", "revoked_on", "photo")
REQUIRED_COLUMNS = CSV_COLUMNS[:-1]  # photo may be left out
KEY_CHECK = b"medspa-scan registry key check v1"
HANDLE_RE = re.compile(r"@?[\w.]{1,100}")
MAX_CHANGED_IDS = 100  # audit entries list at most this many patient ids (plus a count)


class RegistryError(ValueError):
    """Bad registry input (a CSV row, a date, an unknown purpose or channel); the message says where."""


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------
class Patient(Base):
    __tablename__ = "registry_patients"
    patient_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    full_name: Mapped[str] = mapped_column(SealedText)  # names are PHI: encrypted at rest (core/at_rest.py)
    aliases: Mapped[list[str]] = mapped_column(SealedList, default=list)
    social_handles: Mapped[list[str]] = mapped_column(SealedList, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Authorization(Base):
    """One signed authorization: purposes x channels x [signed_on, expires_on), maybe revoked."""

    __tablename__ = "registry_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authorization_id: Mapped[str] = mapped_column(String(120), unique=True)  # "P001/2023-03-14"
    patient_id: Mapped[str] = mapped_column(ForeignKey("registry_patients.patient_id"), index=True)
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    signed_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoked_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class FaceRecord(Base):
    """A reference photo and its 128-d face encoding, both encrypted with the registry key."""

    __tablename__ = "registry_photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("registry_patients.patient_id"), index=True)
    source: Mapped[str] = mapped_column(String(20), default="enroll")  # enroll | import
    fingerprint: Mapped[str] = mapped_column(String(64), default="")  # keyed HMAC of the photo bytes
    photo_enc: Mapped[bytes] = mapped_column(LargeBinary)
    encoding_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RegistryMeta(Base):
    __tablename__ = "registry_meta"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


# ----------------------------------------------------------------------------------------------
# In-memory records and answers
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthRecord:
    """One authorization with its patient's names (what `list`, `export` and the dashboard show)."""

    authorization_id: str
    patient_id: str
    full_name: str
    aliases: tuple[str, ...]
    social_handles: tuple[str, ...]
    purposes: tuple[str, ...]
    channels: tuple[str, ...]
    signed_on: date
    expires_on: date | None
    revoked_on: date | None
    revoke_reason: str | None
    updated_at: datetime

    def status(self, as_of: date, within_days: int = 30) -> str:
        """valid | expiring (within `within_days`) | expired | revoked | not_yet_valid, as of a date."""
        if self.revoked_on and self.revoked_on <= as_of:
            return "revoked"
        if as_of < self.signed_on:
            return "not_yet_valid"
        if self.expires_on and as_of >= self.expires_on:
            return "expired"
        if self.expires_on and (self.expires_on - as_of).days <= within_days:
            return "expiring"
        return "valid"

    def in_force(self, as_of: date) -> bool:
        return self.status(as_of) in ("valid", "expiring")

    def covers(self, purpose: str, channel: str) -> bool:
        return purpose in self.purposes and ("all" in self.channels or channel in self.channels)

    def describe(self) -> str:
        """What it covers, without the patient's name."""
        chans = "every channel" if "all" in self.channels else (", ".join(self.channels) or "no channel")
        until = f" until {self.expires_on}" if self.expires_on else ""
        return f"covers {', '.join(self.purposes) or 'nothing'} on {chans}{until}"

    def as_row(self) -> dict[str, str]:
        return {
            "patient_id": self.patient_id, "full_name": self.full_name, "aliases": ";".join(self.aliases),
            "social_handles": ";".join(self.social_handles), "purposes": ";".join(self.purposes),
            "channels": ";".join(self.channels), "signed_on": self.signed_on.isoformat(),
            "expires_on": self.expires_on.isoformat() if self.expires_on else "",
            "revoked_on": self.revoked_on.isoformat() if self.revoked_on else "", "photo": "",
        }


@dataclass(frozen=True)
class PatientRecord:
    """A registry patient and all their authorizations (newest signed first)."""

    patient_id: str
    full_name: str
    aliases: tuple[str, ...]
    social_handles: tuple[str, ...]
    authorizations: tuple[AuthRecord, ...]
    updated_at: datetime

    @property
    def revoked_on(self) -> date | None:
        """The latest revocation date of any authorization (for change fingerprints)."""
        return max((a.revoked_on for a in self.authorizations if a.revoked_on), default=None)

    def status(self, as_of: date, within_days: int = 30) -> str:
        statuses = [a.status(as_of, within_days) for a in self.authorizations]
        for s in ("valid", "expiring"):
            if s in statuses:
                return s
        return statuses[0] if statuses else "no_authorization"


@dataclass(frozen=True)
class AuthDecision:
    ok: bool
    status: str  # authorized|missing_purpose|wrong_channel|expired|revoked|not_yet_valid|ambiguous|no_record
    patient_id: str | None
    authorization_id: str | None
    detail: str  # never the patient's name


@dataclass(frozen=True)
class FaceMatch:
    patient_id: str | None
    distance: float
    ambiguous: bool
    second_distance: float | None


# ----------------------------------------------------------------------------------------------
# Parsing and validation
# ----------------------------------------------------------------------------------------------
def split_list(value: str | None) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in (value or "").split(";") if v.strip()))


def parse_date(value: str | None, field: str, required: bool = False) -> date | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise RegistryError(f"{field}: required (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RegistryError(f"{field}: not an ISO date (YYYY-MM-DD): {value!r}") from None


def _handle(raw: str) -> str:
    h = raw.strip().rstrip("/")
    if "/" in h:  # a profile URL: keep the last path segment
        h = h.rsplit("/", 1)[-1]
    h = h if h.startswith("@") else f"@{h}"
    if not HANDLE_RE.fullmatch(h) or h == "@":
        raise RegistryError(f"social_handles: not a social handle: {raw!r} (letters, digits, '.', '_')")
    return h


def _choices(row: dict[str, str], column: str, noun: str, allowed: tuple[str, ...]) -> list[str]:
    """The `;`-separated values of COLUMN, lower-cased: one or more, each one of ALLOWED."""
    values = [v.lower() for v in split_list(row.get(column))]
    if not values:
        raise RegistryError(f"{column}: required (one or more of {', '.join(allowed)})")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise RegistryError(f"{column}: unknown {noun} {bad[0]!r} (expected {', '.join(allowed)})")
    return values


def validate_row(row: dict[str, str], require_name: bool = True) -> dict[str, Any]:
    """One CSV row -> clean fields; RegistryError names the field."""
    pid = (row.get("patient_id") or "").strip()
    if not pid:
        raise RegistryError("patient_id: required")
    if len(pid) > 80 or any(c.isspace() or not c.isprintable() for c in pid):
        raise RegistryError(f"patient_id: at most 80 characters, no spaces: {pid[:40]!r}")
    name = " ".join((row.get("full_name") or "").split())
    if not name and require_name:
        raise RegistryError("full_name: required")
    if len(name) > 300:
        raise RegistryError("full_name: longer than 300 characters")
    purposes = _choices(row, "purposes", "purpose", PURPOSES)
    channels = _choices(row, "channels", "channel", REGISTRY_CHANNELS)
    signed = parse_date(row.get("signed_on"), "signed_on", required=True)
    assert signed is not None
    expires = parse_date(row.get("expires_on"), "expires_on")
    revoked = parse_date(row.get("revoked_on"), "revoked_on")
    if expires and expires <= signed:
        raise RegistryError(f"expires_on: {expires} is not after signed_on {signed}")
    if revoked and revoked < signed:
        raise RegistryError(f"revoked_on: {revoked} is before signed_on {signed}")
    handles = list(dict.fromkeys(_handle(h) for h in split_list(row.get("social_handles"))))
    return {"patient_id": pid, "full_name": name, "aliases": split_list(row.get("aliases")),
            "social_handles": handles, "purposes": purposes, "channels": channels, "signed_on": signed,
            "expires_on": expires, "revoked_on": revoked, "photo": (row.get("photo") or "").strip()}


def authorization_id(patient_id: str, signed_on: date) -> str:
    return f"{patient_id}/{signed_on.isoformat()}"


@dataclass
class _Row:
    line: int
    fields: dict[str, Any]
    photo: Path | None

    def where(self, name: str) -> str:
        return f"{name} line {self.line} (row {self.line - 1})"


def parse_csv(path: Path) -> list[_Row]:
    """Read and validate the whole file; RegistryError names the line, row and field of the first problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RegistryError(f"{path}: no such file") from None
    except OSError as exc:
        raise RegistryError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path.name}: not valid UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise RegistryError(f"{path.name} line 1: not valid CSV ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RegistryError(f"{path.name} line 1: missing column(s) {', '.join(missing)} "
                            f"(header: {','.join(CSV_COLUMNS)})")
    rows: list[_Row] = []
    first_line: dict[tuple[str, date], int] = {}
    names: dict[str, tuple[str, int]] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            row = _Row(line, {}, None)
            if len(values) != len(header):
                raise RegistryError(f"{row.where(path.name)}: {len(values)} fields, the header has {len(header)}")
            try:  # csv_uncell: a cell `registry export` protected from spreadsheets reads as it was
                clean = validate_row(dict(zip(header, map(csv_uncell, values), strict=True)))
            except RegistryError as exc:
                raise RegistryError(f"{row.where(path.name)}: {exc}") from None
            pid, signed = clean["patient_id"], clean["signed_on"]
            if (pid, signed) in first_line:
                raise RegistryError(f"{row.where(path.name)}: signed_on: patient_id {pid!r} already has an "
                                    f"authorization signed on {signed} (line {first_line[pid, signed]})")
            first_line[pid, signed] = line
            prior = names.setdefault(pid, (clean["full_name"], line))
            if prior[0] != clean["full_name"]:
                raise RegistryError(f"{row.where(path.name)}: full_name: differs from line {prior[1]} for the "
                                    f"same patient_id {pid!r}")
            photo = clean.pop("photo")
            if photo:
                row.photo = (path.parent / photo).resolve()
                if not row.photo.is_file():
                    raise RegistryError(f"{row.where(path.name)}: photo: no such file {photo!r} (paths are "
                                        "relative to the CSV)")
            row.fields = clean
            rows.append(row)
    except csv.Error as exc:
        raise RegistryError(f"{path.name} line {reader.line_num}: not valid CSV ({exc})") from None
    return rows


# ----------------------------------------------------------------------------------------------
# Schema upgrade (one row per patient -> patients + authorizations) and the encryption key check
# ----------------------------------------------------------------------------------------------
_SCHEMA_CHECKED: set[str] = set()
_SCHEMA_LOCK = threading.Lock()


def ensure_schema(store: Store) -> None:
    """Move data from the first registry layout (registry_authorizations/registry_faces) once."""
    if store.url in _SCHEMA_CHECKED:
        return
    with _SCHEMA_LOCK:
        tables = set(inspect(store.engine).get_table_names())
        if "registry_authorizations" in tables:
            cols = {c["name"] for c in inspect(store.engine).get_columns("registry_authorizations")}
            if "full_name" in cols:
                _migrate_v1(store, "registry_faces" in tables)
        _SCHEMA_CHECKED.add(store.url)


def _as_date(v: Any) -> date | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _as_list(v: Any) -> list[str]:
    return list(json.loads(v)) if isinstance(v, str) else list(v or [])


def _migrate_v1(store: Store, has_faces: bool) -> None:
    with store.session() as s:
        old = s.execute(text("SELECT patient_id, full_name, aliases, social_handles, purposes, channels, signed_on, "
                             "expires_on, revoked_on, revoke_reason FROM registry_authorizations")).all()
        faces = s.execute(text("SELECT patient_id, photo_enc, encoding_enc FROM registry_faces")).all() \
            if has_faces else []
        known = set(s.scalars(select(Patient.patient_id)))
        moved = 0
        for r in old:
            if r[0] in known:
                continue
            signed = _as_date(r[6]) or date.today()
            s.add(Patient(patient_id=r[0], full_name=r[1], aliases=_as_list(r[2]), social_handles=_as_list(r[3])))
            s.flush()
            s.add(Authorization(authorization_id=authorization_id(r[0], signed), patient_id=r[0],
                                purposes=_as_list(r[4]), channels=_as_list(r[5]), signed_on=signed,
                                expires_on=_as_date(r[7]), revoked_on=_as_date(r[8]), revoke_reason=r[9]))
            moved += 1
        s.flush()
        for f in faces:
            s.add(FaceRecord(patient_id=f[0], source="enroll", photo_enc=f[1], encoding_enc=f[2]))
        if has_faces:
            s.execute(text("DROP TABLE registry_faces"))
        s.execute(text("DROP TABLE registry_authorizations"))
        audit.record(store, "system", "registry.migrate", "registry",
                     {"authorizations": moved, "photos": len(faces)}, session=s)


def open_vault(s: Session, create: bool) -> Vault:
    """The registry's vault, checked against the key-check token stored with the data.

    A wrong key fails here (not later as an empty match); no new key is minted while encrypted
    photos exist; with `create`, the first use stores the key-check token."""
    from ..core.crypto import KeyError_, Vault, key_source

    check = s.get(RegistryMeta, "key_check")
    photos = s.execute(select(func.count()).select_from(FaceRecord)).scalar() or 0
    has_data = check is not None or photos > 0
    try:
        vault = Vault(create=create and not has_data)
    except KeyError_ as exc:
        if has_data:
            raise KeyError_(f"{exc}; the registry holds {photos} encrypted photo(s) that need that key") from None
        raise
    if check is not None:
        if vault.decrypt(check.value) != KEY_CHECK:
            raise KeyError_(f"the encryption key ({key_source()}) does not match the registry's key check")
    elif photos:
        blob = s.execute(select(FaceRecord.encoding_enc).limit(1)).scalar_one()
        vault.decrypt(blob)  # KeyError_ when wrong
    if check is None and create:
        s.add(RegistryMeta(name="key_check", value=vault.encrypt(KEY_CHECK)))
    return vault


# ----------------------------------------------------------------------------------------------
class Registry:
    """In-memory index over the stored authorizations, for fast matching and checks in every scan."""

    def __init__(self, store: Store):
        self.store = store
        self._faces: tuple[list[str], np.ndarray, np.ndarray, np.ndarray] | None = None
        self._faces_lock = threading.Lock()
        ensure_schema(store)
        self.reload()

    # -- loading ---------------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read every record (after an import, a revocation, an enrolled photo)."""
        records = load_records(self.store)
        index = NameIndex((r.patient_id, r.full_name, r.aliases, r.social_handles) for r in records.values())
        self.records, self._index, self._faces = records, index, None

    def get(self, patient_id: str) -> PatientRecord | None:
        return self.records.get(patient_id)

    def __len__(self) -> int:
        return len(self.records)

    # -- matching in text ------------------------------------------------------------------------
    def find_in_text(self, text: str) -> list[PersonMatch]:
        """Registry patients named in `text` (see `registry.names`); patient_ids > 1 means ambiguous."""
        return self._index.find_in_text(text)

    def find_in_filename(self, filename: str) -> list[PersonMatch]:
        return self._index.find_in_filename(filename)

    def client_in_filename(self, filename: str, text: str, others: set[str]) -> bool:
        """The file name carries the first name of a client the text names in full, by name, alias or handle
        ("camila_m8_before_after.jpg" under a post tagging @camiglowsatx), and no other first name from `others`
        (the people the text names: "whitney_and_lena" pictures Lena too). The text's authorization check then
        covers the picture: a marketing item with images needs her before_after_photos consent."""
        ids = {pid for m in self.find_in_text(text) if m.matched_by in FULL_MATCHES for pid in m.patient_ids}
        tokens = {fold(t) for t in FILE_TOKEN_RE.findall(filename.rsplit(".", 1)[0])}
        records = [rec for pid in sorted(ids) if (rec := self.get(pid))]
        firsts = {fold(n.split()[0]) for rec in records for n in (rec.full_name, *rec.aliases) if n.split()}
        return bool(tokens & firsts) and not tokens & ({fold(o) for o in others} - firsts)

    # -- authorization ---------------------------------------------------------------------------
    def check(self, patient_ids: Sequence[str], purposes: set[str], channel: str, as_of: date) -> AuthDecision:
        """Whether the patient's authorizations, as of `as_of`, cover every purpose on `channel`.

        Each purpose must be covered by an authorization in force (signed_on <= as_of < expires_on,
        not revoked on or before as_of) that lists it and lists the channel or `all`. Several
        authorizations may together cover several purposes. No purposes counts as name_in_marketing."""
        if isinstance(as_of, datetime):
            as_of = as_of.date()
        ids = list(dict.fromkeys(patient_ids))
        if len(ids) > 1:
            return AuthDecision(False, "ambiguous", None, None,
                                f"matches {len(ids)} registry records ({', '.join(ids)}); a reviewer must confirm who "
                                "is meant")
        rec = self.records.get(ids[0]) if ids else None
        if rec is None or not rec.authorizations:
            return AuthDecision(False, "no_record", ids[0] if ids else None, None, "no authorization on file")
        need = sorted(set(purposes) or {"name_in_marketing"})
        auths = rec.authorizations
        valid = [a for a in auths if a.in_force(as_of)]
        whole = next((a for a in valid if all(a.covers(p, channel) for p in need)), None)
        if whole is not None:
            return AuthDecision(True, "authorized", rec.patient_id, whole.authorization_id, whole.describe())
        cover = {p: next((a for a in valid if a.covers(p, channel)), None) for p in need}
        if all(cover.values()):
            used = list(dict.fromkeys(a.authorization_id for a in cover.values() if a is not None))
            detail = "; ".join(f"{a.authorization_id} {a.describe()}" for a in dict.fromkeys(cover.values()) if a)
            return AuthDecision(True, "authorized", rec.patient_id, "+".join(used), detail)
        missing = [p for p in need if cover[p] is None]
        first = missing[0]
        # explain with the authorization that applied most recently (a future one only if none did)
        lapsed = sorted((a for a in auths if a.covers(first, channel) and not a.in_force(as_of)),
                        key=lambda a: (a.signed_on > as_of, -a.signed_on.toordinal()))
        if lapsed or not valid:
            a = (lapsed or sorted(auths, key=lambda a: (a.signed_on > as_of, -a.signed_on.toordinal())))[0]
            status = a.status(as_of)
            why = {"revoked": f"revoked on {a.revoked_on}", "expired": f"expired on {a.expires_on}",
                   "not_yet_valid": f"signed on {a.signed_on}, after {as_of}"}[status]
            return AuthDecision(False, status, rec.patient_id, a.authorization_id,
                                f"{why}; it {a.describe()}; needs {', '.join(missing)} on {channel}")
        other = next((a for a in valid if first in a.purposes), None)
        if other is not None:
            return AuthDecision(False, "wrong_channel", rec.patient_id, other.authorization_id,
                                f"{other.describe()}; not {channel}")
        return AuthDecision(False, "missing_purpose", rec.patient_id, valid[0].authorization_id,
                            f"{valid[0].describe()}; needs {', '.join(missing)}")

    # -- changes (all audit-logged in the same transaction) ---------------------------------------
    @staticmethod
    def import_csv(store: Store, path: str | Path, actor: str = "cli", reason: str = "") -> dict[str, int]:
        """Upsert every row, all or nothing; RegistryError names the line and field of the first bad row.

        Rows of one patient_id are that patient's complete set of authorizations (one per signed_on):
        listed ones are added or updated, unlisted ones removed. A revocation already recorded is
        kept even if the file leaves revoked_on empty (a new signature needs a new signed_on)."""
        path = Path(path)
        rows = parse_csv(path)
        ensure_schema(store)
        photos = _encode_import_photos(store, path, rows)
        stats = {"rows": len(rows), "patients": 0, "inserted": 0, "updated": 0, "unchanged": 0, "removed": 0,
                 "revocations_kept": 0, "photos": len(photos)}
        by_patient: dict[str, list[_Row]] = {}
        for r in rows:
            by_patient.setdefault(r.fields["patient_id"], []).append(r)
        stats["patients"] = len(by_patient)
        changed: list[str] = []
        now = utcnow()
        with store.session(immediate=True) as s:  # a parallel import waits, then upserts over this one
            pids = list(by_patient)
            old_patients: dict[str, Patient] = {}
            old_grants: dict[str, list[Authorization]] = {}
            for chunk in (pids[i:i + 500] for i in range(0, len(pids), 500)):
                old_patients.update({p.patient_id: p for p in s.scalars(select(Patient).where(
                    Patient.patient_id.in_(chunk)))})
                for og in s.scalars(select(Authorization).where(Authorization.patient_id.in_(chunk))):
                    old_grants.setdefault(og.patient_id, []).append(og)
            new_patients: list[dict[str, Any]] = []
            new_grants: list[dict[str, Any]] = []
            for pid, prow in by_patient.items():
                f0 = prow[0].fields
                aliases = list(dict.fromkeys(a for r in prow for a in r.fields["aliases"]))
                handles = list(dict.fromkeys(h for r in prow for h in r.fields["social_handles"]))
                person = {"patient_id": pid, "full_name": f0["full_name"], "aliases": aliases,
                          "social_handles": handles}
                old = old_patients.get(pid)
                renamed = False
                if old is None:
                    new_patients.append({**person, "updated_at": now})
                elif (old.full_name, old.aliases, old.social_handles) != (f0["full_name"], aliases, handles):
                    old.full_name, old.aliases, old.social_handles, old.updated_at = \
                        f0["full_name"], aliases, handles, now
                    renamed = True
                existing = {g.authorization_id: g for g in old_grants.get(pid, [])}
                touched = renamed
                for r in prow:
                    f = r.fields
                    aid = authorization_id(pid, f["signed_on"])
                    grant = {"purposes": f["purposes"], "channels": f["channels"], "signed_on": f["signed_on"],
                             "expires_on": f["expires_on"], "revoked_on": f["revoked_on"]}
                    g = existing.pop(aid) if aid in existing else None
                    if g is None:
                        new_grants.append({**grant, "authorization_id": aid, "patient_id": pid, "updated_at": now,
                                           "revoke_reason": "revoked_on in the imported file" if f["revoked_on"]
                                           else None})
                        stats["inserted"] += 1
                        touched = True
                        continue
                    if g.revoked_on and (not f["revoked_on"] or f["revoked_on"] > g.revoked_on):
                        grant["revoked_on"] = g.revoked_on  # a revocation is never undone by an import
                        stats["revocations_kept"] += f["revoked_on"] is None
                    current = {k: getattr(g, k) for k in grant}
                    if current == grant and not renamed:
                        stats["unchanged"] += 1
                        continue
                    for k, v in grant.items():
                        setattr(g, k, v)
                    if grant["revoked_on"] and not g.revoke_reason:
                        g.revoke_reason = "revoked_on in the imported file"
                    g.updated_at = now
                    stats["updated"] += 1
                    touched = True
                for gone in existing.values():
                    s.delete(gone)
                    stats["removed"] += 1
                    touched = True
                if touched or pid in photos:
                    changed.append(pid)
            if new_patients:
                s.execute(insert(Patient), new_patients)
            s.flush()
            if new_grants:
                s.execute(insert(Authorization), new_grants)
            if photos:
                vault = open_vault(s, create=True)
                for pid, (fingerprint, photo_bytes, enc) in photos.items():
                    s.execute(delete(FaceRecord).where(FaceRecord.patient_id == pid, FaceRecord.source == "import"))
                    s.add(FaceRecord(patient_id=pid, source="import", fingerprint=fingerprint,
                                     photo_enc=vault.encrypt(photo_bytes), encoding_enc=vault.encrypt(enc.tobytes())))
            audit.record(store, actor, "registry.import", path.name[:200], {
                **stats, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "changed": changed[:MAX_CHANGED_IDS], "changed_more": max(0, len(changed) - MAX_CHANGED_IDS),
                **({"reason": reason} if reason else {}),
            }, session=s)
        return stats

    @staticmethod
    def add(store: Store, fields: dict[str, str], actor: str, reason: str = "") -> str:
        """Add one authorization (a new patient, or another signed authorization of a known one);
        returns its authorization id."""
        clean = validate_row(fields, require_name=False)
        clean.pop("photo", None)
        ensure_schema(store)
        pid, aid = clean["patient_id"], authorization_id(clean["patient_id"], clean["signed_on"])
        with store.session(immediate=True) as s:
            person = s.get(Patient, pid)
            if person is None:
                if not clean["full_name"]:
                    raise RegistryError("full_name: required for a new patient (--name)")
                s.add(Patient(patient_id=pid, full_name=clean["full_name"], aliases=clean["aliases"],
                              social_handles=clean["social_handles"]))
                s.flush()
            else:
                if clean["full_name"] and clean["full_name"] != person.full_name:
                    raise RegistryError(f"full_name: patient {pid!r} is on file under another name (use import to "
                                        "change names)")
                aliases = list(dict.fromkeys([*person.aliases, *clean["aliases"]]))
                handles = list(dict.fromkeys([*person.social_handles, *clean["social_handles"]]))
                if (aliases, handles) != (person.aliases, person.social_handles):
                    person.aliases, person.social_handles = aliases, handles
            if s.scalar(select(Authorization.id).where(Authorization.authorization_id == aid)) is not None:
                raise RegistryError(f"signed_on: {pid!r} already has an authorization signed on "
                                    f"{clean['signed_on']} ({aid}); use import to change it")
            s.add(Authorization(authorization_id=aid, patient_id=pid, purposes=clean["purposes"],
                                channels=clean["channels"], signed_on=clean["signed_on"],
                                expires_on=clean["expires_on"], revoked_on=clean["revoked_on"]))
            audit.record(store, actor, "registry.add", pid, {
                "authorization_id": aid, "purposes": clean["purposes"], "channels": clean["channels"],
                "signed_on": clean["signed_on"], "expires_on": clean["expires_on"], "reason": reason}, session=s)
        return aid

    @staticmethod
    def revoke(store: Store, patient_id: str, on: date, reason: str, actor: str,
               authorization: str | None = None) -> list[str]:
        """Revoke the patient's authorizations (or one of them) as of `on`; returns the ids revoked."""
        if not reason.strip():
            raise RegistryError("--reason: required (why the authorization is revoked)")
        ensure_schema(store)
        with store.session(immediate=True) as s:
            if s.get(Patient, patient_id) is None:
                raise RegistryError(f"no registry record {patient_id!r}")
            q = select(Authorization).where(Authorization.patient_id == patient_id)
            if authorization:
                q = q.where(Authorization.authorization_id == authorization)
            grants = list(s.scalars(q))
            if authorization and not grants:
                raise RegistryError(f"--authorization: {patient_id!r} has no authorization {authorization!r}")
            todo = [g for g in grants if g.revoked_on is None or g.revoked_on > on]
            if not todo:
                raise RegistryError(f"{patient_id!r}: already revoked on or before {on}")
            for g in todo:
                g.revoked_on, g.revoke_reason = on, reason.strip()
            ids = [g.authorization_id for g in todo]
            audit.record(store, actor, "registry.revoke", patient_id,
                         {"on": on.isoformat(), "reason": reason.strip(), "authorizations": ids}, session=s)
        return ids

    @staticmethod
    def all_records(store: Store) -> list[AuthRecord]:
        """Every authorization (one per row, patient names included), by patient id then signing date."""
        ensure_schema(store)
        out = [a for rec in load_records(store).values() for a in reversed(rec.authorizations)]
        return sorted(out, key=lambda a: (a.patient_id, a.signed_on))

    @staticmethod
    def photo_counts(store: Store) -> dict[str, int]:
        """Enrolled reference photos per patient (no decryption needed)."""
        with store.session() as s:
            rows = s.execute(select(FaceRecord.patient_id, func.count()).group_by(FaceRecord.patient_id)).all()
        return {r[0]: int(r[1]) for r in rows}

    # -- faces -----------------------------------------------------------------------------------
    def enroll_face(self, patient_id: str, image_path: Path, actor: str, reason: str = "") -> int:
        """Store a reference photo (encrypted) and its face encoding; exactly one face must be visible."""
        with self.store.session() as s:
            if s.get(Patient, patient_id) is None:
                raise RegistryError(f"no registry record {patient_id!r}")
            open_vault(s, create=True)  # a key problem shows before the slow face encoding
        photo_bytes, enc = encode_single_face(Path(image_path))
        with self.store.session() as s:
            vault = open_vault(s, create=True)
            rec = FaceRecord(patient_id=patient_id, source="enroll", fingerprint=vault.fingerprint(photo_bytes),
                             photo_enc=vault.encrypt(photo_bytes), encoding_enc=vault.encrypt(enc.tobytes()))
            s.add(rec)
            s.flush()
            rid = rec.id
            audit.record(self.store, actor, "registry.enroll", patient_id,
                         {"face_record": rid, **({"reason": reason} if reason else {})}, session=s)
        self._faces = None
        return rid

    def face_encodings(self) -> tuple[list[str], np.ndarray]:
        """Decrypted encodings of every enrolled face (patient ids, N x 128 matrix); cached until reload."""
        ids, mat, _codes, _norms = self._face_matrix()
        return ids, mat

    def _face_matrix(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np

        with self._faces_lock:
            if self._faces is None:
                with self.store.session() as s:
                    rows = s.execute(select(FaceRecord.patient_id, FaceRecord.encoding_enc)
                                     .order_by(FaceRecord.id)).all()
                    if not rows:
                        self._faces = ([], np.zeros((0, 128)), np.zeros(0, dtype=np.int64), np.zeros(0))
                        return self._faces
                    vault = open_vault(s, create=False)
                ids = [r[0] for r in rows]
                mat = np.vstack([np.frombuffer(vault.decrypt(r[1]), dtype=np.float64) for r in rows])
                codes = {pid: n for n, pid in enumerate(dict.fromkeys(ids))}
                self._faces = (ids, mat, np.array([codes[p] for p in ids], dtype=np.int64),
                               np.einsum("ij,ij->i", mat, mat))
            return self._faces

    def decrypt_photo(self, face_record_id: int) -> bytes:
        with self.store.session() as s:
            rec = s.get(FaceRecord, face_record_id)
            if rec is None:
                raise RegistryError(f"no face record {face_record_id}")
            blob = rec.photo_enc
            vault = open_vault(s, create=False)
        return vault.decrypt(blob)

    def match_face(self, encoding: np.ndarray, tolerance: float = 0.5, margin: float = 0.05) -> FaceMatch | None:
        """The enrolled patient nearest to `encoding` (None when nobody is enrolled).

        patient_id is None when the best distance exceeds `tolerance`; `ambiguous` when another
        patient is within `margin` of the best (then it is never authorized)."""
        import numpy as np

        ids, mat, codes, norms = self._face_matrix()
        if not ids:
            return None
        e = np.asarray(encoding, dtype=np.float64).reshape(-1)
        if e.shape[0] != mat.shape[1]:
            raise ValueError(f"face encoding has {e.shape[0]} values, expected {mat.shape[1]}")
        # |m - e|^2 = |m|^2 - 2 m.e + |e|^2; einsum, not BLAS: steady under load (no thread pool)
        dist = np.sqrt(np.maximum(norms - 2.0 * np.einsum("ij,j->i", mat, e) + float(np.dot(e, e)), 0.0))
        best = int(np.argmin(dist))
        d1 = float(dist[best])
        others = dist[codes != codes[best]]
        d2 = float(others.min()) if others.size else None
        if d1 > tolerance:
            return FaceMatch(None, d1, False, d2)
        return FaceMatch(ids[best], d1, d2 is not None and d2 - d1 < margin, d2)


def load_records(store: Store) -> dict[str, PatientRecord]:
    """Every patient with their authorizations (newest signed first), read with two plain queries."""
    with store.session() as s:
        people = s.execute(select(Patient.patient_id, Patient.full_name, Patient.aliases, Patient.social_handles,
                                  Patient.updated_at)).all()
        grants = s.execute(select(Authorization.authorization_id, Authorization.patient_id, Authorization.purposes,
                                  Authorization.channels, Authorization.signed_on, Authorization.expires_on,
                                  Authorization.revoked_on, Authorization.revoke_reason, Authorization.updated_at)
                           .order_by(Authorization.patient_id, Authorization.signed_on.desc())).all()
    names = {p[0]: (p[1], tuple(p[2] or ()), tuple(p[3] or ()), p[4]) for p in people}
    by_pid: dict[str, list[AuthRecord]] = {}
    for g in grants:
        n = names.get(g[1])
        if n is None:
            continue
        by_pid.setdefault(g[1], []).append(AuthRecord(g[0], g[1], n[0], n[1], n[2], tuple(g[2] or ()),
                                                      tuple(g[3] or ()), g[4], g[5], g[6], g[7], g[8]))
    out = {}
    for pid, (full, aliases, handles, updated) in names.items():
        auths = tuple(by_pid.get(pid, ()))
        out[pid] = PatientRecord(pid, full, aliases, handles, auths,
                                 max([updated, *(a.updated_at for a in auths)]))
    return out


def _encode_import_photos(store: Store, csv_path: Path, rows: Iterable[_Row]) -> dict[str, tuple[str, bytes, Any]]:
    """patient_id -> (fingerprint, photo bytes, encoding) for photos that are new or changed; errors name
    the CSV line. Runs before the import's transaction so a bad photo stops the import before any write."""
    wanted = [r for r in rows if r.photo is not None]
    if not wanted:
        return {}
    ensure_schema(store)
    with store.session() as s:
        vault = open_vault(s, create=True)
        known = {(r[0], r[1]) for r in s.execute(select(FaceRecord.patient_id, FaceRecord.fingerprint)
                                                .where(FaceRecord.source == "import"))}
    out: dict[str, tuple[str, bytes, Any]] = {}
    for r in wanted:
        assert r.photo is not None
        pid = r.fields["patient_id"]
        try:
            data = r.photo.read_bytes()
        except OSError as exc:
            raise RegistryError(f"{r.where(csv_path.name)}: photo: cannot be read ({exc.strerror})") from None
        fp = vault.fingerprint(data)
        if (pid, fp) in known or (pid in out and out[pid][0] == fp):
            continue
        try:
            _raw, enc = encode_single_face(r.photo, data)
        except RegistryError as exc:
            raise RegistryError(f"{r.where(csv_path.name)}: {exc}") from None
        out[pid] = (fp, data, enc)
    return out


def encode_single_face(path: Path, data: bytes | None = None) -> tuple[bytes, np.ndarray]:
    """(original file bytes, the one face's 128-d encoding, float64); RegistryError unless exactly one
    face is found. EXIF orientation is applied first (phone photos are often stored rotated)."""
    import face_recognition
    import numpy as np

    from ..image.load import ImageError, load

    name = Path(path).name
    try:
        raw = data if data is not None else Path(path).read_bytes()
        upright = load(path, raw).image  # the scan's safe loader: size, pixel and decoded-memory limits
        upright.thumbnail((1600, 1600))
        arr = np.asarray(upright)
    except FileNotFoundError:
        raise RegistryError(f"photo: no such file {name!r}") from None
    except IsADirectoryError:
        raise RegistryError(f"photo {name!r}: not a regular file") from None
    except ImageError as exc:
        raise RegistryError(f"photo {name!r}: not a readable image ({exc})") from None
    boxes = face_recognition.face_locations(arr, number_of_times_to_upsample=1, model="hog")
    if not boxes:
        raise RegistryError(f"photo {name!r}: no face found; use a clear, front-facing photo of the patient alone")
    if len(boxes) > 1:
        raise RegistryError(f"photo {name!r}: {len(boxes)} faces found; crop it to the patient alone")
    enc = face_recognition.face_encodings(arr, known_face_locations=boxes)[0]
    return raw, np.asarray(enc, dtype=np.float64)
