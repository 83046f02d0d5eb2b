"""Commands `registry ...` (authorizations) and `audit ...` (the hash-chained audit log)."""
from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import re
import sys
from datetime import date, timedelta


def _actor(args: argparse.Namespace) -> str:
    return getattr(args, "actor", None) or os.environ.get("USER") or getpass.getuser() or "cli"


def _iso(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def _days(value: str) -> int:
    m = re.fullmatch(r"(\d+)\s*d?", value.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a number of days like 30d, got {value!r}")
    return int(m.group(1))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("registry", help="marketing authorizations: import, list, revoke, enroll faces")
    p.add_argument("--actor", help="who makes the change (audit log); default $USER")
    rs = p.add_subparsers(dest="registry_command", required=True, metavar="SUBCOMMAND")
    imp = rs.add_parser("import", help="upsert authorizations from a CSV (all or nothing)")
    imp.add_argument("file")
    imp.set_defaults(handler=cmd_import)
    ls = rs.add_parser("list", help="every authorization with its status")
    ls.add_argument("--as-of", type=_iso, default=None)
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(handler=cmd_list)
    sh = rs.add_parser("show", help="one authorization")
    sh.add_argument("patient_id")
    sh.set_defaults(handler=cmd_show)
    add = rs.add_parser("add", help="add one authorization")
    add.add_argument("patient_id")
    add.add_argument("--name", required=True)
    add.add_argument("--aliases", default="")
    add.add_argument("--handles", default="")
    add.add_argument("--purposes", required=True, help="';'-separated")
    add.add_argument("--channels", required=True, help="';'-separated, or all")
    add.add_argument("--signed-on", required=True)
    add.add_argument("--expires-on", default="")
    add.add_argument("--reason", default="")
    add.set_defaults(handler=cmd_add)
    rv = rs.add_parser("revoke", help="revoke an authorization")
    rv.add_argument("patient_id")
    rv.add_argument("--on", type=_iso, default=date.today())
    rv.add_argument("--reason", required=True)
    rv.set_defaults(handler=cmd_revoke)
    ex = rs.add_parser("export", help="write the registry as CSV")
    ex.add_argument("-o", "--output")
    ex.set_defaults(handler=cmd_export)
    xp = rs.add_parser("expiring", help="authorizations expiring soon")
    xp.add_argument("--within", type=_days, default=30, help="e.g. 30d")
    xp.add_argument("--as-of", type=_iso, default=None)
    xp.set_defaults(handler=cmd_expiring)
    en = rs.add_parser("enroll", help="store a patient's reference photo (encrypted) for face matching")
    en.add_argument("patient_id")
    en.add_argument("photo")
    en.set_defaults(handler=cmd_enroll)

    a = sub.add_parser("audit", help="the audit log: verify the hash chain, list entries")
    asub = a.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    av = asub.add_parser("verify", help="detect deleted or edited entries")
    av.set_defaults(handler=cmd_audit_verify)
    al = asub.add_parser("list", help="newest entries first")
    al.add_argument("--limit", type=int, default=50)
    al.add_argument("--action")
    al.add_argument("--format", choices=("text", "json"), default="text")
    al.set_defaults(handler=cmd_audit_list)


def _store():
    from .store import Store

    return Store()


def _wrap(fn):
    from .cli import UsageError
    from .crypto import KeyError_
    from .registry import RegistryError

    try:
        return fn()
    except (RegistryError, KeyError_) as exc:
        raise UsageError(str(exc)) from None


def cmd_import(args: argparse.Namespace) -> int:
    from .registry import Registry

    store = _store()
    res = _wrap(lambda: Registry.import_csv(store, args.file, actor=_actor(args)))
    print(f"imported {res['rows']} authorization(s): {res['inserted']} new, {res['updated']} updated, "
          f"{res['photos']} photo(s) enrolled")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import Registry

    as_of = args.as_of or date.today()
    rows = Registry.all_records(_store())
    if args.format == "json":
        print(json.dumps([{**r.as_row(), "status": r.status(as_of)} for r in rows], indent=2))
        return 0
    print(f"{len(rows)} authorization(s) as of {as_of}")
    for r in rows:
        print(f"  {r.patient_id:10s} {r.status(as_of):13s} {r.full_name:24s} {';'.join(r.purposes):45s} "
              f"{';'.join(r.channels)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .cli import UsageError
    from .registry import Registry

    rec = Registry(_store()).get(args.patient_id)
    if rec is None:
        raise UsageError(f"no registry record {args.patient_id!r}")
    for k, v in {**rec.as_row(), "status": rec.status(date.today()), "authorization_id": rec.authorization_id,
                 "revoke_reason": rec.revoke_reason or ""}.items():
        if k != "photo":
            print(f"{k:17s} {v}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from .registry import Registry

    fields = {"patient_id": args.patient_id, "full_name": args.name, "aliases": args.aliases,
              "social_handles": args.handles, "purposes": args.purposes, "channels": args.channels,
              "signed_on": args.signed_on, "expires_on": args.expires_on, "revoked_on": ""}
    pid = _wrap(lambda: Registry.add(_store(), fields, actor=_actor(args), reason=args.reason))
    print(f"added {pid}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from .registry import Registry

    _wrap(lambda: Registry.revoke(_store(), args.patient_id, args.on, args.reason, actor=_actor(args)))
    print(f"revoked {args.patient_id} as of {args.on}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .registry import CSV_COLUMNS, Registry

    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    w = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS))
    w.writeheader()
    for r in Registry.all_records(_store()):
        w.writerow(r.as_row())
    if args.output:
        out.close()
    return 0


def cmd_expiring(args: argparse.Namespace) -> int:
    from .registry import Registry

    as_of = args.as_of or date.today()
    until = as_of + timedelta(days=args.within)
    rows = [r for r in Registry.all_records(_store())
            if r.status(as_of) in ("valid", "expiring") and r.expires_on and r.expires_on <= until]
    print(f"{len(rows)} authorization(s) expire by {until}")
    for r in rows:
        print(f"  {r.patient_id:10s} expires {r.expires_on}  {r.full_name}")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .registry import Registry

    reg = Registry(_store())
    rid = _wrap(lambda: reg.enroll_face(args.patient_id, Path(args.photo), actor=_actor(args)))
    print(f"enrolled face record {rid} for {args.patient_id} (photo and encoding encrypted)")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from . import audit

    problems = audit.verify(_store())
    if problems:
        for p in problems:
            print(f"BROKEN: {p}")
        return 1
    print(f"audit log intact ({len(audit.entries(_store()))} entries)")
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    from . import audit

    rows = audit.entries(_store(), limit=args.limit, action=args.action)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for e in rows:
            print(f"{e['id']:6d} {e['at']} {e['actor']:16s} {e['action']:20s} {e['target']} {json.dumps(e['detail'])}")
    return 0
