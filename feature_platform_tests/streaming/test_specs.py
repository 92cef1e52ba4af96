"""Stream sources and aggregations: valid specs and the errors that name the bad field."""

from dataclasses import replace
from datetime import timedelta

import pytest

from feature_platform import (
    Aggregation,
    AggregationFunction,
    Entity,
    Feature,
    FeatureView,
    StreamSource,
    ValueType,
)
from feature_platform.errors import SpecError
from feature_platform.specs import TableSource

user = Entity("user", {"user_id": ValueType.INT64})
pages = StreamSource(
    "page_events",
    join_keys={"user_id": ValueType.INT64},
    fields={"category": ValueType.STRING, "dwell_s": ValueType.FLOAT64, "items": ValueType.INT64},
    allowed_lateness=timedelta(minutes=2),
    partitions=4,
)


def stream_view(**overrides: object) -> FeatureView:
    args: dict[str, object] = {
        "name": "user_pages",
        "entity": user,
        "features": [Feature("category", ValueType.STRING)],
        "source": pages,
        "aggregations": [Aggregation("items", "sum", timedelta(minutes=5))],
    }
    args.update(overrides)
    return FeatureView(**args)  # type: ignore[arg-type]


def test_stream_view_features_are_latest_values_then_aggregations() -> None:
    view = stream_view(
        aggregations=[
            Aggregation("category", "count", timedelta(minutes=5)),
            Aggregation("dwell_s", AggregationFunction.MEAN, timedelta(hours=1), name="dwell_mean_1h"),
            Aggregation("items", "max", timedelta(days=7)),
            Aggregation("category", "last", timedelta(minutes=30)),
            Aggregation("category", "COUNT_DISTINCT", timedelta(minutes=5)),
        ]
    )
    assert view.is_stream and view.stream_source is pages
    assert view.feature_names == [
        "category", "category_count_5m", "dwell_mean_1h", "items_max_7d", "category_last_30m",
        "category_count_distinct_5m",
    ]
    assert [f.dtype for f in view.features] == [
        ValueType.STRING, ValueType.INT64, ValueType.FLOAT64, ValueType.INT64, ValueType.STRING, ValueType.INT64
    ]
    assert [f.name for f in view.latest_features] == ["category"]
    tiles = [f.aggregation.tile_size for f in view.aggregated_features if f.aggregation]
    assert tiles == [
        timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1), timedelta(minutes=1), timedelta(minutes=1)
    ]
    # A copy keeps one derived feature per aggregation.
    assert replace(view, name="copy").feature_names == view.feature_names


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Aggregation("items", "sum", timedelta(0)), r"window must be positive"),
        (lambda: Aggregation("items", "sum", timedelta(minutes=-5)), r"window must be positive"),
        (lambda: Aggregation("items", "sum", timedelta(seconds=30)), r"whole number of minutes"),
        (lambda: Aggregation("items", "median", timedelta(minutes=5)), r"unknown function 'median'"),
        (lambda: Aggregation("items", "sum", timedelta(minutes=5), tile=timedelta(minutes=2)), r"tile must .* divides"),
        (lambda: stream_view(aggregations=[Aggregation("nope", "sum", timedelta(minutes=5))]), r"column 'nope' is not a field"),
        (lambda: stream_view(aggregations=[Aggregation("category", "sum", timedelta(minutes=5))]), r"sum needs a numeric column, but 'category' is string"),
        (lambda: stream_view(aggregations=[Aggregation("dwell_s", "count_distinct", timedelta(minutes=5))]), r"count_distinct needs a string, int64 or bool column, but 'dwell_s' is float64"),
        (lambda: stream_view(aggregations=[Aggregation("nope", "count_distinct", timedelta(minutes=5))]), r"column 'nope' is not a field"),
        (lambda: Aggregation("category", "distinct", timedelta(minutes=5)), r"unknown function 'distinct'; use one of count, count_distinct"),
        (lambda: stream_view(features=[Feature("colour", ValueType.STRING)]), r"feature 'colour' is not a field"),
        (lambda: stream_view(features=[Feature("items", ValueType.FLOAT64)]), r"feature 'items' is float64 but field 'items'"),
        (lambda: stream_view(entity=Entity("u", {"uid": ValueType.INT64})), r"join keys .* differ"),
        (lambda: stream_view(load_shedding=1.0), r"load_shedding must be a fraction"),
        (lambda: FeatureView("v", user, [Feature("a", ValueType.INT64)], TableSource("t"), load_shedding=0.5), r"stream views only"),
        (lambda: FeatureView("v", user, [Feature("a", ValueType.INT64)], TableSource("t"), aggregations=[Aggregation("a", "sum", timedelta(minutes=5))]), r"need a StreamSource"),
        (lambda: replace(pages, allowed_lateness=timedelta(seconds=-1)), r"allowed_lateness must be"),
        (lambda: replace(pages, partitions=0), r"partitions must be an int"),
        (lambda: replace(pages, fields={"user_id": ValueType.INT64}), r"field 'user_id' is a join key"),
        (lambda: replace(pages, fields={"x": "decimal"}), r"field 'x': unknown dtype"),  # type: ignore[dict-item]
        (lambda: replace(pages, join_keys={"score": ValueType.FLOAT64}), r"join key 'score' has dtype float64"),
        (lambda: replace(pages, max_lag=0), r"max_lag must be"),
    ],
)
def test_bad_stream_specs_name_the_field(make: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make()  # type: ignore[operator]


def test_a_batch_view_has_no_stream_source() -> None:
    view = FeatureView("v", user, [Feature("a", ValueType.INT64)], TableSource("t"))
    assert not view.is_stream and view.table_source.table == "t"
    with pytest.raises(SpecError, match="not a stream view"):
        _ = view.stream_source
    with pytest.raises(SpecError, match="no source table"):
        _ = stream_view().table_source
