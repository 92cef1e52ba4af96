"""Stream sources of the demo domain: events pushed as they happen."""

from datetime import timedelta

from feature_platform.specs import StreamSource, ValueType

page_events = StreamSource(
    "page_events",
    join_keys={"user_id": ValueType.INT64},
    fields={"page": ValueType.STRING, "dwell_s": ValueType.FLOAT64, "category": ValueType.STRING},
    event_timestamp_column="event_timestamp",
    allowed_lateness=timedelta(minutes=2),
    partitions=4,
    description=(
        "Page views pushed by the web front end as users browse; category is the product "
        "category a /category or /product page shows (null on the other pages)."
    ),
)
