"""The raw schema of the demo e-commerce events as they land, before dbt cleans them."""

from __future__ import annotations

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "JP")
PLANS = ("free", "pro", "enterprise")
PAGES = ("/", "/search", "/category", "/product", "/cart", "/checkout", "/account")

RAW_SCHEMAS: dict[str, pa.Schema] = {
    "users": pa.schema(
        [
            pa.field("user_id", pa.int64(), nullable=False),
            pa.field("signup_at", UTC_MICROS, nullable=False),
            pa.field("country", pa.string(), nullable=False),
            pa.field("plan", pa.string(), nullable=False),
            pa.field("updated_at", UTC_MICROS, nullable=False),
            pa.field("ingested_at", UTC_MICROS, nullable=False),
        ]
    ),
    "orders": pa.schema(
        [
            pa.field("order_id", pa.int64(), nullable=False),
            pa.field("user_id", pa.int64(), nullable=False),
            pa.field("ordered_at", UTC_MICROS, nullable=False),
            pa.field("amount", pa.float64(), nullable=False),
            pa.field("items", pa.int64(), nullable=False),
            pa.field("ingested_at", UTC_MICROS, nullable=False),
        ]
    ),
    "page_views": pa.schema(
        [
            pa.field("view_id", pa.int64(), nullable=False),
            pa.field("user_id", pa.int64(), nullable=False),
            pa.field("session_id", pa.string(), nullable=False),
            pa.field("viewed_at", UTC_MICROS, nullable=False),
            pa.field("page", pa.string(), nullable=False),
            pa.field("ingested_at", UTC_MICROS, nullable=False),
        ]
    ),
}
"""Columns, types and nullability of each raw table, in landing order."""

EVENT_TIME_COLUMNS: dict[str, str] = {
    "users": "updated_at",
    "orders": "ordered_at",
    "page_views": "viewed_at",
}
"""The column of each raw table that says when the event happened."""

INGESTED_AT = "ingested_at"
INGEST_DATE_PARTITION = "ingest_date"
