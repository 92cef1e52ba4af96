"""The HTTP feature server (Starlette on uvicorn).

Endpoints:

* ``POST /get-online-features``: body ``{"entities": {"user_id": [1, 2]}`` (or a list of
  rows), ``"features": ["view:feature", ...]`` or ``"feature_service": "name"``,
  ``"full_feature_names": false}``. The answer has Feast's shape::

      {"metadata": {"feature_names": ["user_id", "country", ...]},
       "results": [{"values": [1, 2], "statuses": ["PRESENT", "PRESENT"],
                    "event_timestamps": [null, null]},                       # join key
                   {"values": ["US", null], "statuses": ["PRESENT", "NOT_FOUND"],
                    "event_timestamps": ["2026-01-15T10:00:00+00:00", null]}, ...]}

  ``metadata.served_from`` is ``"online_store"``, or ``"l1_cache_stale"`` when Redis was
  unavailable and the L1 cache held every requested value: each feature column then also
  has ``"cache_ages_ms"``, how long ago each cached copy was read from Redis.

  Header ``X-Tenant`` picks the tenant (default: the store's); the body must be sent as
  ``Content-Type: application/json``. Errors are JSON ``{"error": <kind>, "detail":
  <message naming the problem>}`` (plus ``"errors": [{"field", "message"}]`` for a malformed
  body): 400 malformed body, 403 unknown tenant, 404 unknown view/feature/service, 413 body
  over 4 MiB, 415 not JSON, 422 missing join key or wrong key type, 429 tenant over its rate
  limit, 503 Redis unavailable (within the online read timeout: ``settings.online_read``;
  the server stays up). Unknown paths (404) and methods (405)
  answer the same JSON error.
* ``POST /push``: events into a stream source's log (:mod:`.push_endpoint`): 200, 422 for
  a bad row (row and column named, nothing appended), 429 + ``Retry-After`` under
  backpressure or over the tenant's push rate, 503 Redis unavailable.
* ``GET /health``: 200 ``{"status": "ok"}`` when Redis answers, else 503.
* ``GET /metrics``: Prometheus text (latency histogram, Redis errors, cache hit ratio, top
  hot keys, each shard's ops/s and the hot-shard alert level, see
  :mod:`feature_platform.online.hotspots`).
* ``GET /hot-keys?n=20``: the L1 cache's most read keys (the hot-entity detection step).
* ``GET /openapi.json``: the OpenAPI 3.1 document of these endpoints.

Request bodies are pydantic models (:mod:`feature_platform.serving.requests`); answers are
written by hand on the hot path, in the shape of the response models there.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feature_platform.errors import (
    OnlineStoreError,
    OnlineStoreUnavailableError,
    SchemaError,
    SpecError,
    UnknownFeatureError,
    UnknownFeatureServiceError,
    UnknownFeatureViewError,
)
from feature_platform.online import L1Cache, L2Cache, OnlineResponse, OnlineStore, RedisOnlineStore
from feature_platform.serving.metrics import ServerMetrics
from feature_platform.serving.push_endpoint import PushAnswer, PushBody, push_handler
from feature_platform.serving.rate_limit import TenantRateLimiter
from feature_platform.serving.requests import (
    BadRequestError,
    ErrorBody,
    HealthAnswer,
    HotKeysAnswer,
    HotKeysQuery,
    OnlineFeaturesAnswer,
    OnlineFeaturesBody,
    parse_model,
    parse_request,
)
from feature_platform.settings import Settings
from feature_platform.specs import Registry
from feature_platform.streaming.push import TenantLogs

logger = logging.getLogger(__name__)

TENANT_HEADER = "x-tenant"
DEFAULT_PORT = 6566
MAX_BODY_BYTES = 4 * 1024 * 1024
_HTTP_ERROR_KINDS = {404: "not_found", 405: "method_not_allowed"}

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    """One route of the server and what its OpenAPI entry says about it.

    ``body``: the JSON request model (the route then requires ``Content-Type: application/json``);
    ``answer``: the 200 answer's model (None for a non-JSON answer such as /metrics).
    """

    path: str
    method: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()


def _error(status: int, kind: str, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": kind, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN or infinity: write them as protobuf's JSON mapping does, so the
        # answer keeps the value the SDK returns (with the same status), never a null.
        return "NaN" if math.isnan(value) else _NON_FINITE[value]
    return value


def response_json(response: OnlineResponse) -> dict[str, Any]:
    """The Feast-shaped JSON body of an online read (see the module docstring)."""
    data = response.to_dict(include_metadata=False)
    results: list[dict[str, Any]] = []
    size = len(response)
    for key in response.join_keys:
        results.append({"values": data[key], "statuses": ["PRESENT"] * size, "event_timestamps": [None] * size})
    for name in response.feature_names:
        values, stamps, statuses = response.column(name)
        column: dict[str, Any] = {
            "values": [_jsonable(v) for v in values],
            "statuses": [s.value for s in statuses],
            "event_timestamps": [None if s is None else s.isoformat() for s in stamps],
        }
        ages = response.column_cache_ages(name)
        if ages is not None:
            column["cache_ages_ms"] = ages
        results.append(column)
    metadata = {"feature_names": [*response.join_keys, *response.feature_names], "served_from": response.served_from}
    return {"metadata": metadata, "results": results}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    """The body, refused (before reading it all) when over MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _with_json_body(handler: Callable[[Request, bytes], Awaitable[Response]]) -> Handler:
    """A handler of a JSON body: 415 unless the body is declared JSON, 413 when too large."""

    async def run(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not _is_json(content_type):
            return _error(415, "unsupported_media_type",
                          f"Send the body as JSON with 'Content-Type: application/json' (got {content_type!r})")
        try:
            body = await _read_body(request)
        except _BodyTooLarge:
            return _error(413, "body_too_large", f"The body is over {MAX_BODY_BYTES} bytes; send fewer entities per request")
        return await handler(request, body)

    return run


def _push_endpoints(
    registry: Registry, online_store: OnlineStore, logs: TenantLogs | None, tenants: Collection[str], metrics: ServerMetrics
) -> list[Endpoint]:
    """``POST /push`` (:mod:`.push_endpoint`) over ``logs``, by default the event logs on the
    store's Redis (``OnlineStore.event_logs``); none for a store without event logs."""
    if logs is None:
        logs = online_store.event_logs()
        if logs is None:
            return []
    handler = push_handler(
        registry, logs, online_store.tenant, tenants, on_refused=lambda tenant, _: metrics.rate_limited.labels(tenant).inc()
    )
    return [Endpoint("/push", "POST", _with_json_body(handler), "Append events to a stream source's log",
                     body=PushBody, answer=PushAnswer, errors=(400, 403, 404, 413, 415, 422, 429, 501, 502, 503))]


def openapi_schema(endpoints: Collection[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``endpoints``, its schemas generated from their models."""
    models = {ErrorBody} | {m for e in endpoints for m in (e.body, e.answer) if m is not None}
    refs, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    error = {"description": "Error", "content": {"application/json": {"schema": refs[(ErrorBody, "validation")]}}}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {"summary": endpoint.summary, "responses": {}}
        if endpoint.answer is not None:
            schema = refs[(endpoint.answer, "validation")]
            operation["responses"]["200"] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
        else:
            operation["responses"]["200"] = {"description": "OK"}
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True, "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
            }
        if endpoint.query is not None:
            operation["parameters"] = [
                {"name": name, "in": "query", "required": field.is_required(),
                 "schema": endpoint.query.model_json_schema()["properties"][name]}
                for name, field in endpoint.query.model_fields.items()
            ]
        for status in endpoint.errors:
            operation["responses"][str(status)] = error
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "feature_platform feature server", "version": "1"},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {})},
    }


def create_app(
    registry: Registry,
    online_store: OnlineStore,
    *,
    rate_limiter: TenantRateLimiter | None = None,
    tenants: Collection[str] | None = None,
    max_entities: int = 1000,
    metrics: ServerMetrics | None = None,
    extra_endpoints: Collection[Endpoint] = (),
    stream_logs: TenantLogs | None = None,
) -> Starlette:
    """The feature server app over ``online_store``.

    ``tenants``: tenants a request may name in ``X-Tenant`` (default: the store's tenant
    and every tenant it routes: ``OnlineStore.served_tenants``). ``rate_limiter``: per-tenant
    request limits (default: none). ``max_entities``: entity rows per request.
    ``extra_endpoints`` join the routing table (and the OpenAPI document).
    ``stream_logs``: the event logs ``POST /push`` appends to (default: on the store's Redis).
    """
    cache = online_store.cache
    metrics = metrics or ServerMetrics(cache, online_store.shard_loads)
    allowed = online_store.served_tenants() if tenants is None else frozenset(tenants)
    limiter = rate_limiter or TenantRateLimiter()

    def timed(endpoint: str, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            response = await handler(request)
            metrics.latency.labels(endpoint, str(response.status_code)).observe(time.perf_counter() - started)
            return response

        return run

    def store_failure(exc: OnlineStoreError | OnlineStoreUnavailableError) -> JSONResponse:
        unavailable = isinstance(exc, OnlineStoreUnavailableError)
        metrics.redis_errors.labels("unavailable" if unavailable else "error").inc()
        logger.warning("online store failure: %s", exc)
        if unavailable:
            return _error(503, "online_store_unavailable", str(exc))
        return _error(502, "online_store_error", str(exc))

    async def get_online_features(request: Request, body: bytes) -> Response:
        tenant = request.headers.get(TENANT_HEADER, online_store.tenant)
        if tenant not in allowed:
            return _error(403, "unknown_tenant", f"Tenant {tenant!r} is not served here; known: {sorted(allowed)}")
        if not limiter.allow(tenant):
            metrics.rate_limited.labels(tenant).inc()
            return _error(429, "rate_limited", f"Tenant {tenant!r} is over its rate limit of {limiter.rate_for(tenant)} requests/s")
        try:
            parsed = parse_request(body, registry, max_entities)
            store = online_store.for_tenant(tenant)
            answer = await run_in_threadpool(
                store.read, parsed.requests, parsed.entity_rows, full_feature_names=parsed.full_feature_names
            )
        except (UnknownFeatureViewError, UnknownFeatureError, UnknownFeatureServiceError) as exc:
            return _error(404, "unknown_feature", str(exc))
        except BadRequestError as exc:
            return _error(400, "bad_request", str(exc), exc.errors)
        except SpecError as exc:
            return _error(400, "bad_request", str(exc))
        except SchemaError as exc:
            return _error(422, "invalid_entities", str(exc))
        except (OnlineStoreUnavailableError, OnlineStoreError) as exc:
            return store_failure(exc)
        if answer.cache_ages_ms is not None:
            metrics.l1_fallbacks.inc()
        return JSONResponse(response_json(answer))

    async def health(request: Request) -> Response:
        try:
            await run_in_threadpool(online_store.ping)
        except (OnlineStoreUnavailableError, OnlineStoreError) as exc:
            metrics.redis_errors.labels("unavailable").inc()
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def hot_keys(request: Request) -> Response:
        try:
            query: HotKeysQuery = parse_model(HotKeysQuery, dict(request.query_params))
        except BadRequestError as exc:
            return _error(400, "bad_request", str(exc), exc.errors)
        if cache is None:
            return JSONResponse({"hot_keys": [], "detail": "no L1 cache configured"})
        return JSONResponse({"hot_keys": [
            {"tenant": k.tenant, "view": k.view, "entity": list(k.entity), "count": k.count}
            for k in cache.hot_keys.top(query.n)
        ]})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    endpoints = [
        Endpoint("/get-online-features", "POST", timed("get-online-features", _with_json_body(get_online_features)),
                 "Latest feature values of entities", body=OnlineFeaturesBody, answer=OnlineFeaturesAnswer,
                 errors=(400, 403, 404, 415, 422, 429, 503)),
        Endpoint("/health", "GET", timed("health", health), "Whether the online store answers",
                 answer=HealthAnswer, errors=(503,)),
        Endpoint("/metrics", "GET", metrics_endpoint, "Prometheus metrics"),
        Endpoint("/hot-keys", "GET", hot_keys, "The L1 cache's most read keys", answer=HotKeysAnswer,
                 query=HotKeysQuery, errors=(400,)),
        *_push_endpoints(registry, online_store, stream_logs, allowed, metrics),
        *extra_endpoints,
    ]
    endpoints.append(Endpoint("/openapi.json", "GET", openapi, "This document"))
    document = openapi_schema(endpoints)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            known = ", ".join(f"{e.method} {e.path}" for e in endpoints)
            detail = f"No endpoint at {request.url.path}; the endpoints are {known}"
        elif status == 405:
            allowed_methods = sorted({e.method for e in endpoints if e.path == request.url.path})
            detail = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed_methods)}"
        else:
            detail = str(exc.detail) if isinstance(exc, HTTPException) else "internal error"
        headers = getattr(exc, "headers", None)
        response = _error(status, _HTTP_ERROR_KINDS.get(status, "http_error"), detail)
        if headers:
            response.headers.update(headers)
        return response

    async def internal_error(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"The server failed on this request: {type(exc).__name__}")

    return Starlette(
        routes=[Route(e.path, e.handler, methods=[e.method]) for e in endpoints],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    registry: Registry,
    online_store: OnlineStore,
    rate_limiter: TenantRateLimiter | None = None,
    tenants: Collection[str] | None = None,
    max_entities: int = 1000,
    log_level: str = "info",
    stream_logs: TenantLogs | None = None,
) -> None:
    """Run the feature server in the foreground until interrupted (``stream_logs``: see
    :func:`create_app`)."""
    import uvicorn

    app = create_app(
        registry, online_store, rate_limiter=rate_limiter, tenants=tenants, max_entities=max_entities,
        stream_logs=stream_logs,
    )
    logger.info("feature server on http://%s:%d (online store %r)", host, port, online_store)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        online_store.close()


def run_server(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """``feature-platform serve``: the settings' feature registry for every configured tenant
    (``X-Tenant``; routed and rate-limited by ``settings.tenants``), with the L1 cache and
    ``settings.online_read`` (replica reads, L2 cache, read timeouts, and, with
    ``spread_hot_keys_above``, the spreading of the hot keys its tracker detects).
    ``host`` and ``port`` default to ``settings.server``."""
    reading = settings.online_read
    store = RedisOnlineStore(
        settings.redis_url, settings.tenant, cache=L1Cache(), tenants=settings.tenant_routing(),
        replica_reads=reading.replica_reads, l2=L2Cache(reading.l2_url) if reading.l2_url else None,
        **settings.online_timeouts(),
        generation_refresh_s=reading.generation_refresh_s,
    )
    registry = settings.load_registry()
    promoter = None
    if reading.spread_hot_keys_above is not None:
        from feature_platform.online.hot_key_promotion import HotKeyPromoter, PromotionPolicy

        policy = PromotionPolicy(min_reads_per_s=reading.spread_hot_keys_above, copies=reading.spread_copies)
        promoter = HotKeyPromoter(store, {v.name: v for v in registry.views}, policy).start(reading.spread_interval_s)
    try:
        serve(
            host or settings.server.host, port or settings.server.port,
            registry=registry, online_store=store,
            rate_limiter=settings.rate_limiter(), tenants=settings.served_tenants(),
            max_entities=settings.server.max_entities,
            stream_logs=TenantLogs(settings.redis_url, settings.tenant_routing(), rate_limiter=settings.push_rate_limiter()),
        )
    finally:
        if promoter is not None:
            promoter.stop()
