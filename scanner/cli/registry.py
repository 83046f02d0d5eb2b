"""Commands `registry ...` (marketing authorizations, reference photos) and `audit ...` (the hash-chained log)."""
from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..core.store import Store

T = TypeVar("T")
STATUSES = ("valid", "expiring", "expired", "revoked", "not_yet_valid")


def _actor(args: argparse.Namespace) -> str:
    actor = getattr(args, "actor", None) or os.environ.get("USER")
    if not actor:
        try:
            actor = getpass.getuser()
        except (KeyError, OSError):
            actor = "cli"
    return actor


def _iso(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def _days(value: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([dw]?)", value.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a number of days like 30d (or weeks like 4w), got {value!r}")
    return int(m.group(1)) * (7 if m.group(2) == "w" else 1)


def _with_actor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--actor", default=argparse.SUPPRESS, help="who makes the change (audit log); default $USER")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("registry", help="marketing authorizations: import, list, revoke, enroll faces",
                       description="Written authorizations to use a patient's name, testimonial, story or photo.")
    p.add_argument("--actor", help="who makes the change (audit log); default $USER")
    rs = p.add_subparsers(dest="registry_command", required=True, metavar="SUBCOMMAND")
    imp = rs.add_parser("import", help="upsert authorizations from a CSV (all or nothing)")
    imp.add_argument("file")
    imp.add_argument("--reason", default="", help="why (audit log)")
    _with_actor(imp)
    imp.set_defaults(handler=cmd_import)
    ls = rs.add_parser("list", help="every authorization with its status")
    ls.add_argument("--as-of", type=_iso, default=None, help="status as of this date (default today)")
    ls.add_argument("--status", choices=STATUSES, action="append", help="only these statuses (repeatable)")
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(handler=cmd_list)
    sh = rs.add_parser("show", help="one patient's authorizations and enrolled photos")
    sh.add_argument("patient_id")
    sh.add_argument("--as-of", type=_iso, default=None)
    sh.add_argument("--format", choices=("text", "json"), default="text")
    sh.set_defaults(handler=cmd_show)
    add = rs.add_parser("add", help="add one authorization (a new patient or another signed form)")
    add.add_argument("patient_id")
    add.add_argument("--name", default="", help="full name (required for a new patient)")
    add.add_argument("--aliases", default="", help="';'-separated")
    add.add_argument("--handles", default="", help="';'-separated social handles")
    add.add_argument("--purposes", required=True, help="';'-separated: testimonial, before_after_photos, "
                     "name_in_marketing, case_study")
    add.add_argument("--channels", required=True, help="';'-separated, or all")
    add.add_argument("--signed-on", required=True, help="YYYY-MM-DD")
    add.add_argument("--expires-on", default="", help="YYYY-MM-DD (first day it no longer applies)")
    add.add_argument("--reason", default="", help="why (audit log)")
    _with_actor(add)
    add.set_defaults(handler=cmd_add)
    rv = rs.add_parser("revoke", help="revoke a patient's authorizations (or one) as of a date")
    rv.add_argument("patient_id")
    rv.add_argument("--on", type=_iso, default=None, help="YYYY-MM-DD (default today)")
    rv.add_argument("--reason", required=True, help="why (audit log)")
    rv.add_argument("--authorization", help="only this authorization id (e.g. P001/2023-03-14)")
    _with_actor(rv)
    rv.set_defaults(handler=cmd_revoke)
    ex = rs.add_parser("export", help="write the registry as CSV (the import format)")
    ex.add_argument("-o", "--output", help="file (default standard output)")
    ex.set_defaults(handler=cmd_export)
    xp = rs.add_parser("expiring", help="authorizations in force that expire soon")
    xp.add_argument("--within", type=_days, default=30, help="e.g. 30d (default) or 8w")
    xp.add_argument("--as-of", type=_iso, default=None)
    xp.add_argument("--format", choices=("text", "json"), default="text")
    xp.set_defaults(handler=cmd_expiring)
    en = rs.add_parser("enroll", help="store a patient's reference photo (encrypted) for face matching")
    en.add_argument("patient_id")
    en.add_argument("photo")
    en.add_argument("--reason", default="", help="why (audit log)")
    _with_actor(en)
    en.set_defaults(handler=cmd_enroll)

    a = sub.add_parser("audit", help="the audit log: verify the hash chain, list entries")
    asub = a.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    av = asub.add_parser("verify", help="detect deleted or edited entries (exit 1 when the chain is broken)")
    av.add_argument("--expect", metavar="HEAD", help="a head printed by an earlier verify (ID:SEAL): also "
                    "check the log still reaches that entry unchanged")
    av.set_defaults(handler=cmd_audit_verify)
    al = asub.add_parser("list", help="newest entries first")
    al.add_argument("--limit", type=int, default=50)
    al.add_argument("--action", help="e.g. registry.revoke, or a family: registry.")
    al.add_argument("--actor")
    al.add_argument("--target")
    al.add_argument("--format", choices=("text", "json"), default="text")
    al.set_defaults(handler=cmd_audit_list)


def _store() -> Store:
    from ..core.store import Store

    return Store()


def _wrap(fn: Callable[[], T]) -> T:
    """Registry and key errors become one-line usage errors (exit 2)."""
    from ..core.crypto import KeyError_
    from ..registry.authorizations import RegistryError
    from .errors import UsageError

    try:
        return fn()
    except (RegistryError, KeyError_) as exc:
        raise UsageError(str(exc)) from None


def cmd_import(args: argparse.Namespace) -> int:
    from ..registry.authorizations import Registry

    store = _store()
    res = _wrap(lambda: Registry.import_csv(store, args.file, actor=_actor(args), reason=args.reason))
    print(f"imported {res['rows']} authorization(s) for {res['patients']} patient(s): {res['inserted']} new, "
          f"{res['updated']} updated, {res['unchanged']} unchanged, {res['removed']} removed; "
          f"{res['photos']} photo(s) enrolled")
    if res["revocations_kept"]:
        print(f"kept {res['revocations_kept']} earlier revocation(s) the file does not list "
              "(a new authorization needs a new signed_on)")
    return 0


def _row(r: Any, as_of: date) -> dict[str, Any]:
    return {**{k: v for k, v in r.as_row().items() if k != "photo"}, "authorization_id": r.authorization_id,
            "status": r.status(as_of), "revoke_reason": r.revoke_reason or ""}


def cmd_list(args: argparse.Namespace) -> int:
    from ..registry.authorizations import Registry

    as_of = args.as_of or date.today()
    rows = [r for r in _wrap(lambda: Registry.all_records(_store()))
            if not args.status or r.status(as_of) in args.status]
    if args.format == "json":
        print(json.dumps([_row(r, as_of) for r in rows], indent=2))
        return 0
    print(f"{len(rows)} authorization(s) as of {as_of}")
    for r in rows:
        print(f"  {r.status(as_of):13s} {r.authorization_id:24s} {r.full_name:24s} {';'.join(r.purposes):45s} "
              f"{';'.join(r.channels)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..registry.authorizations import Registry
    from .errors import UsageError

    store = _store()
    as_of = args.as_of or date.today()
    rec = _wrap(lambda: Registry(store)).get(args.patient_id)
    if rec is None:
        raise UsageError(f"no registry record {args.patient_id!r}")
    photos = Registry.photo_counts(store).get(rec.patient_id, 0)
    if args.format == "json":
        print(json.dumps({"patient_id": rec.patient_id, "full_name": rec.full_name, "aliases": list(rec.aliases),
                          "social_handles": list(rec.social_handles), "status": rec.status(as_of),
                          "photos": photos, "authorizations": [_row(a, as_of) for a in rec.authorizations]},
                         indent=2))
        return 0
    print(f"patient_id      {rec.patient_id}")
    print(f"full_name       {rec.full_name}")
    print(f"aliases         {'; '.join(rec.aliases)}")
    print(f"social_handles  {'; '.join(rec.social_handles)}")
    print(f"status          {rec.status(as_of)} (as of {as_of})")
    print(f"photos          {photos} enrolled (encrypted)")
    for a in rec.authorizations:
        print(f"authorization   {a.authorization_id}: {a.status(as_of)}; {a.describe()}"
              + (f"; revoked on {a.revoked_on} ({a.revoke_reason})" if a.revoked_on else ""))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from ..registry.authorizations import Registry

    fields = {"patient_id": args.patient_id, "full_name": args.name, "aliases": args.aliases,
              "social_handles": args.handles, "purposes": args.purposes, "channels": args.channels,
              "signed_on": args.signed_on, "expires_on": args.expires_on, "revoked_on": ""}
    aid = _wrap(lambda: Registry.add(_store(), fields, actor=_actor(args), reason=args.reason))
    print(f"added authorization {aid}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from ..registry.authorizations import Registry

    on = args.on or date.today()
    ids = _wrap(lambda: Registry.revoke(_store(), args.patient_id, on, args.reason, actor=_actor(args),
                                        authorization=args.authorization))
    print(f"revoked {', '.join(ids)} as of {on}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..core.csv_cells import csv_cell
    from ..registry.authorizations import CSV_COLUMNS, Registry
    from .errors import UsageError

    rows = _wrap(lambda: Registry.all_records(_store()))
    try:
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot be written ({exc.strerror})") from None
    w = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in rows:  # cells a spreadsheet would run as a formula get an apostrophe; import takes it off again
        w.writerow({k: csv_cell(v) for k, v in r.as_row().items()})
    if args.output:
        out.close()
        print(f"exported {len(rows)} authorization(s) to {args.output}", file=sys.stderr)
    return 0


def cmd_expiring(args: argparse.Namespace) -> int:
    from ..registry.authorizations import Registry

    as_of = args.as_of or date.today()
    until = as_of + timedelta(days=args.within)
    rows = [r for r in _wrap(lambda: Registry.all_records(_store()))
            if r.in_force(as_of) and r.expires_on and r.expires_on <= until]
    rows.sort(key=lambda r: (r.expires_on, r.patient_id))
    if args.format == "json":
        print(json.dumps([_row(r, as_of) for r in rows], indent=2))
        return 0
    print(f"{len(rows)} authorization(s) in force on {as_of} expire by {until}")
    for r in rows:
        assert r.expires_on is not None
        print(f"  {r.authorization_id:24s} expires {r.expires_on} ({(r.expires_on - as_of).days} days)  {r.full_name}")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..registry.authorizations import Registry

    reg = _wrap(lambda: Registry(_store()))
    rid = _wrap(lambda: reg.enroll_face(args.patient_id, Path(args.photo), actor=_actor(args), reason=args.reason))
    print(f"enrolled face record {rid} for {args.patient_id} (photo and encoding encrypted)")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from ..core import audit

    store = _store()
    problems = audit.verify(store, expect=args.expect)
    if problems:
        for p in problems:
            print(f"BROKEN: {p}")
        print(f"audit log chain broken: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    head = audit.head_token(store)
    print(f"audit log intact ({len(audit.entries(store))} entries)" + (f"; head {head}" if head else ""))
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    from ..core import audit

    rows = audit.entries(_store(), limit=args.limit, action=args.action, actor=args.actor, target=args.target)
    if args.format == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for e in rows:
            print(f"{e['id']:6d} {e['at']} {e['actor']:16s} {e['action']:20s} {e['target']} "
                  f"{json.dumps(e['detail'], ensure_ascii=False)}")
    return 0
