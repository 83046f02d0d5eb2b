"""The authorization registry: who agreed to what marketing use, on which channels, until when.

Storage on the shared store (one authorization row per patient, upserted by patient_id); reference
photos and face encodings encrypted at rest (crypto.py). Matching people in text (names, aliases,
nicknames, handles, first name + last initial, possessives, small typos), in image file names and
in face encodings. Every change is audit-logged.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from . import audit
from ._models import CHANNELS
from .store import Base, Store, utcnow

PURPOSES = ("testimonial", "before_after_photos", "name_in_marketing", "case_study")
REGISTRY_CHANNELS = (*CHANNELS, "print", "all")
CSV_COLUMNS = ("patient_id", "full_name", "aliases", "social_handles", "purposes", "channels", "signed_on",
               "expires_on", "revoked_on", "photo")
COMMON_WORDS = {"grace", "hope", "joy", "faith", "summer", "autumn", "april", "may", "june", "dawn", "star", "rose",
                "ivy", "amber", "crystal", "destiny", "honey", "sunny", "will", "mark", "bill", "pat", "art", "rich",
                "glow", "bella", "luna"}
TOKEN_RE = re.compile(r"@?[\w][\w.'’-]*", re.UNICODE)


class RegistryError(ValueError):
    """Bad registry input (a CSV row, a date, an unknown purpose or channel); the message says where."""


class Authorization(Base):
    __tablename__ = "registry_authorizations"
    patient_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(300))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    social_handles: Mapped[list[str]] = mapped_column(JSON, default=list)
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    signed_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoked_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def authorization_id(self) -> str:
        return f"{self.patient_id}/{self.signed_on.isoformat()}"

    def status(self, as_of: date, within_days: int = 30) -> str:
        if self.revoked_on and self.revoked_on <= as_of:
            return "revoked"
        if as_of < self.signed_on:
            return "not_yet_valid"
        if self.expires_on and as_of >= self.expires_on:
            return "expired"
        if self.expires_on and (self.expires_on - as_of).days <= within_days:
            return "expiring"
        return "valid"

    def as_row(self) -> dict[str, str]:
        return {
            "patient_id": self.patient_id, "full_name": self.full_name, "aliases": ";".join(self.aliases),
            "social_handles": ";".join(self.social_handles), "purposes": ";".join(self.purposes),
            "channels": ";".join(self.channels), "signed_on": self.signed_on.isoformat(),
            "expires_on": self.expires_on.isoformat() if self.expires_on else "",
            "revoked_on": self.revoked_on.isoformat() if self.revoked_on else "", "photo": "",
        }


class FaceRecord(Base):
    __tablename__ = "registry_faces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("registry_authorizations.patient_id"), index=True)
    photo_enc: Mapped[bytes] = mapped_column(LargeBinary)
    encoding_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


@dataclass(frozen=True)
class PersonMatch:
    start: int
    end: int
    text: str
    patient_ids: tuple[str, ...]
    matched_by: str
    score: float


@dataclass(frozen=True)
class AuthDecision:
    ok: bool
    status: str
    patient_id: str | None
    authorization_id: str | None
    detail: str


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
    return [v.strip() for v in (value or "").split(";") if v.strip()]


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


def validate_row(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row -> clean fields; RegistryError names the field."""
    pid = (row.get("patient_id") or "").strip()
    if not pid:
        raise RegistryError("patient_id: required")
    name = (row.get("full_name") or "").strip()
    if not name:
        raise RegistryError("full_name: required")
    purposes = [p.lower() for p in split_list(row.get("purposes"))]
    bad = [p for p in purposes if p not in PURPOSES]
    if bad:
        raise RegistryError(f"purposes: unknown purpose {bad[0]!r} (expected {', '.join(PURPOSES)})")
    channels = [c.lower() for c in split_list(row.get("channels"))]
    bad = [c for c in channels if c not in REGISTRY_CHANNELS]
    if bad:
        raise RegistryError(f"channels: unknown channel {bad[0]!r} (expected {', '.join(REGISTRY_CHANNELS)})")
    signed = parse_date(row.get("signed_on"), "signed_on", required=True)
    expires = parse_date(row.get("expires_on"), "expires_on")
    revoked = parse_date(row.get("revoked_on"), "revoked_on")
    assert signed is not None
    if expires and expires <= signed:
        raise RegistryError("expires_on: must be after signed_on")
    handles = [h if h.startswith("@") else f"@{h}" for h in split_list(row.get("social_handles"))]
    return {"patient_id": pid, "full_name": name, "aliases": split_list(row.get("aliases")),
            "social_handles": handles, "purposes": purposes, "channels": channels, "signed_on": signed,
            "expires_on": expires, "revoked_on": revoked, "photo": (row.get("photo") or "").strip()}


def _norm(s: str) -> str:
    s = s.lower().replace("’", "'")
    s = re.sub(r"'s$", "", s)
    return s.strip(".,!?;:'\"()")


def _edits1(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))} | {word}


# ----------------------------------------------------------------------------------------------
class Registry:
    """In-memory index over the stored authorizations, for fast matching in every scan."""

    def __init__(self, store: Store):
        self.store = store
        self._faces: tuple[list[str], np.ndarray] | None = None
        self.reload()

    # -- loading ---------------------------------------------------------------------------------
    def reload(self) -> None:
        with self.store.session() as s:
            rows = list(s.execute(select(Authorization)).scalars())
            s.expunge_all()
        self.records: dict[str, Authorization] = {r.patient_id: r for r in rows}
        phrases: dict[tuple[str, ...], set[str]] = {}
        kinds: dict[tuple[str, ...], str] = {}
        firsts: dict[str, set[str]] = {}
        handles: dict[str, set[str]] = {}
        fuzzy_last: dict[str, set[tuple[str, str]]] = {}

        def put(tokens: tuple[str, ...], pid: str, kind: str) -> None:
            phrases.setdefault(tokens, set()).add(pid)
            kinds.setdefault(tokens, kind)

        for r in rows:
            names = [r.full_name, *r.aliases]
            for i, n in enumerate(names):
                toks = tuple(_norm(t) for t in n.split() if _norm(t))
                if not toks:
                    continue
                put(toks, r.patient_id, "full_name" if i == 0 else "alias")
                if len(toks) >= 2:
                    put((toks[0], toks[-1][0]), r.patient_id, "first_last_initial")
                    if len(toks[-1]) >= 5:
                        for d in _edits1(toks[-1]):
                            fuzzy_last.setdefault(d, set()).add((toks[0], r.patient_id))
                if len(toks[0]) >= 3 and toks[0] not in COMMON_WORDS:
                    firsts.setdefault(toks[0], set()).add(r.patient_id)
            for h in r.social_handles:
                handles.setdefault(h.lower().lstrip("@").rstrip("."), set()).add(r.patient_id)
        self._phrases = phrases
        self._kinds = kinds
        self._firsts = firsts
        self._handles = handles
        self._fuzzy_last = fuzzy_last
        self._max_len = max((len(k) for k in phrases), default=1)
        self._faces = None

    def get(self, patient_id: str) -> Authorization | None:
        return self.records.get(patient_id)

    def __len__(self) -> int:
        return len(self.records)

    # -- matching in text ------------------------------------------------------------------------
    def find_in_text(self, text: str) -> list[PersonMatch]:
        if not self.records:
            return []
        toks = [(m.start(), m.end(), m.group(0)) for m in TOKEN_RE.finditer(text)]
        out: list[PersonMatch] = []
        i = 0
        while i < len(toks):
            match = self._match_at(text, toks, i)
            if match is None:
                i += 1
                continue
            out.append(match[0])
            i += match[1]
        return out

    def _match_at(self, text: str, toks: list[tuple[int, int, str]], i: int) -> tuple[PersonMatch, int] | None:
        start, end, word = toks[i]
        if word.startswith("@"):
            handle = re.sub(r"['’]s$", "", word).rstrip(".")
            ids = self._handles.get(handle.lower().lstrip("@"))
            if ids:
                h_end = start + len(handle)
                return PersonMatch(start, h_end, text[start:h_end], tuple(sorted(ids)), "handle", 1.0), 1
            return None
        for n in range(min(self._max_len, len(toks) - i), 0, -1):
            window = toks[i:i + n]
            key = tuple(_norm(t[2]) for t in window)
            ids = self._phrases.get(key)
            if ids and (n > 1 or window[0][2][:1].isupper()):
                s, e = window[0][0], window[-1][1]
                if text[e - 1:e] in ".,!?;:" and not (n >= 2 and len(key[-1]) == 1):
                    e -= 1
                return PersonMatch(s, e, text[s:e], tuple(sorted(ids)), self._kinds[key], 1.0), n
        if i + 1 < len(toks) and word[:1].isupper() and toks[i + 1][2][:1].isupper():
            first, last = _norm(word), _norm(toks[i + 1][2])
            if len(last) >= 5:
                cands = {pid for d in _edits1(last) for f, pid in self._fuzzy_last.get(d, ())
                         if f == first or (len(first) >= 5 and _edit1(first, f))}
                if cands:
                    s, e = start, toks[i + 1][1]
                    return PersonMatch(s, e, text[s:e], tuple(sorted(cands)), "fuzzy", 0.9), 2
        if word[:1].isupper():
            ids = self._firsts.get(_norm(word))
            if ids:
                e = start + len(re.sub(r"['’]s$", "", word.rstrip(".,!?;:")))
                return PersonMatch(start, e, text[start:e], tuple(sorted(ids)), "first_name", 0.7), 1
        return None

    def find_in_filename(self, filename: str) -> list[PersonMatch]:
        stem = Path(filename).stem
        stem = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
        parts = [p.lower() for p in re.split(r"[\s_\-.]+", stem) if p]
        out = []
        for n in range(min(self._max_len, len(parts)), 1, -1):
            for i in range(len(parts) - n + 1):
                ids = self._phrases.get(tuple(parts[i:i + n]))
                if ids:
                    out.append(PersonMatch(0, 0, filename, tuple(sorted(ids)), "filename", 1.0))
                    return out
        for p in parts:
            ids = self._handles.get(p)
            if ids:
                return [PersonMatch(0, 0, filename, tuple(sorted(ids)), "filename", 1.0)]
        return out

    # -- authorization ---------------------------------------------------------------------------
    def check(self, patient_ids: Sequence[str], purposes: set[str], channel: str, as_of: date) -> AuthDecision:
        ids = list(dict.fromkeys(patient_ids))
        if len(ids) > 1:
            return AuthDecision(False, "ambiguous", None, None,
                                f"matches {len(ids)} registry records ({', '.join(ids)}); a reviewer must confirm")
        if not ids or ids[0] not in self.records:
            return AuthDecision(False, "no_record", ids[0] if ids else None, None, "no authorization on file")
        r = self.records[ids[0]]
        aid = r.authorization_id
        covers = f"covers {', '.join(r.purposes) or 'nothing'} on {', '.join(r.channels) or 'no channel'}"
        st = r.status(as_of)
        if st == "revoked":
            return AuthDecision(False, "revoked", r.patient_id, aid, f"revoked on {r.revoked_on}")
        if st == "not_yet_valid":
            return AuthDecision(False, "not_yet_valid", r.patient_id, aid, f"signed on {r.signed_on}, after {as_of}")
        if st == "expired":
            return AuthDecision(False, "expired", r.patient_id, aid, f"expired on {r.expires_on}")
        missing = sorted(set(purposes) - set(r.purposes))
        if missing:
            return AuthDecision(False, "missing_purpose", r.patient_id, aid, f"{covers}; needs {', '.join(missing)}")
        if "all" not in r.channels and channel not in r.channels:
            return AuthDecision(False, "wrong_channel", r.patient_id, aid, f"{covers}; not {channel}")
        return AuthDecision(True, "authorized", r.patient_id, aid, covers)

    # -- changes (all audit-logged) --------------------------------------------------------------
    @staticmethod
    def import_csv(store: Store, path: str | Path, actor: str = "cli") -> dict[str, int]:
        """Upsert every row, all or nothing; RegistryError names the line and field of the first bad row."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise RegistryError(f"{path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in CSV_COLUMNS if c not in header and c != "photo"]
        if missing:
            raise RegistryError(f"{path.name} line 1: missing column(s) {', '.join(missing)}")
        rows = []
        for lineno, raw in enumerate(reader, start=2):
            if None in raw:
                raise RegistryError(f"{path.name} line {lineno}: more fields than the header")
            raw = {(k or "").strip(): (v or "") for k, v in raw.items()}
            if not any(v.strip() for v in raw.values()):
                continue
            try:
                clean = validate_row(raw)
            except RegistryError as exc:
                raise RegistryError(f"{path.name} line {lineno} (row {lineno - 1}): {exc}") from None
            if clean["photo"]:
                photo = (path.parent / clean["photo"]).resolve()
                if not photo.is_file():
                    raise RegistryError(f"{path.name} line {lineno} (row {lineno - 1}): photo: no such file "
                                        f"{clean['photo']!r}")
                clean["photo"] = photo
            rows.append(clean)
        ids = [r["patient_id"] for r in rows]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup:
            raise RegistryError(f"{path.name}: patient_id {dup!r} appears more than once")
        faces = {r["patient_id"]: encode_single_face(r["photo"]) for r in rows if r["photo"]}
        inserted = updated = 0
        vault = None
        with store.session() as s:
            for r in rows:
                existing = s.get(Authorization, r["patient_id"])
                fields = {k: v for k, v in r.items() if k != "photo"}
                if existing is None:
                    s.add(Authorization(**fields))
                    inserted += 1
                else:
                    for k, v in fields.items():
                        setattr(existing, k, v)
                    updated += 1
            s.flush()
            if faces:
                from .crypto import Vault

                vault = Vault()
                for pid, (photo_bytes, enc) in faces.items():
                    s.execute(delete(FaceRecord).where(FaceRecord.patient_id == pid))
                    s.add(FaceRecord(patient_id=pid, photo_enc=vault.encrypt(photo_bytes),
                                     encoding_enc=vault.encrypt(enc.astype(np.float64).tobytes())))
        audit.record(store, actor, "registry.import", path.name,
                     {"rows": len(rows), "inserted": inserted, "updated": updated, "photos": len(faces)})
        return {"rows": len(rows), "inserted": inserted, "updated": updated, "photos": len(faces)}

    @staticmethod
    def add(store: Store, fields: dict[str, str], actor: str, reason: str = "") -> str:
        clean = validate_row(fields)
        clean.pop("photo", None)
        with store.session() as s:
            if s.get(Authorization, clean["patient_id"]) is not None:
                raise RegistryError(f"patient_id {clean['patient_id']!r} already exists (use import to update)")
            s.add(Authorization(**clean))
        audit.record(store, actor, "registry.add", clean["patient_id"], {"reason": reason})
        return clean["patient_id"]

    @staticmethod
    def revoke(store: Store, patient_id: str, on: date, reason: str, actor: str) -> None:
        if not reason.strip():
            raise RegistryError("--reason: required (why the authorization is revoked)")
        with store.session() as s:
            rec = s.get(Authorization, patient_id)
            if rec is None:
                raise RegistryError(f"no registry record {patient_id!r}")
            rec.revoked_on = on
            rec.revoke_reason = reason
        audit.record(store, actor, "registry.revoke", patient_id, {"on": on.isoformat(), "reason": reason})

    @staticmethod
    def all_records(store: Store) -> list[Authorization]:
        with store.session() as s:
            rows = list(s.execute(select(Authorization).order_by(Authorization.patient_id)).scalars())
            s.expunge_all()
        return rows

    # -- faces -----------------------------------------------------------------------------------
    def enroll_face(self, patient_id: str, image_path: Path, actor: str) -> int:
        from .crypto import Vault

        if patient_id not in self.records:
            raise RegistryError(f"no registry record {patient_id!r}")
        photo_bytes, enc = encode_single_face(Path(image_path))
        vault = Vault()
        with self.store.session() as s:
            rec = FaceRecord(patient_id=patient_id, photo_enc=vault.encrypt(photo_bytes),
                             encoding_enc=vault.encrypt(enc.astype(np.float64).tobytes()))
            s.add(rec)
            s.flush()
            rid = rec.id
        audit.record(self.store, actor, "registry.enroll", patient_id, {"face_record": rid})
        self._faces = None
        return rid

    def face_encodings(self) -> tuple[list[str], np.ndarray]:
        """Decrypted encodings of every enrolled face (patient ids, N x 128 matrix); cached."""
        if self._faces is None:
            with self.store.session() as s:
                rows = list(s.execute(select(FaceRecord.patient_id, FaceRecord.encoding_enc)))
            if not rows:
                self._faces = ([], np.zeros((0, 128)))
            else:
                from .crypto import Vault

                vault = Vault(create=False)
                ids = [r[0] for r in rows]
                mat = np.vstack([np.frombuffer(vault.decrypt(r[1]), dtype=np.float64) for r in rows])
                self._faces = (ids, mat)
        return self._faces

    def decrypt_photo(self, face_record_id: int) -> bytes:
        from .crypto import Vault

        with self.store.session() as s:
            rec = s.get(FaceRecord, face_record_id)
            if rec is None:
                raise RegistryError(f"no face record {face_record_id}")
            blob = rec.photo_enc
        return Vault(create=False).decrypt(blob)

    def match_face(self, encoding: np.ndarray, tolerance: float = 0.5, margin: float = 0.05) -> FaceMatch | None:
        ids, mat = self.face_encodings()
        if not ids:
            return None
        dist = np.linalg.norm(mat - np.asarray(encoding, dtype=np.float64), axis=1)
        order = np.argsort(dist)
        pid, d1 = ids[int(order[0])], float(dist[order[0]])
        d2 = next((float(dist[j]) for j in order[1:] if ids[int(j)] != pid), None)
        if d1 > tolerance:
            return FaceMatch(None, d1, False, d2)
        ambiguous = d2 is not None and d2 - d1 < margin
        return FaceMatch(pid, d1, ambiguous, d2)


def _edit1(a: str, b: str) -> bool:
    return bool(_edits1(a) & _edits1(b))


def encode_single_face(path: Path) -> tuple[bytes, np.ndarray]:
    """(original file bytes, the one face's encoding); RegistryError unless exactly one face is found."""
    import face_recognition
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        raw = Path(path).read_bytes()
        with Image.open(io.BytesIO(raw)) as opened:
            upright = ImageOps.exif_transpose(opened).convert("RGB")
            upright.thumbnail((1600, 1600))
            arr = np.asarray(upright)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise RegistryError(f"photo {Path(path).name}: not a readable image ({type(exc).__name__})") from None
    boxes = face_recognition.face_locations(arr, number_of_times_to_upsample=1, model="hog")
    if len(boxes) != 1:
        raise RegistryError(f"photo {Path(path).name}: expected exactly one face, found {len(boxes)}")
    enc = face_recognition.face_encodings(arr, known_face_locations=boxes)[0]
    return raw, enc
