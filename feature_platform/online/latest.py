"""Reducing feature rows to the newest row per entity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def latest_per_entity(
    table: pa.Table,
    join_keys: Sequence[str],
    *,
    event_column: str = "event_timestamp",
    created_column: str = "created_timestamp",
) -> pa.Table:
    """One row per entity: the one with the largest (event, created) pair.

    Only the key and time columns are sorted and compared; the wide feature columns are
    taken once, for the chosen rows (a backfill reduces millions of rows to a few thousand).
    """
    if table.num_rows <= 1:
        return table
    keys = list(join_keys)
    order = pc.sort_indices(
        table.select([*keys, event_column, created_column]),
        sort_keys=[*((k, "ascending") for k in keys), (event_column, "descending"), (created_column, "descending")],
    )
    ordered_keys = table.select(keys).take(order)
    first = np.zeros(ordered_keys.num_rows, dtype=bool)
    first[0] = True
    for key in keys:
        column = ordered_keys.column(key).combine_chunks()
        changed = pc.not_equal(column.slice(1), column.slice(0, len(column) - 1))
        first[1:] |= changed.to_numpy(zero_copy_only=False)
    return table.take(order.filter(pa.array(first)))
