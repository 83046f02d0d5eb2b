"""Commands `serve` (the reply-gate HTTP API under uvicorn) and `apikeys create|list|revoke`."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
from typing import Any


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return n


def _port(value: str) -> int:
    n = _positive(value)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value!r}")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the reply-gate HTTP API",
                       description="Serve POST /v1/check, POST /v1/batch, GET /v1/rules and GET /healthz. "
                                   "Clients send 'Authorization: Bearer KEY' (see 'apikeys create').")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8080, help="TCP port (default 8080)")
    p.add_argument("--workers", type=_positive, default=1,
                   help="scan worker processes, each loading the models once; one per CPU core is a good choice")
    p.add_argument("--rate-limit", dest="rate_limit", type=_positive, metavar="N",
                   help="requests a minute per key, for keys without their own limit (default 1200)")
    p.add_argument("--max-batch", dest="max_batch", type=_positive, metavar="N",
                   help="items per /v1/batch request (default 100)")
    p.set_defaults(handler=cmd_serve)

    k = sub.add_parser("apikeys", help="API keys for the HTTP API")
    ks = k.add_subparsers(dest="apikeys_command", required=True, metavar="SUBCOMMAND")
    c = ks.add_parser("create", help="create a key; it is printed once, alone on the last line")
    c.add_argument("name", help="who uses the key (a tool or script); shown as the submitter in the dashboard")
    c.add_argument("--rate-limit", dest="rate_limit", type=_positive, metavar="N",
                   help="requests a minute for this key (default: the server's limit)")
    c.set_defaults(handler=cmd_create)
    ls = ks.add_parser("list", help="key names, creation and revocation (never the keys)")
    ls.add_argument("--format", default="text", choices=("text", "json"))
    ls.set_defaults(handler=cmd_list)
    r = ks.add_parser("revoke", help="revoke a key; requests with it are refused at once")
    r.add_argument("name")
    r.set_defaults(handler=cmd_revoke)


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging plus our access log (method, path, status, time, request id, key name).

    uvicorn's own access log is off: it prints the query string, which could carry content.
    """
    from uvicorn.config import LOGGING_CONFIG

    cfg = json.loads(json.dumps(LOGGING_CONFIG))
    cfg["formatters"]["plain"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    cfg["handlers"]["medspa"] = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    cfg["loggers"]["medspa_scan"] = {"handlers": ["medspa"], "level": level.upper(), "propagate": False}
    cfg["loggers"]["presidio-analyzer"] = {"level": "ERROR"}
    return cfg


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..api.app import Settings
    from ..core import config
    from .errors import UsageError

    # settings travel to the worker processes through the environment
    if args.rate_limit:
        os.environ["MEDSPA_SCAN_API_RATE_PER_MINUTE"] = str(args.rate_limit)
    if args.max_batch:
        os.environ["MEDSPA_SCAN_API_MAX_BATCH"] = str(args.max_batch)
    os.environ["MEDSPA_SCAN_API_WORKERS"] = str(args.workers)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _check_port(args.host, args.port)  # before loading the models, not after
    # one compute thread per worker process: the workers already use the cores, extra BLAS/OpenMP
    # threads only contend with them (the workers inherit this environment)
    config.one_compute_thread()
    print(f"medspa-scan API on http://{args.host}:{args.port} (OpenAPI document at /openapi.json); "
          f"{settings.workers} scan worker(s), {settings.rate_per_minute} requests a minute per key; "
          "Ctrl-C to stop", flush=True)
    # one HTTP process (exact rate limits, a loop that never waits on a scan) feeding N scan workers
    server = uvicorn.Server(uvicorn.Config("scanner.api.app:app_factory", factory=True, host=args.host, port=args.port,
                                           access_log=False, log_config=log_config("info"), server_header=False))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise UsageError(f"the server did not start (is port {args.port} on {args.host} free? see the log above)")
    return 0


def _check_port(host: str, port: int) -> None:
    import socket

    from .errors import UsageError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UsageError(f"--host {host}: unknown host") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another server running?") from None


def cmd_create(args: argparse.Namespace) -> int:
    from ..api import keys as apikeys
    from ..core.store import Store
    from .errors import UsageError

    try:
        key = apikeys.create(Store(), args.name, rate_per_minute=args.rate_limit, actor=_actor())
    except apikeys.ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    print(f"API key '{args.name}' created. Copy it now; it is stored hashed and never shown again.")
    print("Send it as 'Authorization: Bearer KEY'.")
    print(key)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..api import keys as apikeys
    from ..core.store import Store

    keys = apikeys.list_keys(Store())
    if args.format == "json":
        print(json.dumps(keys, indent=2))
        return 0
    if not keys:
        print("no API keys; create one with 'medspa-scan apikeys create NAME'")
        return 0
    print(f"{'NAME':30s} {'CREATED (UTC)':20s} {'RATE/MIN':9s} STATUS")
    for k in keys:
        status = f"revoked {k['revoked_at']}" if k["revoked"] else "active"
        rate = str(k["rate_per_minute"] or "default")
        print(f"{k['name']:30s} {k['created_at']:20s} {rate:9s} {status}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from ..api import keys as apikeys
    from ..core.store import Store
    from .errors import UsageError

    try:
        apikeys.revoke(Store(), args.name, actor=_actor())
    except apikeys.ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    print(f"revoked API key '{args.name}'")
    return 0


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"
