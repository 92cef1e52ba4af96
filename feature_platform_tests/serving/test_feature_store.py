"""The Python SDK over a real materialized platform: reads, naming and clear errors."""

from datetime import timedelta

import pandas as pd
import pytest

from feature_platform import FeatureStore
from feature_platform.errors import (
    ConfigError,
    MissingColumnError,
    OnlineStoreUnavailableError,
    SchemaError,
    TimestampError,
    UnknownFeatureError,
    UnknownFeatureServiceError,
    UnknownFeatureViewError,
)
from feature_platform.online import FeatureStatus
from feature_platform.settings import Settings
from feature_platform_tests.defs.helpers import materialize_everything
from feature_platform_tests.redis_server import free_port
from feature_platform_tests.sample_platform import SampleWarehouse

pytestmark = pytest.mark.slow


@pytest.fixture
def store(platform_settings: Settings, sample_warehouse: SampleWarehouse) -> FeatureStore:
    materialize_everything(platform_settings, (sample_warehouse.end, sample_warehouse.days))
    return FeatureStore(platform_settings)


def test_historical_features_by_service_and_reference_with_naming(store: FeatureStore, sample_warehouse: SampleWarehouse) -> None:
    users = list(sample_warehouse.summary.user_ids[:4])
    entity_df = pd.DataFrame({
        "user_id": users + users[:1],
        "event_timestamp": [sample_warehouse.end] * 4 + [sample_warehouse.end - timedelta(days=30)],
        "label": [1, 0, 1, 0, 1],
    })
    frame = store.get_historical_features(entity_df, "churn_model_v1")
    assert list(frame.columns[:3]) == ["user_id", "event_timestamp", "label"]
    assert frame["label"].tolist() == [1, 0, 1, 0, 1]
    assert frame.loc[4, ["plan", "purchases_7d"]].isna().all()  # before any data: nulls
    assert frame.loc[:3, "plan"].notna().all()
    named = store.get_historical_features(entity_df, ["user_profile:plan"], full_feature_names=True)
    assert "user_profile__plan" in named.columns and "plan" not in named.columns
    # The DuckDB engine's memory limit and spill folder come from the settings.
    bounded = FeatureStore(store.settings.with_overrides(duckdb_memory_limit="200MB"))
    pd.testing.assert_frame_equal(bounded.get_historical_features(entity_df, "churn_model_v1"), frame)
    assert store.settings.duckdb_spill_dir.is_dir()
    refused = FeatureStore(store.settings.with_overrides(duckdb_memory_limit="lots"))
    with pytest.raises(ConfigError, match="duckdb_memory_limit='lots'"):
        refused.get_historical_features(entity_df, "churn_model_v1")


def test_online_features_statuses_and_full_names(store: FeatureStore, sample_warehouse: SampleWarehouse) -> None:
    user = sample_warehouse.summary.user_ids[0]
    response = store.get_online_features(
        [{"user_id": user}, {"user_id": -1}], ["user_profile:plan", "user_purchase_activity:spend_7d"],
        full_feature_names=True,
    )
    data = response.to_dict()
    assert data["user_id"] == [user, -1]
    assert data["user_profile__plan__status"] == [FeatureStatus.PRESENT.value, FeatureStatus.NOT_FOUND.value]
    assert data["user_profile__plan"][1] is None
    assert response.entities[0]["user_profile__plan"].value in ("free", "pro", "enterprise")
    frame = response.to_df()
    assert len(frame) == 2 and "user_purchase_activity__spend_7d__event_timestamp" in frame.columns


def test_bad_requests_name_the_problem(store: FeatureStore, sample_warehouse: SampleWarehouse) -> None:
    entity_df = pd.DataFrame({"user_id": [1], "event_timestamp": [sample_warehouse.end]})
    with pytest.raises(UnknownFeatureError, match="'user_profile:age' does not exist"):
        store.get_historical_features(entity_df, ["user_profile:age"])
    with pytest.raises(UnknownFeatureViewError, match="'users' does not exist"):
        store.get_online_features([{"user_id": 1}], ["users:plan"])
    with pytest.raises(UnknownFeatureServiceError, match="'fraud_v9'"):
        store.get_historical_features(entity_df, "fraud_v9")
    with pytest.raises(MissingColumnError, match="user_id"):
        store.get_historical_features(entity_df.rename(columns={"user_id": "uid"}), ["user_profile:plan"])
    with pytest.raises(MissingColumnError, match="event_timestamp"):
        store.get_historical_features(entity_df[["user_id"]], ["user_profile:plan"])
    with pytest.raises(TimestampError, match="event_timestamp"):
        store.get_historical_features(entity_df.assign(event_timestamp="yesterday"), ["user_profile:plan"])
    with pytest.raises(MissingColumnError, match="user_id"):
        store.get_online_features([{"uid": 1}], ["user_profile:plan"])
    with pytest.raises(SchemaError, match="user_id"):
        store.get_online_features([{"user_id": "abc"}], ["user_profile:plan"])


def test_naive_entity_timestamps_are_read_as_utc(store: FeatureStore, sample_warehouse: SampleWarehouse) -> None:
    users = list(sample_warehouse.summary.user_ids[:5])
    aware = pd.DataFrame({"user_id": users, "event_timestamp": [sample_warehouse.end - timedelta(hours=7)] * 5})
    naive = aware.assign(event_timestamp=aware.event_timestamp.dt.tz_localize(None))
    features = ["user_purchase_activity:spend_30d", "user_session_activity:page_views_1h"]
    left = store.get_historical_features(aware, features).drop(columns="event_timestamp")
    right = store.get_historical_features(naive, features).drop(columns="event_timestamp")
    pd.testing.assert_frame_equal(left, right)


def test_unreachable_redis_is_a_clear_transient_error(platform_settings: Settings) -> None:
    store = FeatureStore(platform_settings.with_overrides(redis_url=f"redis://:s3cret@127.0.0.1:{free_port()}/0"))
    with pytest.raises(OnlineStoreUnavailableError, match="127.0.0.1") as caught:
        store.get_online_features([{"user_id": 1}], ["user_profile:plan"])
    assert "s3cret" not in str(caught.value)
