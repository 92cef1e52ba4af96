"""Deterministic raw e-commerce events for the demo: users, orders and page views.

:func:`generate_sample_data` lands a whole sample; :func:`land_batch` lands extra rows
(late arrivals, corrections). Files land as Parquet under
``<landing_dir>/<table>/ingest_date=YYYY-MM-DD/``, where the dbt project reads them.
"""

from feature_platform.sample_data.generator import SampleSummary, generate_sample_data
from feature_platform.sample_data.landing import land_batch
from feature_platform.sample_data.raw_schema import EVENT_TIME_COLUMNS, RAW_SCHEMAS

__all__ = [
    "EVENT_TIME_COLUMNS",
    "RAW_SCHEMAS",
    "SampleSummary",
    "generate_sample_data",
    "land_batch",
]
