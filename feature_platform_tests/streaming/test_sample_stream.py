"""The sample REAL_TIME view over the sample page-event stream (real Redis): distinct
categories over the last 5 minutes, online and offline, equal a count straight from the
pushed events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from feature_platform.feature_repo.views import user_realtime_activity
from feature_platform.sample_data.stream_events import CATEGORIES, generate_page_events
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.settings import Settings
from feature_platform.streaming.processor import ProcessorOptions, run_processor

USERS = list(range(1, 13))


def test_distinct_categories_over_5_minutes_online_and_offline(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_url)
    now = datetime.now(UTC)
    events = generate_page_events(600, USERS, end=now, span=timedelta(minutes=9))
    store = FeatureStore(settings)
    assert store.push("page_events", events).accepted == 600
    report = run_processor(settings, [user_realtime_activity], until_idle=True, options=ProcessorOptions(block_ms=20))
    assert report.applied == 600

    frame = events.to_pandas()
    # Now, mid-tile instants back to the watermark (the newest event minus the 2 minutes of
    # lateness: older state is pruned), and later ones while the events leave the window.
    instants = [now, now - timedelta(minutes=1, seconds=30, microseconds=17), now + timedelta(minutes=3, seconds=1)]
    for at in instants:
        inside = frame[(frame["event_timestamp"] > at - timedelta(minutes=5)) & (frame["event_timestamp"] <= at)]
        expected = [inside.loc[inside["user_id"] == u, "category"].dropna().nunique() for u in USERS]
        assert 0 < max(expected) <= len(CATEGORIES) and min(expected) < max(expected)
        online = store.get_online_features(
            [{"user_id": u} for u in USERS], ["user_realtime_activity:categories_5m"], now=at
        ).to_df()
        assert online["categories_5m"].tolist() == expected, at
        assert (online["categories_5m__status"] == "PRESENT").all()
        entity_df = pd.DataFrame({"user_id": USERS, "event_timestamp": [at] * len(USERS)})
        offline = store.get_historical_features(entity_df, ["user_realtime_activity:categories_5m"], inclusive=True)
        assert offline["categories_5m"].tolist() == expected, at
    store.close()
