import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg

from feature_platform.definitions import defs
from feature_platform.defs.partitions import first_partition_day
from feature_platform.settings import DEFAULT_PARTITIONS_START, Settings, load_settings

VIEWS = ["user_profile", "user_purchase_activity", "user_session_activity"]
STREAM_VIEWS = ["user_realtime_activity"]


def test_asset_keys_snapshot() -> None:
    keys = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
    assert keys == sorted(
        [f"dbt/stg_{t}" for t in ("users", "orders", "page_views")]
        + [f"dbt/fv_{v}" for v in VIEWS]
        + ["stream/page_events"]
        + VIEWS + STREAM_VIEWS
        + [f"online/{v}" for v in VIEWS + STREAM_VIEWS]
    )


def test_lineage_runs_dbt_then_offline_then_online() -> None:
    graph = defs.resolve_asset_graph()
    for view in VIEWS:
        offline = graph.get(dg.AssetKey(view))
        online = graph.get(dg.AssetKey(["online", view]))
        assert offline.parent_keys == {dg.AssetKey(["dbt", f"fv_{view}"])}
        assert online.parent_keys == {dg.AssetKey(view)}
        assert offline.partitions_def == online.partitions_def


def test_partitioning_follows_the_spec() -> None:
    graph = defs.resolve_asset_graph()
    daily = graph.get(dg.AssetKey("user_purchase_activity")).partitions_def
    hourly = graph.get(dg.AssetKey("user_session_activity")).partitions_def
    assert isinstance(daily, dg.DailyPartitionsDefinition)
    assert isinstance(hourly, dg.HourlyPartitionsDefinition)
    first = first_partition_day(load_settings()).isoformat()
    assert daily.get_first_partition_key() == first
    assert hourly.get_first_partition_key() == f"{first}-00:00"


def test_partitions_start_where_the_landing_data_starts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert first_partition_day(settings) == DEFAULT_PARTITIONS_START
    (tmp_path / "landing" / "orders" / "ingest_date=2026-10-03").mkdir(parents=True)
    (tmp_path / "landing" / "users" / "ingest_date=2026-10-01").mkdir(parents=True)
    assert first_partition_day(settings) == date(2026, 10, 1)
    assert first_partition_day(settings.with_overrides(partitions_start=date(2026, 2, 1))) == date(2026, 2, 1)


def test_dbt_assets_have_owners_and_views_have_column_lineage_from_their_model() -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["dbt", "fv_user_session_activity"])).owners == ["recs-ml@example.com"]
    assert graph.get(dg.AssetKey(["dbt", "stg_orders"])).owners == ["data-platform@example.com"]
    offline = graph.get(dg.AssetKey("user_purchase_activity")).metadata
    lineage = offline["dagster/column_lineage"].deps_by_column
    model = dg.AssetKey(["dbt", "fv_user_purchase_activity"])
    assert lineage["spend_7d"] == [dg.TableColumnDep(asset_key=model, column_name="spend_7d")]
    assert set(lineage) == {"user_id", "event_timestamp", "created_timestamp", "purchases_7d", "spend_7d",
                            "purchases_30d", "spend_30d", "avg_order_value_30d"}
    assert offline["ttl"] == "30 days" and offline["expected_freshness"] == "1 day"
    online = graph.get(dg.AssetKey(["online", "user_purchase_activity"])).metadata["dagster/column_lineage"]
    assert online.deps_by_column["spend_7d"][0].asset_key == dg.AssetKey("user_purchase_activity")


def test_dg_loads_the_project_from_pyproject() -> None:
    """`dg dev` / `dg launch` find the one Definitions through [tool.dg] in pyproject.toml."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "list", "defs", "--json"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    keys = {asset["asset_key"] for asset in json.loads(done.stdout)["assets"]}
    assert {"online/user_profile", "user_profile", "dbt/fv_user_profile"} <= keys


def test_jobs_and_resources() -> None:
    assert {j.name for j in defs.jobs} >= {"daily_feature_views_job", "hourly_feature_views_job", "dbt_build_job"}
    daily = defs.resolve_job_def("daily_feature_views_job")
    assert {k.to_user_string() for k in daily.asset_layer.executable_asset_keys} == {
        "user_profile", "online/user_profile", "user_purchase_activity", "online/user_purchase_activity",
    }
    assert set(defs.resources) >= {"feature_platform", "offline_io_manager", "online_io_manager", "dbt"}


def test_loading_the_definitions_stays_light() -> None:
    """great_expectations takes seconds to import and Spark seconds to start: only runs that
    use them pay for them."""
    import subprocess
    import sys

    code = (
        "import sys, feature_platform.definitions as d; d.defs.resolve_asset_graph(); "
        "from pyspark.sql import SparkSession; "
        "print('great_expectations' in sys.modules, SparkSession.getActiveSession())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False None"


def test_no_module_imports_private_dagster_names() -> None:
    """Only Dagster's public API: no ``dagster._...`` import anywhere, type-checking blocks included."""
    import ast

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("feature_platform", "feature_platform_tests", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                offenders += [f"{path.relative_to(root)}:{node.lineno} {n}" for n in names
                              if n.split(".")[0].startswith("dagster") and "._" in n]
    assert offenders == []
