"""Property tests: the DuckDB engine equals the brute-force reference on random small inputs."""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feature_platform.offline import OfflineStore, point_in_time_join
from feature_platform_tests.offline.cases import (
    SHAPES,
    Case,
    feature_table,
    random_case,
    view_for,
)
from feature_platform_tests.offline.reference import reference_join

SOURCE_KINDS = ["pandas", "arrow", "parquet", "store"]


def feature_values(result: pa.Table, entity: pd.DataFrame) -> list[dict[str, Any]]:
    """The joined feature columns of ``result`` as one dict per row."""
    names = [n for n in result.column_names if n not in entity.columns]
    return result.select(names).to_pylist()


def engine_tables(case: Case, kind: str, workdir: Path) -> list[Any]:
    tables = []
    for shape in case.shapes:
        frame = case.frames[shape.name]
        if kind == "pandas":
            source: Any = frame
        elif kind == "arrow":
            source = pa.Table.from_pandas(frame, preserve_index=False)
        elif kind == "parquet":
            # Two files, so source order spans files.
            half = len(frame) // 2
            for i, part in enumerate([frame.iloc[:half], frame.iloc[half:]]):
                part.to_parquet(workdir / f"{shape.name}-{i}.parquet", index=False)
            source = str(workdir / f"{shape.name}-*.parquet")
        else:
            store = OfflineStore(workdir / "store")
            view = view_for(shape)
            store.write_partitions(
                view,
                datetime(2026, 1, 9, tzinfo=UTC),
                datetime(2026, 1, 16, tzinfo=UTC),
                frame,
            )
            tables.append(store.feature_table(view, shape.features))
            continue
        tables.append(feature_table(shape, source))
    return tables


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rnd=st.randoms(use_true_random=False),
    shape_mask=st.sets(st.sampled_from(range(len(SHAPES))), min_size=1),
    kind=st.sampled_from(SOURCE_KINDS),
    inclusive=st.booleans(),
    full_names=st.booleans(),
    to_parquet=st.booleans(),
    tz=st.sampled_from([None, "UTC", "Asia/Kolkata", "America/New_York"]),
)
def test_duckdb_equals_reference(
    rnd: random.Random,
    shape_mask: set[int],
    kind: str,
    inclusive: bool,
    full_names: bool,
    to_parquet: bool,
    tz: str | None,
) -> None:
    shapes = [SHAPES[i] for i in sorted(shape_mask)]
    if kind == "store":
        shapes = [s for s in shapes if s.has_created] or [SHAPES[0]]
    case = random_case(rnd, shapes, tz=tz)
    expected = reference_join(
        case.entity,
        [feature_table(s, case.frames[s.name]) for s in shapes],
        inclusive=inclusive,
        full_feature_names=full_names,
    )
    with tempfile.TemporaryDirectory() as workdir:
        # In memory and streamed to Parquet, the engine runs different queries.
        result = point_in_time_join(
            case.entity,
            engine_tables(case, kind, Path(workdir)),
            inclusive=inclusive,
            full_feature_names=full_names,
            output="arrow",
            to_parquet=Path(workdir) / "out.parquet" if to_parquet else None,
        )
        if to_parquet:
            assert isinstance(result, Path)
            result = pq.read_table(result)
    assert isinstance(result, pa.Table)
    assert feature_values(result, case.entity) == expected
    # The caller's columns come back unchanged, row for row.
    assert result.select(list(case.entity.columns)).equals(
        pa.Table.from_pandas(case.entity, preserve_index=False)
    )
