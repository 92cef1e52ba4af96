"""The daily batch correction recomputes a stream view's offline partition from every landed
event: latest values and each aggregation at each row's time, dead-lettered events included
(a replayed one once), windows reaching into the previous day included (real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import redis

from feature_platform.offline import OfflineStore
from feature_platform.rows.timestamps import epoch_micros
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.settings import Settings
from feature_platform.streaming.dead_letters import replay_dead_letters
from feature_platform.streaming.offline import recompute_stream_partition
from feature_platform.streaming.processor import ProcessorOptions, run_processor
from feature_platform.streaming.tiles import WindowEvent
from feature_platform_tests.streaming.helpers import assert_same, brute_force, click, totals
from feature_platform_tests.streaming.repo import clicks, registry, user_clicks

FAST = ProcessorOptions(lease_ttl_ms=2000, block_ms=20)


def drain(settings: Settings) -> None:
    run_processor(settings, [user_clicks], until_idle=True, options=FAST)


def test_the_correction_recomputes_aggregations_from_every_landed_event(
    stream_settings: Settings, redis_client: redis.Redis
) -> None:
    store = FeatureStore(stream_settings, registry=registry())
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    noon = day + timedelta(hours=12)

    def at(seconds: float) -> datetime:
        return noon + timedelta(seconds=seconds)

    pushes = [
        # The day before (inside the 5-minute window of the next event), then the day.
        [click(1, day - timedelta(minutes=3), "prev", 0.5, 1), click(1, day + timedelta(seconds=30), "first", 0.25, 1)],
        [click(1, at(0.5), "a", 1.0, 1), click(1, at(70), "b", 2.0, 2), click(2, at(30), "a", 3.0, 3), click(1, at(180), "c", 4.0, 4)],
        [click(1, at(600), "d", 8.0, 8)],  # the watermark moves to noon + 8 minutes
        [click(1, at(270), "late1", 16.0, 16), click(1, at(120), "late2", 32.0, 32)],  # both dead-lettered
    ]
    for rows in pushes:
        store.push("clicks", rows)
        drain(stream_settings)
    assert replay_dead_letters(stream_settings.redis_url, "default", clicks, limit=1) == 1  # late1 only
    drain(stream_settings)
    assert totals(redis_client) == {"events": 10, "late": 2, "replayed": 1}

    table = recompute_stream_partition(stream_settings.offline_dir, "default", user_clicks, day, day + timedelta(days=1))
    assert table.schema == user_clicks.arrow_schema
    frame = table.to_pandas()
    # Every event of the day once: the late one, and the replayed one (not its dead letter).
    assert sorted(frame["page"]) == sorted(["first", "a", "b", "a", "c", "d", "late1", "late2"])

    # Every aggregate at each row's time over ALL the pushed events, straight from the definition.
    pushed = [row for rows in pushes for row in rows]
    events = {
        user: [
            WindowEvent(epoch_micros(r["event_timestamp"]), 0, (i, 0), r)
            for i, r in enumerate(pushed) if r["user_id"] == user
        ]
        for user in (1, 2)
    }
    for record in frame.to_dict("records"):
        t = epoch_micros(record["event_timestamp"].to_pydatetime())
        for feature in user_clicks.aggregated_features:
            assert feature.aggregation is not None
            window = feature.aggregation.window // timedelta(microseconds=1)
            expected = brute_force(feature, events[record["user_id"]], t - window, t)
            got = None if pd.isna(record[feature.name]) else record[feature.name]
            assert_same(got, expected, f"{feature.name} at {record['event_timestamp']}")
    by_page = frame.set_index("page")
    assert by_page.loc["first", "page_count_5m"] == 2  # the previous day's event is in its window
    assert by_page.loc["c", "page_count_5m"] == 4  # with the never-applied late2
    assert by_page.loc["late1", "page_count_5m"] == 5  # the replayed event counts once
    assert by_page.loc["d", "items_sum_10m"] == 1 + 2 + 32 + 4 + 16 + 8

    # The training frame: before the correction the late event is missing, after it is there.
    entity_df = pd.DataFrame({"user_id": [1], "event_timestamp": [at(181)]})
    before = store.get_historical_features(entity_df, ["user_clicks:page_count_5m"])
    assert before["page_count_5m"].tolist() == [3]
    OfflineStore(stream_settings.offline_dir).write_partitions(user_clicks, day, day + timedelta(days=1), table)
    after = store.get_historical_features(entity_df, ["user_clicks:page_count_5m"])
    assert after["page_count_5m"].tolist() == [4]
    store.close()
