import dagster as dg

from feature_platform.definitions import defs

VIEWS = ["user_profile", "user_purchase_activity", "user_session_activity"]


def test_asset_keys_snapshot() -> None:
    keys = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
    assert keys == sorted(
        [f"dbt/stg_{t}" for t in ("users", "orders", "page_views")]
        + [f"dbt/fv_{v}" for v in VIEWS]
        + VIEWS
        + [f"online/{v}" for v in VIEWS]
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
    assert daily.get_first_partition_key() == "2026-01-01"
    assert hourly.get_first_partition_key() == "2026-01-01-00:00"


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
