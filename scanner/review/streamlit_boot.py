"""Starts Streamlit for `medspa-scan dashboard` with its `/_stcore/metrics` endpoint removed: Streamlit
has no setting to switch it off, and it answers anyone who can reach the port, logged in or not.
Run as `python -m scanner.review.streamlit_boot run dashboard/app.py ...` (the same arguments as `streamlit`).
"""
from __future__ import annotations

import sys
from typing import Any


def _no_metrics(_runtime: Any, base_url: str | None) -> list[Any]:
    """In place of Streamlit's metrics routes: the same address answers 404 to everyone."""
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from streamlit.web.server.starlette import starlette_routes as routes

    async def _gone(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("not available\n", status_code=404)

    return [Route(routes._with_base(routes.ROUTE_METRICS, base_url), _gone, methods=["GET", "OPTIONS"])]


def main() -> int:
    from streamlit.web.cli import main as streamlit_main
    from streamlit.web.server.starlette import starlette_app

    if not hasattr(starlette_app, "create_metrics_routes"):  # a Streamlit whose layout changed: refuse
        print("medspa-scan: error: this Streamlit version cannot have its metrics endpoint removed; "
              "install the version in uv.lock", file=sys.stderr)
        return 2
    starlette_app.create_metrics_routes = _no_metrics  # type: ignore[assignment]
    return int(streamlit_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
