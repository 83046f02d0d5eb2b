"""The reply-gate HTTP API (FastAPI): POST /v1/check, POST /v1/batch, GET /v1/rules, GET /healthz.

`create_app(store, scanner, settings)` builds the app; `app_factory()` is what `medspa-scan serve`
hands to uvicorn. Its lifespan loads the models once per scan worker (see `api.workers`: worker
processes fed from one queue, or a thread of this process when a Scanner is passed in). Every
request but /healthz needs `Authorization: Bearer KEY` and is rate limited per key. Every check is
stored like a CLI run (source "api", actor = the key's name), so the dashboard's queue shows
reply-gate decisions. Nothing logged or returned in an error carries content: validation errors
name the field, the access log has method, path (no query), status, time, request id and key name,
and unexpected errors answer a generic 500 with a request id while the log gets the exception type
and code location only.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import Headers, MutableHeaders, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.models import CHANNELS, KINDS, MAX_TEXT_CHARS, Item, ScanResult
from ..image.load import sniff
from ..pipeline.disclosure import without_registry
from . import keys as apikeys
from .workers import Engine, EngineBusy, ProcessEngine, ThreadEngine

log = logging.getLogger("medspa_scan.api")
access_log = logging.getLogger("medspa_scan.api.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

IMAGE_TYPES = "JPEG, PNG, WebP, HEIC/HEIF, AVIF, GIF, TIFF or BMP"
JSON_TYPES = ("application/json", "")
KNOWN_PATHS = {"/v1/check", "/v1/batch", "/v1/rules", "/healthz", "/openapi.json"}  # any other path is logged as "<other path>": a path may carry content


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------
@dataclass
class Settings:
    """Limits of one server. `from_env()` reads MEDSPA_SCAN_API_<FIELD> (what `serve` sets for workers)."""

    max_body_bytes: int = 1_000_000  # a JSON request (check or batch), and the `item` part of a multipart one
    max_image_bytes: int = 15_000_000  # each uploaded image
    max_images: int = 10  # images per item
    max_batch: int = 100  # items per /v1/batch request
    rate_per_minute: int = apikeys.DEFAULT_RATE_PER_MINUTE  # per key, unless the key has its own limit
    max_pending: int = 256  # checks queued for scanning before new ones get 503
    workers: int = 1  # scan worker processes when the app loads its own models (0: a thread of this process)
    registry_refresh_seconds: float = 2.0  # how stale the in-memory authorization registry may be

    @property
    def max_multipart_bytes(self) -> int:
        return self.max_body_bytes + self.max_images * self.max_image_bytes + 64 * 1024

    @classmethod
    def from_env(cls) -> Settings:
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = f"MEDSPA_SCAN_API_{f.name.upper()}"
            raw = os.environ.get(var)
            if raw is None or raw == "":
                continue
            conv = float if f.type in ("float", float) else int
            try:
                values[f.name] = conv(raw)
            except ValueError:
                raise ValueError(f"{var}={raw[:20]!r} is not a number") from None
            if values[f.name] < (0 if f.name == "workers" else 1):
                raise ValueError(f"{var} must be {'zero or more' if f.name == 'workers' else 'positive'}")
        return cls(**values)


# ----------------------------------------------------------------------------------------------
# OpenAPI models (the handlers parse bodies themselves, so errors never echo content)
# ----------------------------------------------------------------------------------------------
class CheckItem(BaseModel):
    """An item in the DESIGN.md input shape. Images are sent as multipart file uploads."""

    model_config = ConfigDict(extra="forbid", title="Item")
    id: str | None = Field(None, min_length=1, max_length=200,
                           description="your id for this item (default: the request id)")
    kind: Literal["post", "reply", "comment", "message"]
    channel: Literal["instagram", "facebook", "tiktok", "google", "yelp", "website", "email", "sms"]
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S",
                      description="the draft to check (may be empty only when images are uploaded)")
    in_reply_to: str | None = Field(None, max_length=MAX_TEXT_CHARS,
                                    description="the review or comment this text answers")
    author: str | None = Field(None, max_length=300, description="who wrote that review or comment")
    permalink: str | None = Field(None, max_length=2000)


class FindingOut(BaseModel):
    rule_id: str
    category: str
    severity: Literal["high", "medium", "low", "info"]
    message: str
    evidence: str
    start: int | None = None
    end: int | None = None
    source: str = Field(description='"text", "in_reply_to" or "image:<file name>"')
    citation: str
    suggestion: str | None = None
    score: float | None = None
    pattern: str | None = None
    registry_record: str | None = None
    box: list[int] | None = None
    detail: dict[str, Any] | None = None


class CheckResult(BaseModel):
    """The DESIGN.md output shape. Publish only on `pass`."""

    id: str
    verdict: Literal["pass", "review", "block"]
    findings: list[FindingOut]
    suggested_text: str | None = Field(None, description="a safe rewrite to offer instead")
    permalink: str | None = None
    rule_pack: str


class BatchResult(CheckResult):
    index: int


class BatchError(BaseModel):
    index: int
    id: str | None = None
    error: str
    fields: list[FieldProblem]


class FieldProblem(BaseModel):
    field: str
    problem: str


class BatchResponse(BaseModel):
    results: list[BatchResult | BatchError] = Field(description="one entry per item, in input order")
    counts: dict[str, int]


class ErrorBody(BaseModel):
    error: str
    request_id: str
    fields: list[FieldProblem] | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    category: str
    severity: str
    message: str
    rationale: str
    remediation: str
    citation: str


class RulesResponse(BaseModel):
    version: str
    rules: list[RuleOut]


BatchError.model_rebuild()


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------
class ApiError(Exception):
    """A 4xx/5xx answer with a message that names the problem (and never quotes content)."""

    def __init__(self, status: int, message: str, fields: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.fields, self.headers = status, message, fields, headers


class _BodyTooLarge(Exception):
    pass


def _invalid(field: str, problem: str) -> ApiError:
    return ApiError(422, f"invalid request: {field}: {problem}", [{"field": field, "problem": problem}])


ITEM_FIELDS = ("id", "kind", "channel", "text", "in_reply_to", "author", "images", "permalink")
_SAFE_PARTS = {*ITEM_FIELDS, "body", "query", "header", "path", "cookie", "items", "item"}


def _loc(parts: Any) -> str:
    """A field location that names only known fields and positions: a client's own key can be PHI."""
    return ".".join(str(p) if isinstance(p, int) or p in _SAFE_PARTS else "(unexpected key)" for p in parts)


def _unexpected(keys: Any, allowed: Any) -> int | None:
    """The position (1-based) of the first key that is not allowed, or None."""
    return next((n for n, k in enumerate(keys, 1) if k not in allowed), None)


def _error_response(status: int, message: str, request_id: str, fields: list[dict[str, str]] | None = None,
                    headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "request_id": request_id}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


def _rid(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", "-"))


def _where(exc: BaseException) -> str:
    """Exception type and code locations only: messages and locals may quote content."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    chain = type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        chain += f" (from {type(cause).__name__})"
    return chain + " at " + " < ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(frames))


class _Guard:
    """Outermost middleware: request id, body size limit, access log without content, generic 500."""

    def __init__(self, app: Callable[..., Awaitable[None]], settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        started = time.perf_counter()
        status = 0
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        limit = self.settings.max_multipart_bytes if multipart else self.settings.max_body_bytes

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", rid)
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        too_large = ApiError(413, f"request body too large: the limit is {limit:,} bytes"
                             + (" (multipart: item plus images)" if multipart else ""))
        try:
            length = headers.get("content-length")
            if length is not None and not length.strip().isdigit():
                raise ApiError(400, "Content-Length is not a number")
            if length is not None and int(length) > limit:
                raise too_large
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - the one place that turns anything into an answer
            if isinstance(exc, _BodyTooLarge):
                exc = too_large
            if not isinstance(exc, ApiError):
                log.error("request %s %s %s failed: %s", rid, scope.get("method"), scope.get("path"), _where(exc))
                exc = ApiError(500, f"internal error: nothing was checked, do not publish; "
                                    f"report request id {rid}")
            if status == 0:
                resp = _error_response(exc.status, exc.message, rid, exc.fields, exc.headers)
                await resp(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            access_log.info("%s %s %d %.1fms rid=%s key=%s", scope.get("method"),
                            path if path in KNOWN_PATHS else "<other path>", status,
                            (time.perf_counter() - started) * 1000, rid, state.get("key_name", "-"))


# ----------------------------------------------------------------------------------------------
# Request parsing
# ----------------------------------------------------------------------------------------------
def _safe_name(filename: str | None, index: int, ext: str) -> str:
    base = Path((filename or "").replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:100]
    return base or f"image{index + 1}{ext}"


def _bad_strings(value: Any, path: str) -> str | None:
    """The path of the first string that is not valid Unicode (lone surrogates from JSON escapes)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
    elif isinstance(value, dict):
        for n, (k, v) in enumerate(value.items(), 1):
            name = k if k in ITEM_FIELDS else f"(key {n})"  # never the client's own key: it can be PHI
            bad = _bad_strings(k, path or "item") or _bad_strings(v, f"{path}.{name}" if path else name)
            if bad:
                return bad
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad = _bad_strings(v, f"{path}[{i}]")
            if bad:
                return bad
    return None


def _field_problems(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    out = []
    for e in exc.errors(include_input=False, include_url=False):
        loc = _loc(e.get("loc", ()))
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "item")
        head = str(e.get("loc", ("",))[0]) if e.get("loc") else ""
        if head == "kind":
            problem = f"must be one of {', '.join(KINDS)}"
        elif head == "channel":
            problem = f"must be one of {', '.join(CHANNELS)}"
        else:
            problem = str(e.get("msg", "invalid")).replace("Value error, ", "")
        out.append({"field": field, "problem": problem})
    return out


def _to_item(data: Any, image_paths: list[str], image_names: list[str], default_id: str,
             prefix: str = "") -> tuple[Item, Item]:
    """(the Item to scan, the Item to store) or an ApiError naming the field; never quotes content."""
    where = prefix or "body"

    def bad(field: str, problem: str) -> ApiError:
        name = f"{prefix}.{field}" if prefix else field
        return ApiError(422, f"invalid item: {name}: {problem}", [{"field": name, "problem": problem}])

    if not isinstance(data, dict):
        raise ApiError(422, f"invalid item: {where}: expected a JSON object (an item)",
                       [{"field": where, "problem": "expected a JSON object (an item)"}])
    surrogate = _bad_strings(data, "")
    if surrogate is not None:
        raise bad(surrogate or "item", "not valid Unicode (unpaired surrogate)")
    extra = _unexpected(data, ITEM_FIELDS)
    if extra is not None:
        raise bad("item", f"unexpected field (key {extra} of the object); an item has only "
                          f"{', '.join(ITEM_FIELDS)}")
    data = dict(data)
    for required in ("kind", "channel"):
        if required not in data:
            raise bad(required, "required")
    if "text" not in data and not image_paths:
        raise bad("text", "required")
    named = data.pop("images", None)
    if named:
        if not image_paths:
            raise bad("images", "send images as multipart/form-data file uploads; a JSON item cannot name files")
        if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
            raise bad("images", "expected a list of uploaded file names")
        for i, n in enumerate(named):
            if _safe_name(n, i, "") not in image_names:
                raise bad(f"images[{i}]", "no uploaded file has this name")
    if data.get("id") is None:
        data["id"] = default_id
    try:
        item = Item(**data, images=image_paths)
    except ValidationError as exc:
        problems = _field_problems(exc, prefix)
        raise ApiError(422, "invalid item: " + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
                       problems) from None
    except TypeError:
        raise bad("item", "unexpected fields") from None
    if not item.text.strip() and not item.images:
        raise bad("text", "empty: nothing to check")
    return item, item.model_copy(update={"images": list(image_names)})


async def _read_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        raise _invalid("body", "empty: send an item as JSON")
    return _parse_json(body, "body")


def _parse_json(blob: bytes, where: str) -> Any:
    """BLOB as JSON (UTF-8, a byte-order mark allowed); a 400 naming WHERE and what is wrong otherwise."""
    try:
        return json.loads(blob.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _invalid(where, f"not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _invalid(where, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise _invalid(where, "JSON nested too deeply") from None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


# ----------------------------------------------------------------------------------------------
# The app
# ----------------------------------------------------------------------------------------------
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "malformed request (Content-Length, multipart framing)"},
    401: {"model": ErrorBody, "description": "missing, invalid or revoked API key"},
    413: {"model": ErrorBody, "description": "body, image, image count or batch too large"},
    415: {"model": ErrorBody, "description": "unsupported content type or image type"},
    422: {"model": ErrorBody, "description": "invalid item; `fields` names each problem"},
    429: {"model": ErrorBody, "description": "rate limit exceeded; see Retry-After"},
    500: {"model": ErrorBody, "description": "internal error; nothing was checked, do not publish"},
    503: {"model": ErrorBody, "description": "server busy or starting; retry"},
}


def create_app(store: Any = None, scanner: Any = None, settings: Settings | None = None) -> FastAPI:
    """The reply-gate app. With no store/scanner, the lifespan loads them ($MEDSPA_SCAN_HOME)."""
    settings = settings or Settings.from_env()
    engine: Engine
    if scanner is not None or settings.workers == 0:
        engine = ThreadEngine(store, scanner, settings.max_pending, settings.registry_refresh_seconds)
    else:
        engine = ProcessEngine(store, settings.workers, settings.max_pending, settings.registry_refresh_seconds)
    limiter = apikeys.RateLimiter(settings.rate_per_minute)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(engine.start)
        yield
        engine.close()

    app = FastAPI(
        title="MedSpa Compliance Scanner: reply gate", version="1", lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,  # served below, behind the key like everything else
        description="Checks review replies, posts and messages for patient information before they go out. "
                    "Publish only when `verdict` is `pass`; otherwise offer `suggested_text`.",
    )
    app.state.engine = engine
    app.add_middleware(_Guard, settings=settings)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.message, _rid(request.scope), exc.fields, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error_response(exc.status_code, str(exc.detail), _rid(request.scope),
                               headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": _loc(e.get("loc", ())), "problem": str(e.get("msg", "invalid"))} for e in exc.errors()]
        return _error_response(422, "invalid request", _rid(request.scope), problems)

    def authenticate(request: Request) -> apikeys.KeyInfo:
        """The caller's key (401 without a valid one, 429 over its rate limit). Runs in the thread pool."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        info = apikeys.verify(engine.store, token.strip()) if scheme.lower() == "bearer" else None
        if info is None:
            raise ApiError(401, "missing, invalid or revoked API key: send 'Authorization: Bearer KEY' "
                                "(create one with 'medspa-scan apikeys create NAME')",
                           headers={"WWW-Authenticate": "Bearer"})
        request.state.key_name = info.name
        limit = info.rate_per_minute or settings.rate_per_minute
        ok, wait = limiter.allow(info.name, limit)
        if not ok:
            raise ApiError(429, f"rate limit of {limit} requests a minute exceeded for key {info.name!r}; "
                                f"retry in {wait} s", headers={"Retry-After": str(wait)})
        return info

    def ready() -> None:
        if not engine.ready:
            raise ApiError(503, "starting: models are loading", headers={"Retry-After": "2"})

    @app.get("/healthz", openapi_extra={"security": []},
             responses={503: {"model": ErrorBody, "description": "starting"}})
    async def healthz() -> dict[str, Any]:
        """Liveness and readiness (no key needed)."""
        ready()
        return {"status": "ok", "rule_pack": engine.rule_pack}

    @app.get("/v1/rules", response_model=RulesResponse, responses={k: ERRORS[k] for k in (401, 429, 500)})
    async def rules(key: apikeys.KeyInfo = Depends(authenticate)) -> JSONResponse:  # noqa: B008
        """The loaded rule pack: every rule's id, category, severity, message, rationale, remediation, citation."""
        ready()
        pack = engine.rules
        return JSONResponse({"version": pack.version, "rules": [
            {k: v for k, v in r.meta().items() if k != "examples"} for r in pack.rules]})

    check_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}},
        "multipart/form-data": {
            "schema": {"type": "object", "required": ["item"], "properties": {
                "item": {"type": "string", "description": "the item as JSON text (same fields as the JSON body; "
                                                           "`text` may be empty when images are attached)"},
                "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                           "description": f"image files ({IMAGE_TYPES}); each up to the server's image size limit"},
            }},
            "encoding": {"images": {"contentType": "image/jpeg, image/png, image/webp, image/heic, image/avif"}},
        }}}}

    @app.post("/v1/check", response_model=CheckResult, openapi_extra=check_body,
              responses={k: v for k, v in ERRORS.items()})
    async def check(request: Request, key: apikeys.KeyInfo = Depends(authenticate)) -> JSONResponse:  # noqa: B008
        """Check one item (JSON, or multipart with an `item` JSON field and image files)."""
        ready()
        rid = _rid(request.scope)
        media = _media_type(request)
        tmp: Path | None = None
        try:
            if media == "multipart/form-data":
                tmp = Path(tempfile.mkdtemp(prefix="medspa-api-"))
                data, paths, names = await _read_multipart(request, tmp, settings)
            elif media in JSON_TYPES or media.endswith("+json"):
                data, paths, names = await _read_json(request), [], []
            else:
                raise ApiError(415, "unsupported content type: send application/json, or multipart/form-data "
                                    "with an `item` field and image files")
            item, stored = _to_item(data, paths, names, default_id=rid)
            [result] = await _checked(engine, [item], [stored], key.name)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return JSONResponse(without_registry(result).public())  # an API key never sees registry details

    batch_body = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "title": "BatchRequest", "required": ["items"], "additionalProperties": False,
        "properties": {"items": {
            "type": "array", "minItems": 1, "maxItems": settings.max_batch, "items": {"$ref": "#/components/schemas/Item"},
            "description": "items in the input shape (no images); a bare JSON array is accepted too"}}}}}}}

    @app.post("/v1/batch", response_model=BatchResponse, openapi_extra=batch_body,
              responses={k: v for k, v in ERRORS.items()})
    async def batch(request: Request, key: apikeys.KeyInfo = Depends(authenticate)) -> JSONResponse:  # noqa: B008
        """Check up to the server's batch limit of items (JSON, no images). A bad item is reported with its
        index and the others are still checked."""
        ready()
        rid = _rid(request.scope)
        media = _media_type(request)
        if not (media in JSON_TYPES or media.endswith("+json")):
            raise ApiError(415, "unsupported content type: send application/json ({\"items\": [...]})")
        data = await _read_json(request)
        raw = data.get("items") if isinstance(data, dict) else data
        extra = _unexpected(data, ("items",)) if isinstance(data, dict) else None
        if extra is not None:
            raise _invalid("body", f"unexpected field (key {extra} of the object); send {{\"items\": [...]}}")
        if not isinstance(raw, list):
            raise _invalid("items", "required: a JSON array of items")
        if len(raw) > settings.max_batch:
            raise ApiError(413, f"batch has {len(raw)} items; the limit is {settings.max_batch} per request")
        if not raw:
            raise _invalid("items", "empty: nothing to check")
        out: list[dict[str, Any] | None] = [None] * len(raw)
        good: list[tuple[int, Item, Item]] = []
        for i, obj in enumerate(raw):
            try:
                item, stored = _to_item(obj, [], [], default_id=f"{rid}-{i}", prefix=f"items[{i}]")
                good.append((i, item, stored))
            except ApiError as exc:
                ident = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None
                out[i] = {"index": i, "id": ident[:200] if ident and _bad_strings(ident, "") is None else None,
                          "error": "invalid item", "fields": exc.fields or []}
        counts: dict[str, int] = {"items": len(raw), "invalid": len(raw) - len(good)}
        if good:
            results = await _checked(engine, [g[1] for g in good], [g[2] for g in good], key.name)
            for (i, _, _), res in zip(good, results, strict=True):
                out[i] = {"index": i, **without_registry(res).public()}
                counts[res.verdict] = counts.get(res.verdict, 0) + 1
        return JSONResponse({"results": out, "counts": counts})

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(key: apikeys.KeyInfo = Depends(authenticate)) -> JSONResponse:  # noqa: B008
        return JSONResponse(app.openapi())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        comps = schema.setdefault("components", {})
        comps.setdefault("securitySchemes", {})["bearerAuth"] = {
            "type": "http", "scheme": "bearer", "description": "an API key from `medspa-scan apikeys create NAME`"}
        schemas = comps.setdefault("schemas", {})
        item = CheckItem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(item.pop("$defs", {}))
        schemas["Item"] = item
        schema["security"] = [{"bearerAuth": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _read_multipart(request: Request, tmp: Path, settings: Settings) -> tuple[Any, list[str], list[str]]:
    """The `item` JSON and the uploaded images saved under TMP (type sniffed, size checked)."""
    try:
        form = await request.form(max_files=settings.max_images, max_fields=20, max_part_size=settings.max_body_bytes)
    except StarletteHTTPException as exc:
        detail = str(exc.detail)
        if "Too many files" in detail:
            raise ApiError(413, f"too many images: the limit is {settings.max_images} per item") from None
        if "exceeded maximum size" in detail:
            raise ApiError(413, f"the `item` field is too large: the limit is {settings.max_body_bytes:,} bytes") from None
        if "Too many fields" in detail:
            raise ApiError(413, "too many form fields: send `item` and image files only") from None
        raise ApiError(400, "the multipart body could not be parsed") from None
    try:
        raw = form.get("item")
        if raw is None:
            raise _invalid("item", "required: the item as JSON text")
        if isinstance(raw, UploadFile):
            blob = await raw.read(settings.max_body_bytes + 1)
            if len(blob) > settings.max_body_bytes:
                raise ApiError(413, f"the `item` field is too large: the limit is {settings.max_body_bytes:,} bytes")
        else:
            blob = raw.encode("utf-8", "surrogatepass")
        data = _parse_json(blob, "item")
        uploads = [(field, v) for field, v in form.multi_items() if isinstance(v, UploadFile) and field != "item"]
        others = [field for field, v in form.multi_items() if not isinstance(v, UploadFile) and field != "item"]
        if others:
            raise _invalid(others[0][:60], "unexpected form field: send `item` and image files only")
        paths: list[str] = []
        names: list[str] = []
        for i, (field, up) in enumerate(uploads):
            label = f"image {i + 1} (form field {field[:40]!r})"
            head = await up.read(32)
            if not head:
                raise _invalid(field[:60], f"{label} is empty")
            ext = sniff(head)
            if ext is None:
                raise ApiError(415, f"{label}: unsupported image type; send {IMAGE_TYPES}")
            name = _safe_name(up.filename, i, ext)
            if name in names:
                name = f"{i + 1}-{name}"
            folder = tmp / str(i)
            folder.mkdir()
            dest = folder / name
            size = len(head)
            with dest.open("wb") as out:
                out.write(head)
                while chunk := await up.read(1 << 20):
                    size += len(chunk)
                    if size > settings.max_image_bytes:
                        raise ApiError(413, f"{label} is larger than the {settings.max_image_bytes:,}-byte limit")
                    out.write(chunk)
            paths.append(str(dest))
            names.append(name)
        return data, paths, names
    finally:
        await form.close()


async def _checked(engine: Engine, items: list[Item], stored: list[Item], key_name: str) -> list[ScanResult]:
    try:
        return await engine.check(items, stored, key_name)
    except EngineBusy:
        raise ApiError(503, "server busy: too many checks queued; retry shortly", headers={"Retry-After": "1"}) from None


def app_factory() -> FastAPI:
    """What uvicorn workers call (`medspa-scan serve`): settings from the environment, models loaded
    in each worker's lifespan."""
    return create_app()
