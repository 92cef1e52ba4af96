"""The row contract: how rows and timestamps coming in are converted, in one place.

:func:`view_table` converts caller rows to a feature view's table (every writer uses it);
:mod:`feature_platform.rows.timestamps` holds the UTC-microsecond rule.
"""

from feature_platform.rows.conversion import as_arrow, conform, to_pandas, view_table
from feature_platform.rows.timestamps import (
    UTC_MICROS,
    as_utc,
    epoch_micros,
    from_micros,
    utc_micros_column,
)

__all__ = [
    "UTC_MICROS",
    "as_arrow",
    "as_utc",
    "conform",
    "epoch_micros",
    "from_micros",
    "to_pandas",
    "utc_micros_column",
    "view_table",
]
