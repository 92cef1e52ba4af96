"""Deduplication in the staging models is deterministic: raw rows equal on (key, event time,
ingested_at) but different in value resolve the same way in every `dbt build`, so repeated
builds give identical tables and the late-data sensor sees nothing to correct."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_platform.feature_repo.views import ALL_VIEWS
from feature_platform.materialization import read_source_window
from feature_platform.materialization.late_data import find_late_partitions
from feature_platform.offline import OfflineStore
from feature_platform.sample_data import generate_sample_data, land_batch
from feature_platform.settings import Settings
from feature_platform_tests.sample_platform import dbt_build

pytestmark = pytest.mark.slow

END = datetime(2026, 2, 3, tzinfo=UTC)
DAYS = 2
ALTERNATIVES = {"users": ("plan", ["free", "enterprise"]), "orders": ("amount", [1.0, 999.0]),
                "page_views": ("page", ["/", "/checkout"])}
TABLE_VIEWS = [v for v in ALL_VIEWS if not v.is_stream]  # the views dbt builds sources for
KEYS = {"users": ["user_id", "updated_at"], "orders": ["order_id"], "page_views": ["view_id"]}


def _landed(settings: Settings, table: str) -> pa.Table:
    files = sorted((settings.landing_dir / table).glob("*/*.parquet"))
    return pa.concat_tables([pq.read_table(f).drop_columns([c for c in ("ingest_date",) if c in pq.read_schema(f).names])
                             for f in files])


def _staged(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return {t: con.sql(f"select * from stg_{t} order by all").fetchall() for t in ALTERNATIVES}
    finally:
        con.close()


def test_ties_on_ingested_at_resolve_the_same_way_in_every_build(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    generate_sample_data(settings.landing_dir, end=END, days=DAYS, n_users=30)
    # Two re-deliveries of the same rows, the newest of all and with the same ingested_at,
    # disagreeing on a value.
    duplicated = {}
    for table, (column, values) in ALTERNATIVES.items():
        rows = _landed(settings, table).slice(0, 60)
        at = rows.schema.get_field_index("ingested_at")
        rows = rows.set_column(at, "ingested_at", pa.array([END - timedelta(microseconds=1)] * rows.num_rows,
                                                            rows.schema.field(at).type))
        duplicated[table] = rows.select(KEYS[table])
        for batch, value in zip(("a", "b"), values, strict=True):
            changed = rows.set_column(rows.schema.get_field_index(column), column,
                                      pa.array([value] * rows.num_rows, rows.schema.field(column).type))
            land_batch(settings.landing_dir, table, changed, batch_id=f"dup-{batch}")

    dbt_build(settings, tmp_path / "dbt0")
    first = _staged(settings)
    # The rule: among equal ingested_at, the row of the later landing file (then the later
    # row in it) wins, here batch "b".
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    for table, (column, values) in ALTERNATIVES.items():
        con.register("dups", duplicated[table])
        winners = con.sql(f"select distinct s.{column} from stg_{table} s join dups using ({', '.join(KEYS[table])})")
        assert winners.fetchall() == [(values[1],)], table
        con.unregister("dups")
    con.close()
    offline = OfflineStore(settings.offline_dir)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    start = END - timedelta(days=DAYS)
    for view in TABLE_VIEWS:
        offline.write_partitions(view, start, END, read_source_window(con, view, start, END))
    con.close()

    for build in (1,):
        dbt_build(settings, tmp_path / f"dbt{build}")
        assert _staged(settings) == first, f"build {build} resolved the duplicates differently"
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        for view in TABLE_VIEWS:
            assert find_late_partitions(con, view, offline, since=start, until=END) == [], view.name
        con.close()
