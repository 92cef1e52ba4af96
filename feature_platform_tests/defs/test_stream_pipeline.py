"""The real-time path through Dagster on real Redis: the processor's runless materializations,
the stream health sensor paging on-call, and the daily batch correction."""

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from feature_platform.defs import build_definitions
from feature_platform.defs.jobs import partition_range_tags
from feature_platform.defs.monitoring import OnCallResource
from feature_platform.defs.streams import STREAM_HEALTH_SENSOR, progress_reporter
from feature_platform.feature_repo.views import user_realtime_activity
from feature_platform.offline import OfflineStore
from feature_platform.sample_data.stream_events import generate_page_events
from feature_platform.serving.feature_store import FeatureStore
from feature_platform.settings import Settings
from feature_platform.specs import Partitioning
from feature_platform.streaming.processor import run_processor
from feature_platform_tests.alerting.webhook_server import webhook_server
from feature_platform_tests.defs.helpers import platform_for

pytestmark = pytest.mark.slow
VIEW = user_realtime_activity
USERS = list(range(1, 21))


def _sense(defs: dg.Definitions, instance: dg.DagsterInstance, settings: Settings, on_call: OnCallResource,
           cursor: str | None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def(STREAM_HEALTH_SENSOR)
    resources = {"feature_platform": platform_for(settings), "on_call": on_call}
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=resources, cursor=cursor) as context:
        result = sensor.evaluate_tick(context)
    return result


def test_processor_reports_sensor_pages_and_the_correction_lands_every_event(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_url)
    instance = dg.DagsterInstance.ephemeral()
    now = datetime.now(UTC)
    # Yesterday's events (the correction works on complete days); 5% of them come 10 minutes
    # late, beyond the source's 2 minutes of allowed lateness.
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=1)
    events = generate_page_events(400, USERS, end=end, late_fraction=0.05)
    store = FeatureStore(settings)
    assert store.push("page_events", events).accepted == 400

    with webhook_server() as receiver:
        on_call = OnCallResource(webhook_url=receiver.url, kind="pagerduty", routing_key="key", max_attempts=1)
        defs = build_definitions(platform_for(settings), include_dbt=False, on_call=on_call)

        stop = threading.Event()
        reports: list[object] = []
        processor = threading.Thread(target=lambda: reports.append(run_processor(
            settings, [VIEW], stop=stop, on_progress=progress_reporter([VIEW], instance))))
        processor.start()
        deadline = time.monotonic() + 60
        while store.get_online_features([{"user_id": u} for u in USERS], [f"{VIEW.name}:page"]).to_df()[
                "page__status"].ne("PRESENT").any():
            assert time.monotonic() < deadline, "the processor did not apply the burst in 60 s"
            time.sleep(0.2)
        live = _sense(defs, instance, settings, on_call, None)
        stop.set()
        processor.join(timeout=60)
        report = reports[0]
        assert report.dead_lettered > 0 and report.applied + report.dead_lettered == 400  # type: ignore[attr-defined]

        # While the processor ran: healthy, nothing paged, the source observed.
        assert receiver.bodies == []
        observed = {e.asset_key.to_user_string(): e.metadata for e in live.asset_events}
        assert observed["stream/page_events"]["partitions_without_live_owner"].value == []
        # The processor reported a runless materialization of the online asset.
        reported = instance.get_latest_materialization_event(dg.AssetKey(["online", VIEW.name]))
        assert reported is not None and reported.run_id == ""

        # Processor gone: every partition is without a live owner, a P1 page.
        _sense(defs, instance, settings, on_call, live.cursor)
        pages = [b for b in receiver.bodies if b["event_action"] == "trigger"]
        assert [p["dedup_key"] for p in pages] == [f"feature_platform/stream/{VIEW.name}"]
        assert "[P1]" in pages[0]["payload"]["summary"] and "no live processor" in pages[0]["payload"]["summary"]

    # The daily correction: every landed event of the day, the dead-lettered ones too, reaches
    # the offline store, and the online store keeps each user's newest event.
    days = sorted({Partitioning.DAILY.key_for(t) for t in events.column("event_timestamp").to_pylist()})
    job = defs.resolve_job_def("daily_stream_correction_job")
    assert job.execute_in_process(instance=instance, tags=partition_range_tags(days[0], days[-1])).success
    offline = OfflineStore(settings.offline_dir).read(VIEW, now - timedelta(days=2), now + timedelta(days=1))
    assert offline.num_rows == 400
    # With each aggregation at each row's time over every landed event, late ones included.
    frame = events.to_pandas()
    for user, at, views in zip(*(offline.column(c).to_pylist() for c in ("user_id", "event_timestamp", "page_views_5m")), strict=True):
        mine = frame[frame["user_id"] == user]["event_timestamp"]
        assert views == ((mine > at - timedelta(minutes=5)) & (mine <= at)).sum()
    newest = events.to_pandas().sort_values("event_timestamp").groupby("user_id")["page"].last()
    online = store.get_online_features([{"user_id": u} for u in newest.index], [f"{VIEW.name}:page"]).to_df()
    assert online["page"].tolist() == newest.tolist()
    store.close()
