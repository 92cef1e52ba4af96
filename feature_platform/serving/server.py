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

  Header ``X-Tenant`` picks the tenant (default: the store's). Errors are JSON
  ``{"error": <kind>, "detail": <message naming the problem>}``: 400 malformed body,
  403 unknown tenant, 404 unknown view/feature/service, 422 missing join key or wrong
  key type, 429 tenant over its rate limit, 503 Redis unavailable (the server stays up).
* ``GET /health``: 200 ``{"status": "ok"}`` when Redis answers, else 503.
* ``GET /metrics``: Prometheus text (latency histogram, Redis errors, cache hit ratio).
* ``GET /hot-keys``: the L1 cache's most read keys (the hot-entity detection step).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
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
from feature_platform.online import L1Cache, OnlineResponse, OnlineStore, RedisOnlineStore
from feature_platform.serving.metrics import ServerMetrics
from feature_platform.serving.rate_limit import TenantRateLimiter
from feature_platform.serving.requests import BadRequestError, parse_request
from feature_platform.settings import Settings
from feature_platform.specs import Registry, load_registry

logger = logging.getLogger(__name__)

TENANT_HEADER = "x-tenant"
DEFAULT_PORT = 6566


def _error(status: int, kind: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
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
        results.append({
            "values": [_jsonable(v) for v in values],
            "statuses": [s.value for s in statuses],
            "event_timestamps": [None if s is None else s.isoformat() for s in stamps],
        })
    return {"metadata": {"feature_names": [*response.join_keys, *response.feature_names]}, "results": results}


def create_app(
    registry: Registry,
    online_store: OnlineStore,
    *,
    rate_limiter: TenantRateLimiter | None = None,
    tenants: Collection[str] | None = None,
    max_entities: int = 1000,
    metrics: ServerMetrics | None = None,
) -> Starlette:
    """The feature server app over ``online_store``.

    ``tenants``: tenants a request may name in ``X-Tenant`` (default: the store's tenant
    and, for a RedisOnlineStore, every tenant of its routing). ``rate_limiter``: per-tenant
    request limits (default: none). ``max_entities``: entity rows per request.
    """
    cache = online_store.cache if isinstance(online_store, RedisOnlineStore) else None
    metrics = metrics or ServerMetrics(cache)
    if tenants is None:
        tenants = {online_store.tenant}
        if isinstance(online_store, RedisOnlineStore):
            tenants |= set(online_store.routing.tenants)
    allowed = frozenset(tenants)
    limiter = rate_limiter or TenantRateLimiter()

    def timed(endpoint: str, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
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

    async def get_online_features(request: Request) -> Response:
        tenant = request.headers.get(TENANT_HEADER, online_store.tenant)
        if tenant not in allowed:
            return _error(403, "unknown_tenant", f"Tenant {tenant!r} is not served here; known: {sorted(allowed)}")
        if not limiter.allow(tenant):
            metrics.rate_limited.labels(tenant).inc()
            return _error(429, "rate_limited", f"Tenant {tenant!r} is over its rate limit of {limiter.rate_for(tenant)} requests/s")
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            return _error(400, "bad_request", f"The body is not valid JSON: {exc}")
        try:
            parsed = parse_request(body, registry, max_entities)
            store = online_store.for_tenant(tenant)
            answer = await run_in_threadpool(
                store.read, parsed.requests, parsed.entity_rows, full_feature_names=parsed.full_feature_names
            )
        except (UnknownFeatureViewError, UnknownFeatureError, UnknownFeatureServiceError) as exc:
            return _error(404, "unknown_feature", str(exc))
        except BadRequestError as exc:
            return _error(400, "bad_request", str(exc))
        except SpecError as exc:
            return _error(400, "bad_request", str(exc))
        except SchemaError as exc:
            return _error(422, "invalid_entities", str(exc))
        except (OnlineStoreUnavailableError, OnlineStoreError) as exc:
            return store_failure(exc)
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
        if cache is None:
            return JSONResponse({"hot_keys": [], "detail": "no L1 cache configured"})
        top = cache.hot_keys.top(int(request.query_params.get("n", "20")))
        return JSONResponse({"hot_keys": [
            {"tenant": k.tenant, "view": k.view, "entity": list(k.entity), "count": k.count} for k in top
        ]})

    return Starlette(
        routes=[
            Route("/get-online-features", timed("get-online-features", get_online_features), methods=["POST"]),
            Route("/health", timed("health", health), methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/hot-keys", hot_keys, methods=["GET"]),
        ]
    )


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    registry: Registry,
    online_store: OnlineStore,
    rate_limiter: TenantRateLimiter | None = None,
    log_level: str = "info",
) -> None:
    """Run the feature server in the foreground until interrupted."""
    import uvicorn

    app = create_app(registry, online_store, rate_limiter=rate_limiter)
    logger.info("feature server on http://%s:%d (online store %r)", host, port, online_store)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        online_store.close()


def run_server(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """``feature_platform serve``: the settings' feature registry, served from
    ``settings.redis_url`` for ``settings.tenant``, with the L1 cache."""
    store = RedisOnlineStore(settings.redis_url, settings.tenant, cache=L1Cache())
    serve(host, port, registry=load_registry(settings.registry), online_store=store)
