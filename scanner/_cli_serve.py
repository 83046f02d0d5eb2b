"""Commands `serve` (the reply-gate HTTP API) and `apikeys create|list|revoke`."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the reply-gate HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, help="worker processes, each loads the models once")
    p.set_defaults(handler=cmd_serve)
    k = sub.add_parser("apikeys", help="API keys for the HTTP API")
    ks = k.add_subparsers(dest="apikeys_command", required=True, metavar="SUBCOMMAND")
    c = ks.add_parser("create", help="create a key; it is printed once, alone on the last line")
    c.add_argument("name")
    c.set_defaults(handler=cmd_create)
    ls = ks.add_parser("list", help="key names (never the keys)")
    ls.set_defaults(handler=cmd_list)
    r = ks.add_parser("revoke", help="revoke a key")
    r.add_argument("name")
    r.set_defaults(handler=cmd_revoke)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    print(f"medspa-scan API on http://{args.host}:{args.port} (docs at /docs); Ctrl-C to stop", flush=True)
    uvicorn.run("scanner.api:app_factory", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info", access_log=True)
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    from . import apikeys
    from .cli import UsageError
    from .store import Store

    try:
        key = apikeys.create(Store(), args.name)
    except apikeys.ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    print(f"API key '{args.name}' created. Store it now; it is not shown again:")
    print(key)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from . import apikeys
    from .store import Store

    for k in apikeys.list_keys(Store()):
        print(f"{k['name']:30s} created {k['created_at']}{'  REVOKED' if k['revoked'] else ''}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from . import apikeys
    from .cli import UsageError
    from .store import Store

    try:
        apikeys.revoke(Store(), args.name)
    except apikeys.ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    print(f"revoked {args.name}")
    return 0
