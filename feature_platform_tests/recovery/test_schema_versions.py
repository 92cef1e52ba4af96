"""Schema versions per view: compatible changes move the version, incompatible ones are
refused naming the migration; adding a feature and backfilling keeps the old features'
values and expiry (real dbt-built warehouse, real Dagster runs, real Redis)."""

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
import redis

from feature_platform.defs import build_definitions
from feature_platform.defs.backfill import run_backfill
from feature_platform.feature_repo import default_registry
from feature_platform.feature_repo.views import user_profile, user_purchase_activity
from feature_platform.materialization.schema_versions import (
    IncompatibleSchemaChangeError,
    SchemaVersions,
)
from feature_platform.online import RedisOnlineStore
from feature_platform.settings import Settings
from feature_platform.specs import Entity, Feature, Registry, ValueType, ViewRequest
from feature_platform_tests.defs.helpers import platform_for, redis_dump
from feature_platform_tests.sample_platform import SampleWarehouse

VIEW = user_purchase_activity
NEW = Feature("big_spender", ValueType.BOOL, "Spent over 100 in 30 days")
WITH_NEW = dataclasses.replace(VIEW, features=[*VIEW.features, NEW])
RETYPED = dataclasses.replace(
    VIEW, features=[Feature("purchases_7d", ValueType.FLOAT64), *VIEW.features[1:]]
)


def registry_with_new_feature() -> Registry:
    return Registry([WITH_NEW if v.name == VIEW.name else v for v in default_registry().views])


def registry_with_retyped_feature() -> Registry:
    return Registry([RETYPED if v.name == VIEW.name else v for v in default_registry().views])


def test_compatible_changes_move_the_version_and_incompatible_ones_name_the_migration(tmp_path: Path) -> None:
    versions = SchemaVersions(tmp_path)
    assert versions.record(VIEW).version == 1 and versions.record(VIEW).changed is False
    added = versions.record(WITH_NEW)
    assert (added.version_before, added.version, added.added, added.removed) == (1, 2, ("big_spender",), ())
    removed = versions.record(VIEW)
    assert (removed.version, removed.removed) == (3, ("big_spender",))
    with pytest.raises(IncompatibleSchemaChangeError, match=r"purchases_7d int64 -> float64.*Migration needed: add the feature under a new name \(e.g. purchases_7d_v2\)"):
        versions.record(RETYPED)
    account = Entity("account", join_keys={"account_id": ValueType.INT64})
    rekeyed = dataclasses.replace(user_profile, entity=account)
    versions.record(user_profile)
    with pytest.raises(IncompatibleSchemaChangeError, match=r"join keys from \(user_id int64\) to \(account_id int64\).*user_profile_v2"):
        versions.check(rekeyed)
    assert versions.version(VIEW.name) == 3 and versions.version(user_profile.name) == 1  # refusals write nothing


@pytest.mark.slow
def test_adding_a_feature_and_backfilling_keeps_old_values_and_expiry(
    platform_settings: Settings, sample_warehouse: SampleWarehouse
) -> None:
    end = sample_warehouse.end
    start = end - timedelta(days=sample_warehouse.days)
    instance = dg.DagsterInstance.ephemeral()
    platform = platform_for(platform_settings)
    run_backfill(build_definitions(platform, include_dbt=False), instance, VIEW, start, end, log=lambda _: None)
    client = redis.Redis.from_url(platform_settings.redis_url)
    keys = [k for k in redis_dump(platform_settings.redis_url) if b":user_purchase_activity:" in k]
    expiry_before = {k: client.pexpiretime(k) for k in keys}
    store = platform.online_store()
    old = [ViewRequest(VIEW, tuple(VIEW.feature_names))]
    users = [{"user_id": u} for u in range(1, 41)]
    values_before = store.read(old, users).to_dict()

    con = duckdb.connect(str(platform_settings.warehouse_path))
    con.execute("ALTER TABLE fv_user_purchase_activity ADD COLUMN big_spender BOOLEAN")
    con.execute("UPDATE fv_user_purchase_activity SET big_spender = spend_30d > 100")
    con.close()
    new_platform = type(platform)(
        data_dir=str(platform_settings.data_dir), redis_url=platform_settings.redis_url,
        registry=f"{__name__}:registry_with_new_feature",
    )
    defs = build_definitions(new_platform, include_dbt=False)
    run_backfill(defs, instance, WITH_NEW, start, end, force=True, log=lambda _: None)
    assert SchemaVersions(platform_settings.data_dir).version(VIEW.name) == 2
    (run,) = instance.get_runs(limit=1)
    merges = [e.user_message for e in instance.all_logs(run.run_id) if "MergeResult(" in e.user_message]
    assert len(merges) == 1 and int(re.search(r"merged=(\d+)", merges[0]).group(1)) > 0  # type: ignore[union-attr]
    assert {k: client.pexpiretime(k) for k in keys} == expiry_before
    assert store.read(old, users).to_dict() == values_before
    both = store.read([ViewRequest(WITH_NEW, (*VIEW.feature_names, NEW.name))], users).to_dict()
    spend = dict(zip(both["user_id"], both["spend_30d"], strict=True))
    flags = dict(zip(both["user_id"], both["big_spender"], strict=True))
    assert any(flags.values()) and all(flags[u] == (spend[u] > 100) for u in flags if spend[u] is not None)

    retyped = type(platform)(
        data_dir=str(platform_settings.data_dir), redis_url=platform_settings.redis_url,
        registry=f"{__name__}:registry_with_retyped_feature",
    )
    result = build_definitions(retyped, include_dbt=False).resolve_job_def("daily_feature_views_job").execute_in_process(
        instance=instance, partition_key=(end - timedelta(days=1)).strftime("%Y-%m-%d"),
        asset_selection=[dg.AssetKey(["online", VIEW.name])], raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error  # type: ignore[union-attr]
    assert "Migration needed" in str(failure.message) or "Migration needed" in str(failure.cause)
    assert store.read(old, users).to_dict() == values_before  # nothing was written
    client.close()
    store.close()


def test_merge_features_sets_only_the_new_column_where_redis_holds_that_row(redis_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def rows(users: list[int], event: datetime, spend: float) -> pa.Table:
        n = len(users)
        return pa.table({
            "user_id": pa.array(users, pa.int64()),
            "event_timestamp": pa.array([event] * n, pa.timestamp("us", "UTC")),
            "created_timestamp": pa.array([event] * n, pa.timestamp("us", "UTC")),
            "purchases_7d": pa.array([1] * n, pa.int64()), "spend_7d": pa.array([spend] * n),
            "purchases_30d": pa.array([2] * n, pa.int64()), "spend_30d": pa.array([spend * 4] * n),
            "avg_order_value_30d": pa.array([spend] * n), "big_spender": pa.array([True] * n),
        })

    client = redis.Redis.from_url(redis_url)
    with RedisOnlineStore(redis_url) as store:
        store.publish(VIEW, rows([1, 2, 3], now - timedelta(hours=2), 10.0))
        store.publish(VIEW, rows([3], now - timedelta(hours=1), 99.0))  # user 3: a newer value online
        keys = store.view_keys(VIEW).keys([[1, 2, 3]])
        expiry = [client.pexpiretime(k) for k in keys]
        result = store.merge_features(WITH_NEW, rows([1, 2, 3, 4], now - timedelta(hours=2), 10.0), ["big_spender"])
        assert (result.merged, result.absent, result.other_pair) == (2, 1, 1)
        assert [client.pexpiretime(k) for k in keys] == expiry and not client.exists(store.view_keys(VIEW).key([4]))
        read = store.read([ViewRequest(WITH_NEW, ("spend_7d", "big_spender"))], [{"user_id": u} for u in (1, 2, 3)])
        assert read.to_dict()["big_spender"] == [True, True, None]
        assert read.to_dict()["spend_7d"] == [10.0, 10.0, 99.0]  # user 3 kept its newer value
        assert store.merge_features(WITH_NEW, rows([1], now - timedelta(hours=2), 10.0), ["big_spender"]).merged == 0
    client.close()
