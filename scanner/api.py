"""The reply-gate HTTP API (FastAPI): POST /v1/check, POST /v1/batch, GET /v1/rules, GET /healthz.

Every request but /healthz needs `Authorization: Bearer KEY`. Scans run in the thread pool (the
event loop stays free) and are stored like CLI runs (source "api", the key's name), so the
dashboard's queue shows reply-gate decisions. Errors never echo content: validation errors name
the field, unexpected errors return a request id and the detail goes to the server log without PHI.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from . import apikeys
from ._models import Item

log = logging.getLogger("medspa_scan.api")
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic",
               "image/heif": ".heif"}


@dataclass
class Settings:
    max_body_bytes: int = int(os.environ.get("MEDSPA_SCAN_API_MAX_BODY", 25_000_000))
    max_image_bytes: int = int(os.environ.get("MEDSPA_SCAN_API_MAX_IMAGE", 15_000_000))
    max_batch: int = int(os.environ.get("MEDSPA_SCAN_API_MAX_BATCH", 100))
    rate_per_minute: int = int(os.environ.get("MEDSPA_SCAN_API_RATE", 6000))


class CheckItem(BaseModel):
    """An item in the DESIGN.md input shape (images come as multipart uploads)."""

    id: str = Field(default="api", min_length=1, max_length=200)
    kind: str = "reply"
    channel: str = "google"
    text: str = Field(default="", max_length=100_000)
    in_reply_to: str | None = Field(default=None, max_length=100_000)
    author: str | None = Field(default=None, max_length=300)


class BatchRequest(BaseModel):
    items: list[dict[str, Any]]


class Finding(BaseModel):
    rule_id: str
    category: str
    severity: str
    message: str
    evidence: str = ""
    start: int | None = None
    end: int | None = None
    source: str
    citation: str
    suggestion: str | None = None


class CheckResult(BaseModel):
    id: str
    verdict: str
    findings: list[Finding]
    suggested_text: str | None = None
    rule_pack: str


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(store=None, scanner=None, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    state: dict[str, Any] = {"store": store, "scanner": scanner}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from .store import Store

        if state["store"] is None:
            state["store"] = Store()
        if state["scanner"] is None:
            from .engine import Scanner

            state["scanner"] = await run_in_threadpool(Scanner, store=state["store"])
        yield

    app = FastAPI(title="MedSpa Compliance Scanner: reply gate", version="1.0", lifespan=lifespan,
                  description="Checks review replies, posts and messages for patient information before they go out.")
    limiter = apikeys.RateLimiter(settings.rate_per_minute)

    @app.middleware("http")
    async def limits_and_errors(request: Request, call_next):
        rid = uuid.uuid4().hex[:12]
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            return _error(413, f"request body is {int(length):,} bytes; the limit is {settings.max_body_bytes:,}")
        try:
            response = await call_next(request)
        except Exception as exc:  # generic 500: the detail goes to the log, without content
            log.error("request %s %s failed: %s", rid, request.url.path, type(exc).__name__)
            return _error(500, "internal error", request_id=rid)
        response.headers["X-Request-Id"] = rid
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        fields = [{"field": ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body",
                   "problem": e.get("msg", "invalid")} for e in exc.errors()]
        return _error(422, "invalid request", fields=fields)

    def auth(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        name = apikeys.verify(state["store"], key.strip()) if scheme.lower() == "bearer" and key else None
        if name is None:
            raise HTTPException(401, "missing or invalid API key (send Authorization: Bearer KEY)",
                                headers={"WWW-Authenticate": "Bearer"})
        ok, wait = limiter.allow(name)
        if not ok:
            raise HTTPException(429, f"rate limit of {settings.rate_per_minute} requests a minute exceeded",
                                headers={"Retry-After": str(wait)})
        return name

    def _scan_and_store(items: list[Item], key_name: str):
        sc = state["scanner"]
        results = list(sc.scan_many(items))
        st = state["store"]
        run = st.start_run("api", actor=key_name, rule_pack=sc.rule_pack)
        st.save_results(run, list(zip(items, results, strict=True)), source="api", submitted_by=key_name)
        counts: dict[str, int] = {"items": len(items)}
        for r in results:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        st.finish_run(run, counts)
        return results

    def _item(data: dict[str, Any], images: list[str] | None = None) -> Item:
        data = {k: v for k, v in data.items() if k != "images"}
        return Item(**data, images=images or [])

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        sc = state["scanner"]
        return {"status": "ok", "rule_pack": sc.rule_pack if sc else None}

    @app.get("/v1/rules")
    async def rules(_: str = Depends(auth)) -> dict[str, Any]:
        pack = state["scanner"].rules
        return {"version": pack.version, "rules": [
            {k: v for k, v in r.meta().items() if k != "examples"} for r in pack.rules]}

    @app.post("/v1/check", response_model=CheckResult, responses={
        413: {"description": "body or image too large"}, 415: {"description": "unsupported image type"},
        422: {"description": "invalid item"}, 401: {"description": "missing key"}, 429: {"description": "rate limit"}},
        openapi_extra={"requestBody": {"content": {
            "application/json": {"schema": CheckItem.model_json_schema()},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "item": {"type": "string", "description": "the item as JSON"},
                "images": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}},
            "required": True}})
    async def check(request: Request, key_name: str = Depends(auth)):
        ctype = request.headers.get("content-type", "")
        tmp: tempfile.TemporaryDirectory | None = None
        try:
            if ctype.startswith("multipart/form-data"):
                form = await request.form()
                raw = form.get("item")
                if not isinstance(raw, str):
                    return _error(422, "invalid request", fields=[{"field": "item", "problem": "required (JSON)"}])
                try:
                    data = json.loads(raw)
                except json.JSONDecodeError:
                    return _error(422, "invalid request", fields=[{"field": "item", "problem": "not JSON"}])
                uploads = [u for u in form.getlist("images") if isinstance(u, UploadFile)]
                tmp = tempfile.TemporaryDirectory(prefix="medspa-api-")
                paths = []
                for i, up in enumerate(uploads):
                    ext = IMAGE_TYPES.get((up.content_type or "").split(";")[0].strip())
                    if ext is None:
                        return _error(415, f"images[{i}]: unsupported type {up.content_type!r}; "
                                           f"send {', '.join(IMAGE_TYPES)}")
                    blob = await up.read(settings.max_image_bytes + 1)
                    if len(blob) > settings.max_image_bytes:
                        return _error(413, f"images[{i}] is larger than {settings.max_image_bytes:,} bytes")
                    p = Path(tmp.name) / f"upload{i}{ext}"
                    p.write_bytes(blob)
                    paths.append(str(p))
            elif ctype.startswith("application/json") or not ctype:
                try:
                    data = json.loads(await request.body() or b"{}")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return _error(422, "invalid request", fields=[{"field": "body", "problem": "not JSON"}])
                paths = []
                if isinstance(data, dict) and data.get("images"):
                    return _error(422, "invalid request", fields=[{"field": "images",
                                                                   "problem": "send images as multipart uploads"}])
            else:
                return _error(415, f"unsupported content type {ctype.split(';')[0]!r}; send JSON or multipart")
            if not isinstance(data, dict):
                return _error(422, "invalid request", fields=[{"field": "body", "problem": "expected an object"}])
            try:
                item = _item(data, paths)
            except (ValidationError, TypeError) as exc:
                return _error(422, "invalid request", fields=_fields(exc))
            if not item.text.strip() and not item.images:
                return _error(422, "invalid request", fields=[{"field": "text", "problem": "empty"}])
            result = (await run_in_threadpool(_scan_and_store, [item], key_name))[0]
            return result.public()
        finally:
            if tmp is not None:
                tmp.cleanup()

    @app.post("/v1/batch", responses={413: {"description": "too many items"}})
    async def batch(body: BatchRequest, key_name: str = Depends(auth)):
        if len(body.items) > settings.max_batch:
            return _error(413, f"{len(body.items)} items; the limit is {settings.max_batch} per request")
        good: list[tuple[int, Item]] = []
        out: list[dict[str, Any] | None] = [None] * len(body.items)
        for i, data in enumerate(body.items):
            try:
                if data.get("images"):
                    raise ValueError("images are not accepted in a batch; use /v1/check")
                good.append((i, _item(data)))
            except (ValidationError, TypeError, ValueError) as exc:
                out[i] = {"index": i, "id": str(data.get("id", ""))[:200], "error": "invalid item",
                          "fields": _fields(exc)}
        if good:
            results = await run_in_threadpool(_scan_and_store, [it for _, it in good], key_name)
            for (i, _), res in zip(good, results, strict=True):
                out[i] = res.public()
        return {"results": out}

    return app


def _fields(exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, ValidationError):
        return [{"field": ".".join(str(x) for x in e.get("loc", ())) or "item",
                 "problem": e.get("msg", "invalid").replace("Value error, ", "")} for e in exc.errors()]
    return [{"field": "item", "problem": str(exc)[:200]}]


def app_factory() -> FastAPI:
    """Entry point for uvicorn workers: each worker loads the models once."""
    return create_app()
