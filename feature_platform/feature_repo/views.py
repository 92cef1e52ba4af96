"""Feature views of the demo e-commerce domain, read from the dbt models of dbt_transforms/."""

from datetime import timedelta

from feature_platform.feature_repo.entities import user
from feature_platform.feature_repo.sources import page_events
from feature_platform.specs import (
    Aggregation,
    Feature,
    FeatureView,
    FreshnessTier,
    Partitioning,
    StalenessKind,
    TableSource,
    ValueType,
)

user_profile = FeatureView(
    name="user_profile",
    entity=user,
    features=[
        Feature("country", ValueType.STRING, "ISO country code", allowed_values=("US", "GB", "DE", "FR", "IN", "BR", "JP")),
        Feature("plan", ValueType.STRING, "Subscription plan", allowed_values=("free", "pro", "enterprise")),
        Feature("is_paying", ValueType.BOOL, "Whether the plan is paid"),
    ],
    source=TableSource("fv_user_profile"),
    ttl=None,
    tier=FreshnessTier.STATIC,
    # A profile holds until it changes: stale means "not confirmed lately", not "old event".
    staleness=StalenessKind.SNAPSHOT,
    partitioning=Partitioning.DAILY,
    description="Slowly changing user attributes; a row per profile change.",
    owner="growth-ml@example.com",
    tags={"domain": "users"},
)

user_purchase_activity = FeatureView(
    name="user_purchase_activity",
    entity=user,
    features=[
        Feature("purchases_7d", ValueType.INT64, "Orders in the 7 days up to the event", min_value=0),
        Feature("spend_7d", ValueType.FLOAT64, "Order amount in the 7 days up to the event", min_value=0),
        Feature("purchases_30d", ValueType.INT64, "Orders in the 30 days up to the event", min_value=0),
        Feature("spend_30d", ValueType.FLOAT64, "Order amount in the 30 days up to the event", min_value=0),
        Feature("avg_order_value_30d", ValueType.FLOAT64, "Mean order amount over 30 days", min_value=0),
    ],
    source=TableSource("fv_user_purchase_activity"),
    ttl=timedelta(days=30),
    tier=FreshnessTier.BATCH,
    partitioning=Partitioning.DAILY,
    description="Rolling purchase aggregates, a row per order.",
    owner="growth-ml@example.com",
    tags={"domain": "orders"},
)

user_session_activity = FeatureView(
    name="user_session_activity",
    entity=user,
    features=[
        Feature("session_page_views", ValueType.INT64, "Page views so far in the current session", min_value=1),
        Feature("session_duration_s", ValueType.FLOAT64, "Seconds since the session started", min_value=0),
        Feature("page_views_1h", ValueType.INT64, "Page views in the hour up to the event", min_value=1),
    ],
    source=TableSource("fv_user_session_activity"),
    ttl=timedelta(days=1),
    tier=FreshnessTier.NEAR_REAL_TIME,
    partitioning=Partitioning.HOURLY,
    description="Browsing-session activity, a row per page view.",
    owner="recs-ml@example.com",
    tags={"domain": "sessions"},
)

user_realtime_activity = FeatureView(
    name="user_realtime_activity",
    entity=user,
    source=page_events,
    features=[Feature("page", ValueType.STRING, "The page of the user's newest page view")],
    aggregations=[
        Aggregation("page", "count", timedelta(minutes=5), name="page_views_5m", description="Page views in the last 5 minutes"),
        Aggregation("dwell_s", "sum", timedelta(minutes=5), name="dwell_s_5m", description="Seconds spent on pages in the last 5 minutes"),
        Aggregation("page", "count", timedelta(hours=1), name="page_views_1h", description="Page views in the last hour"),
        Aggregation(
            "category", "count_distinct", timedelta(minutes=5), name="categories_5m",
            description="Distinct product categories browsed in the last 5 minutes",
        ),
    ],
    ttl=timedelta(days=1),
    tier=FreshnessTier.REAL_TIME,
    partitioning=Partitioning.DAILY,
    description="Streamed browsing activity: the last page and windowed counts, exact at read time.",
    owner="recs-ml@example.com",
    tags={"domain": "sessions"},
)

ALL_VIEWS = [user_profile, user_purchase_activity, user_session_activity, user_realtime_activity]
