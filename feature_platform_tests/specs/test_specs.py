from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from feature_platform.errors import (
    SpecError,
    UnknownFeatureError,
    UnknownFeatureServiceError,
    UnknownFeatureViewError,
)
from feature_platform.feature_repo import default_registry
from feature_platform.specs import (
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    FreshnessTier,
    Partitioning,
    Registry,
    TableSource,
    ValueType,
    load_registry,
)

user = Entity("user", {"user_id": ValueType.INT64})


def view(**overrides: object) -> FeatureView:
    args: dict[str, object] = {
        "name": "v",
        "entity": user,
        "features": [Feature("a", ValueType.FLOAT64)],
        "source": TableSource("t"),
    }
    args.update(overrides)
    return FeatureView(**args)  # type: ignore[arg-type]


def test_view_schema_orders_keys_timestamps_features() -> None:
    v = view(features=[Feature("a", "float64"), Feature("b", ValueType.STRING)])
    assert v.arrow_schema.names == ["user_id", "event_timestamp", "created_timestamp", "a", "b"]
    assert v.arrow_schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert v.join_keys == ["user_id"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"features": [Feature("a", ValueType.INT64), Feature("a", ValueType.INT64)]}, "duplicate feature name 'a'"),
        ({"ttl": timedelta(0)}, "ttl must be positive"),
        ({"ttl": timedelta(seconds=-1)}, "ttl must be positive"),
        ({"name": "bad-name"}, "Feature view name 'bad-name' is not a safe identifier"),
        ({"name": "1view"}, "not a safe identifier"),
        ({"features": []}, "needs at least one feature"),
        ({"features": [Feature("user_id", ValueType.INT64)]}, "has the name of a join key"),
    ],
)
def test_view_validation_names_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        view(**overrides)


def test_unknown_dtype_is_named() -> None:
    with pytest.raises(SpecError, match="Feature 'x': unknown dtype 'decimal'"):
        Feature("x", "decimal")  # type: ignore[arg-type]


def test_reserved_and_range_checks() -> None:
    with pytest.raises(SpecError, match="reserved"):
        Feature("event_timestamp", ValueType.INT64)
    with pytest.raises(SpecError, match="numeric dtype"):
        Feature("s", ValueType.STRING, min_value=0)
    with pytest.raises(SpecError, match="min_value 5 > max_value 1"):
        Feature("n", ValueType.INT64, min_value=5, max_value=1)


def test_missing_timestamp_column_name_is_rejected() -> None:
    with pytest.raises(SpecError, match="event timestamp column ''"):
        TableSource("t", event_timestamp_column="")


def test_entity_keys_must_be_exact_types() -> None:
    with pytest.raises(SpecError, match="join key 'score' has dtype float64"):
        Entity("e", {"score": ValueType.FLOAT64})
    with pytest.raises(SpecError, match="at least one join key"):
        Entity("e", {})


def test_partitioning_keys_and_windows() -> None:
    ts = datetime(2026, 1, 15, 3, 42, tzinfo=UTC)
    assert Partitioning.DAILY.key_for(ts) == "2026-01-15"
    assert Partitioning.HOURLY.key_for(ts) == "2026-01-15-03:00"
    start, end = Partitioning.HOURLY.window_for_key("2026-01-15-03:00")
    assert (start, end) == (ts.replace(minute=0), ts.replace(hour=4, minute=0))


def test_tiers_expected_freshness_follow_the_seed() -> None:
    assert FreshnessTier.REAL_TIME.expected_freshness == timedelta(minutes=1)
    assert FreshnessTier.NEAR_REAL_TIME.expected_freshness == timedelta(minutes=15)
    assert FreshnessTier.BATCH.expected_freshness == timedelta(hours=24)
    assert FreshnessTier.STATIC.expected_freshness >= timedelta(days=1)


def test_registry_resolves_references_and_services() -> None:
    registry = default_registry()
    requests = registry.resolve(["user_purchase_activity:spend_7d", "user_profile:plan", "user_purchase_activity:spend_7d"])
    assert [(r.view.name, r.features) for r in requests] == [
        ("user_purchase_activity", ("spend_7d",)),
        ("user_profile", ("plan",)),
    ]
    service = registry.resolve("churn_model_v1")
    assert [r.view.name for r in service] == ["user_profile", "user_purchase_activity", "user_session_activity"]
    assert service[1].features == tuple(registry.view("user_purchase_activity").feature_names)


def test_registry_errors_name_the_unknown_thing() -> None:
    registry = default_registry()
    with pytest.raises(UnknownFeatureViewError, match="Feature view 'nope' does not exist"):
        registry.resolve(["nope:x"])
    with pytest.raises(UnknownFeatureError, match="'user_profile:age' does not exist.*country, plan, is_paying"):
        registry.resolve(["user_profile:age"])
    with pytest.raises(UnknownFeatureServiceError, match="'svc' does not exist"):
        registry.resolve("svc")
    with pytest.raises(SpecError, match="not a 'view:feature' reference"):
        registry.resolve(["user_profile.plan", "x"])


def test_service_with_unknown_feature_is_rejected_at_registration() -> None:
    with pytest.raises(UnknownFeatureError):
        Registry([view()], [FeatureService("s", ["v:zzz"])])
    with pytest.raises(SpecError, match="defined twice"):
        Registry([view(), view()])


def test_load_registry_reference() -> None:
    assert load_registry("feature_platform.feature_repo:default_registry") is default_registry()
    with pytest.raises(SpecError, match="must look like"):
        load_registry("feature_platform.feature_repo")
    with pytest.raises(SpecError, match="Cannot load registry"):
        load_registry("feature_platform.nope:x")


def test_a_view_of_several_entities_joins_on_all_their_keys() -> None:
    item = Entity("item", {"item_id": ValueType.STRING})
    v = view(entity=[user, item])
    assert v.join_keys == ["user_id", "item_id"] and v.entity_name == "user x item"
    assert v.arrow_schema.names[:2] == ["user_id", "item_id"]
    assert v.join_key_types["item_id"] is ValueType.STRING
    with pytest.raises(SpecError, match="join key 'user_id' appears in two entities"):
        view(entity=[user, Entity("buyer", {"user_id": ValueType.INT64})])
    with pytest.raises(SpecError, match="non-empty list"):
        view(entity=[])
