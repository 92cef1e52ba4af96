"""``POST /push``: events into a stream source's log (the ingestion half of the real-time path).

Body ``{"source": "page_events", "rows": [{"user_id": 1, "event_timestamp":
"2026-11-26T12:00:00Z", "category": "shoes"}, ...]}``, header ``X-Tenant`` as for reads.
Answers:

* 200 ``{"accepted": 2, "partitions": {"0": 1, "3": 1}}``;
* 400 malformed body (fields named), 404 unknown source, 415/413 as for reads, 422 a bad row (``detail`` names row and column;
  nothing of the request was appended), 403 unknown tenant;
* 429 with ``Retry-After`` (seconds) when a partition of the source is more than its
  ``max_lag`` events behind (``"error": "backpressure"``) or the tenant is over its push
  rate (``"error": "rate_limited"``); nothing was appended, retry later;
* 503 when Redis is unavailable, 502 when it refused the push;
* 501 when the tenant's Redis is a Redis Cluster (the real-time path runs on a single Redis).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from feature_platform.errors import OnlineStoreError, OnlineStoreUnavailableError
from feature_platform.serving.requests import BadRequestError, parse_model
from feature_platform.specs import Registry
from feature_platform.streaming.errors import (
    BackpressureError,
    InvalidRowsError,
    RateLimitedError,
    StreamOnClusterError,
    UnknownStreamSourceError,
)
from feature_platform.streaming.push import TenantLogs, find_source

TENANT_HEADER = "x-tenant"
MAX_PUSH_ROWS = 10_000


class PushBody(BaseModel):
    """``POST /push``: the stream source and its events (checked against the source's schema)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The stream source's name.")
    rows: list[dict[str, Any]] = Field(
        max_length=MAX_PUSH_ROWS,
        description="Events: the source's join keys, event timestamp (ISO 8601; naive means UTC) and fields.",
    )


class PushAnswer(BaseModel):
    """What a push appended."""

    accepted: int
    partitions: dict[str, int] = Field(description="Events appended per stream partition.")


def _error(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": str(max(1, math.ceil(extra["retry_after"])))} if "retry_after" in extra else None
    return JSONResponse({"error": kind, "detail": detail, **extra}, status_code=status, headers=headers)


def push_handler(
    registry: Registry,
    logs: TenantLogs,
    default_tenant: str,
    tenants: Collection[str],
    on_refused: Callable[[str, str], None] | None = None,
) -> Callable[[Request, bytes], Awaitable[Response]]:
    """The ``POST /push`` handler of a JSON body (see the module docstring).
    ``on_refused(tenant, kind)`` is told of every 429 (for metrics)."""
    allowed = frozenset(tenants)
    views = registry.views

    async def push(request: Request, raw: bytes) -> Response:
        tenant = request.headers.get(TENANT_HEADER, default_tenant)
        if tenant not in allowed:
            return _error(403, "unknown_tenant", f"Tenant {tenant!r} is not served here; known: {sorted(allowed)}")
        try:
            body: PushBody = parse_model(PushBody, raw)
            source = find_source(views, body.source)
            result = await run_in_threadpool(logs.for_tenant(tenant).push, source, body.rows)
        except BadRequestError as exc:
            return _error(400, "bad_request", str(exc), errors=exc.errors)
        except UnknownStreamSourceError as exc:
            return _error(404, "unknown_source", str(exc))
        except InvalidRowsError as exc:
            return _error(422, "invalid_rows", str(exc), row=exc.row, column=exc.column)
        except BackpressureError as exc:
            if on_refused is not None:
                on_refused(tenant, "backpressure")
            return _error(429, "backpressure", str(exc), retry_after=exc.retry_after, partition=exc.partition, lag=exc.lag)
        except RateLimitedError as exc:
            if on_refused is not None:
                on_refused(tenant, "rate_limited")
            return _error(429, "rate_limited", str(exc), retry_after=exc.retry_after)
        except StreamOnClusterError as exc:
            return _error(501, "push_not_supported", str(exc))
        except OnlineStoreUnavailableError as exc:
            return _error(503, "stream_unavailable", str(exc))
        except OnlineStoreError as exc:
            return _error(502, "stream_error", str(exc))
        return JSONResponse({"accepted": result.accepted, "partitions": {str(p): n for p, n in result.partitions.items()}})

    return push
