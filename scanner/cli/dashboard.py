"""Commands `dashboard` (start the Streamlit review dashboard on this $MEDSPA_SCAN_HOME; demo data only with
`--demo` on an empty folder, never on a real store; a store without users is told how to add the first
admin) and `users add|passwd|list` (local dashboard users with bcrypt-hashed passwords)."""
from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys

from ..core import config

MAX_UPLOAD_MB = 25


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("dashboard", help="start the review dashboard")
    d.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    d.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    d.add_argument("--demo", action="store_true",
                   help="seed demo users, patients and scans first (only into an empty data folder)")
    d.set_defaults(handler=cmd_dashboard)
    u = sub.add_parser("users", help="dashboard users (marketing, compliance, admin)")
    us = u.add_subparsers(dest="users_command", required=True, metavar="SUBCOMMAND")
    add = us.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("marketing", "compliance", "admin"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=cmd_users_add)
    pw = us.add_parser("passwd", help="set a user's password (and lift a lock-out)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw.set_defaults(handler=cmd_users_passwd)
    ls = us.add_parser("list", help="list users and roles")
    ls.set_defaults(handler=cmd_users_list)
    pg = sub.add_parser("purge", help="delete old uploads and clear old scanned text (retention)",
                        description="Deletes dashboard uploads older than $MEDSPA_SCAN_UPLOAD_DAYS (default 30) "
                        "and clears the text, reply, author and evidence of items scanned more than "
                        "$MEDSPA_SCAN_TEXT_DAYS ago (default: kept) that no longer wait for a decision.")
    pg.add_argument("--older-than", metavar="DAYS", help="apply this age to both instead (e.g. 90d)")
    pg.set_defaults(handler=cmd_purge)


def _check_address(host: str, port: int) -> None:
    from .errors import UsageError

    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port}: expected a port between 1 and 65535")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --host or --port") from None


FIRST_ADMIN = "medspa-scan users add NAME --role admin"


def launch(host: str, port: int, demo: bool = False) -> int:
    """With `demo`, seed an empty store; refuse a store without users (nobody could log in, and a real
    store never gets default passwords); print the address, then become `streamlit run dashboard/app.py`."""
    from ..core.store import Store
    from ..review import accounts
    from ..review.demo_data import NotEmpty, seed_if_empty, working_demo_logins
    from .errors import UsageError

    _check_address(host, port)
    try:
        app = config.dashboard_dir() / "app.py"
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if not app.is_file():
        raise UsageError(f"{app}: the dashboard is missing; reinstall medspa-scan from its wheel")
    store = Store()
    if demo:
        try:
            if seed_if_empty(store) is not None:
                print("Seeded demo data (empty store).", flush=True)
        except NotEmpty as exc:
            raise UsageError(str(exc)) from None
    if not accounts.count(store):
        raise UsageError(f"no dashboard users yet in {config.home()}; add the first admin with: {FIRST_ADMIN} "
                         "(or start the demo on an empty folder with --demo, or run `make run`)")
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    print(f"Dashboard: http://{shown}:{port}   (data: {config.home()})", flush=True)
    logins = working_demo_logins(store)
    if logins:
        print("Demo logins: " + ", ".join(f"{n} / {p} ({r})" for n, p, r in logins), flush=True)
    print("Stop it with Ctrl+C.", flush=True)
    from ..review import retention

    try:
        retention.apply(store, actor="dashboard-start")  # uploads (and raw text, when set) past retention
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cmd = [sys.executable, "-m", "scanner.review.streamlit_boot", "run", str(app),  # streamlit without /_stcore/metrics
           "--server.address", host, "--server.port", str(port), "--server.headless", "true",
           "--server.fileWatcherType", "none", "--server.runOnSave", "false",
           "--server.maxUploadSize", str(MAX_UPLOAD_MB), "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "minimal", "--global.developmentMode", "false"]
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(config.home()))  # the app imports this same installed package
    # become streamlit, so stopping this command stops the dashboard (no orphaned server)
    os.execve(sys.executable, cmd, env)
    return 0  # not reached


def cmd_dashboard(args: argparse.Namespace) -> int:
    return launch(args.host, args.port, demo=args.demo)


def _read_password(from_stdin: bool) -> str:
    from .errors import UsageError

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise UsageError("the passwords do not match")
    return password


def _actor() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "cli"


def cmd_users_add(args: argparse.Namespace) -> int:
    from ..core.store import Store
    from ..review import accounts
    from .errors import UsageError

    password = _read_password(args.password_stdin)
    try:
        accounts.add_user(Store(), args.name, password, args.role, actor=_actor())
    except accounts.AccountError as exc:
        raise UsageError(str(exc)) from None
    print(f"added {args.name.strip()} ({args.role})")
    return 0


def cmd_users_passwd(args: argparse.Namespace) -> int:
    from ..core.store import Store
    from ..review import accounts
    from .errors import UsageError

    password = _read_password(args.password_stdin)
    try:
        accounts.set_password(Store(), args.name, password, actor=_actor())
    except accounts.AccountError as exc:
        raise UsageError(str(exc)) from None
    print(f"password changed for {args.name.strip()}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from ..core.store import Store
    from ..review import retention
    from .errors import UsageError

    store = Store()
    if args.older_than:
        raw = args.older_than.strip().lower().removesuffix("d")
        if not raw.isdigit() or int(raw) < 1:
            raise UsageError(f"--older-than {args.older_than!r}: expected a number of days like 90d")
        days = int(raw)
        retention.seal_existing(store)
        done = {"uploads": retention.purge_uploads(days), "items": retention.purge_text(store, days, _actor())}
    else:
        try:
            done = retention.apply(store, actor=_actor())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(f"purged {done['uploads']} upload(s) and the text of {done['items']} item(s)")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from ..core.store import Store
    from ..review import accounts

    users = accounts.list_users(Store())
    if not users:
        print("no users yet; add one with: medspa-scan users add NAME --role marketing|compliance|admin")
    for u in users:
        print(f"{u['name']:20s} {u['role']:12s} {u['created_at']}")
    return 0
