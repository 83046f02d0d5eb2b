"""Commands `dashboard` (start the Streamlit review dashboard) and `users add|list`."""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from . import config

DEMO_USERS = (("manager", "demo-compliance", "compliance"), ("marketer", "demo-marketing", "marketing"),
              ("admin", "demo-admin-pass", "admin"))


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("dashboard", help="start the review dashboard (seeds demo data on an empty store)")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8501)
    d.set_defaults(handler=cmd_dashboard)
    u = sub.add_parser("users", help="dashboard users")
    us = u.add_subparsers(dest="users_command", required=True, metavar="SUBCOMMAND")
    add = us.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("marketing", "compliance", "admin"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=cmd_users_add)
    ls = us.add_parser("list")
    ls.set_defaults(handler=cmd_users_list)


def ensure_demo_users() -> list[tuple[str, str, str]]:
    """Create the demo users when the store has no users at all; returns those created."""
    from . import accounts
    from .store import Store

    store = Store()
    if accounts.count(store):
        return []
    for name, pw, role in DEMO_USERS:
        accounts.add_user(store, name, pw, role, actor="demo")
    return list(DEMO_USERS)


def seed_demo_if_empty() -> list[tuple[str, str, str]]:
    """On an empty store: demo registry, scanned demo drafts and demo users. Returns the users created."""
    from . import accounts
    from .store import Store

    if accounts.count(Store()):
        return []
    from .demo import seed_and_scan

    seed_and_scan()
    return ensure_demo_users()


def launch(host: str, port: int, created: list[tuple[str, str, str]]) -> int:
    """Print the address (and new demo logins), then become the Streamlit server."""
    app = config.PROJECT_ROOT / "dashboard" / "app.py"
    print(f"Dashboard: http://{host}:{port}  (data: {config.home()})", flush=True)
    if created:
        print("Demo logins: " + ", ".join(f"{n} / {p} ({r})" for n, p, r in created), flush=True)
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host, "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    sys.stdout.flush()
    # replace this process with streamlit, so stopping it stops the dashboard (no orphaned server)
    os.execve(sys.executable, cmd, dict(os.environ, MEDSPA_SCAN_HOME=str(config.home())))
    return 0  # not reached


def cmd_dashboard(args: argparse.Namespace) -> int:
    return launch(args.host, args.port, seed_demo_if_empty())


def cmd_users_add(args: argparse.Namespace) -> int:
    from . import accounts
    from .cli import UsageError
    from .store import Store

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the passwords do not match")
    try:
        accounts.add_user(Store(), args.name, password, args.role, actor=os.environ.get("USER", "cli"))
    except accounts.AccountError as exc:
        raise UsageError(str(exc)) from None
    print(f"added {args.name} ({args.role})")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from . import accounts
    from .store import Store

    for u in accounts.list_users(Store()):
        print(f"{u['name']:20s} {u['role']:12s} {u['created_at']}")
    return 0
