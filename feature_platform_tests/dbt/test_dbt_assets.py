"""The dbt models as Dagster assets: a real `dbt build` through `materialize` records each
model's row count and column schema, and leaves the warehouse free for the read-only
connections of the assets that run after it in the same process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from feature_platform.defs.dbt_assets import build_dbt_assets, dbt_resource
from feature_platform.defs.resources import (
    FeaturePlatformResource,
    open_warehouse,
    warehouse_resource,
)
from feature_platform.feature_repo.views import ALL_VIEWS
from feature_platform.sample_data import generate_sample_data
from feature_platform.settings import Settings
from feature_platform_tests.sample_platform import sample_end

MODELS = ("stg_users", "stg_orders", "stg_page_views", "fv_user_profile", "fv_user_purchase_activity",
          "fv_user_session_activity")


def test_materialized_dbt_models_record_row_counts_and_column_schemas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    for name, value in settings.dbt_env().items():  # the asset sets them; restore them after
        monkeypatch.setenv(name, value)
    generate_sample_data(settings.landing_dir, end=sample_end(), days=2, n_users=15)
    platform = FeaturePlatformResource(data_dir=str(settings.data_dir), redis_url="redis://127.0.0.1:1/0")

    result = dg.materialize(
        [build_dbt_assets(ALL_VIEWS)],
        resources={"dbt": dbt_resource(), "feature_platform": platform},
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    metadata = {
        event.asset_key.path[-1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert set(metadata) == set(MODELS)
    # In this process, right after dbt: the read-only warehouse resource opens (dbt's
    # adapter closed the database it queried for the counts), and the counts are the tables'.
    with open_warehouse(warehouse_resource(settings)) as con:
        for model in MODELS:
            rows = con.execute(f"select count(*) from {model}").fetchall()[0][0]
            columns = con.execute(
                "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
                [model],
            ).fetchall()
            assert metadata[model]["dagster/row_count"].value == rows > 0, model
            schema = metadata[model]["dagster/column_schema"].value
            # dbt's adapter names the types its own way (VARCHAR is "character varying(256)").
            assert [c.name for c in schema.columns] == [name for (name,) in columns], model
            assert all(c.type for c in schema.columns), model
    # A writer can take the warehouse again (the next dbt build, a micro-batch).
    duckdb.connect(str(settings.warehouse_path)).close()
