"""A small stream feature repo for the streaming tests (also loaded by processor subprocesses
through FEATURE_PLATFORM_REGISTRY=feature_platform_tests.streaming.repo:registry)."""

from datetime import timedelta

from feature_platform import (
    Aggregation,
    Entity,
    Feature,
    FeatureView,
    FreshnessTier,
    StreamSource,
    ValueType,
)
from feature_platform.specs import Registry

user = Entity("user", {"user_id": ValueType.INT64})

clicks = StreamSource(
    "clicks",
    join_keys={"user_id": ValueType.INT64},
    fields={"page": ValueType.STRING, "amount": ValueType.FLOAT64, "items": ValueType.INT64},
    allowed_lateness=timedelta(minutes=2),
    partitions=4,
)

user_clicks = FeatureView(
    name="user_clicks",
    entity=user,
    features=[Feature("page", ValueType.STRING), Feature("amount", ValueType.FLOAT64)],
    source=clicks,
    aggregations=[
        Aggregation("page", "count", timedelta(minutes=5)),
        Aggregation("amount", "sum", timedelta(minutes=5)),
        Aggregation("amount", "mean", timedelta(hours=1)),
        Aggregation("items", "sum", timedelta(minutes=10)),
        Aggregation("items", "max", timedelta(minutes=5)),
        Aggregation("amount", "min", timedelta(minutes=5)),
        Aggregation("page", "last", timedelta(minutes=5)),
        Aggregation("page", "count_distinct", timedelta(minutes=10)),
    ],
    ttl=timedelta(days=1),
    tier=FreshnessTier.REAL_TIME,
)


def registry() -> Registry:
    """The test repo's registry."""
    return Registry([user_clicks])


# A source that refuses pushes early (small max_lag) and sheds half of a view's events
# above a small lag: the overload test's registry.
hot_clicks = StreamSource(
    "hot_clicks",
    join_keys={"user_id": ValueType.INT64},
    fields={"page": ValueType.STRING, "amount": ValueType.FLOAT64, "items": ValueType.INT64},
    allowed_lateness=timedelta(minutes=2),
    partitions=2,
    max_lag=3000,
    shed_lag=1000,
)

hot_user_clicks = FeatureView(
    name="hot_user_clicks",
    entity=user,
    features=[Feature("page", ValueType.STRING)],
    source=hot_clicks,
    aggregations=[Aggregation("page", "count", timedelta(minutes=10)), Aggregation("amount", "sum", timedelta(minutes=10))],
    ttl=timedelta(days=1),
    tier=FreshnessTier.REAL_TIME,
    load_shedding=0.5,
)


def overload_registry() -> Registry:
    """The overload test's registry."""
    return Registry([hot_user_clicks])
