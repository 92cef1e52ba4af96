"""A Redis that restarts empty after a full materialization: noticed, the "already
published" shortcuts refuse, and the rebuild restores every key (real Redis, real Dagster)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from feature_platform.defs.backfill import run_backfill
from feature_platform.defs.monitoring import view_alert
from feature_platform.defs.ops import INCREMENTAL_JOB
from feature_platform.defs.recovery import REBUILD_JOB
from feature_platform.feature_repo.views import ALL_VIEWS, user_purchase_activity
from feature_platform.materialization.consistency import compare_online_offline
from feature_platform.materialization.online_loss import OnlineStoreLostError, detect_loss
from feature_platform.monitoring import AlertLevel
from feature_platform.online import PublishMarker
from feature_platform_tests.defs.helpers import (
    HUMAN_DURATION,
    materialize_everything,
    platform_for,
    redis_dump,
)
from feature_platform_tests.redis_server import RedisServer
from feature_platform_tests.sample_platform import SampleWarehouse

pytestmark = pytest.mark.slow

# The views published from the offline store (a stream view is kept by its processor).
TABLE_VIEWS = [v for v in ALL_VIEWS if not v.is_stream]


def _alive_entities(dump: dict[bytes, dict[bytes, bytes]], now: datetime) -> dict[bytes, dict[bytes, bytes]]:
    """Entity hashes (not markers) whose value is still within its view's ttl at ``now``."""
    ttl_us = {v.name.encode(): None if v.ttl is None else v.ttl // timedelta(microseconds=1) for v in ALL_VIEWS}
    now_us = int(now.timestamp() * 1e6)
    alive = {}
    for key, fields in dump.items():
        if not fields:
            continue
        ttl = ttl_us[key.split(b":")[2]]
        if ttl is None or int(fields[b"e"]) + ttl > now_us + 60_000_000:
            alive[key] = fields
    return alive


def test_restart_empty_is_detected_shortcuts_refuse_and_rebuild_restores_every_key(
    sample_warehouse: SampleWarehouse, tmp_path: Path, private_redis: RedisServer
) -> None:
    settings = sample_warehouse.copy_to(tmp_path / "data", private_redis.url)
    defs = materialize_everything(settings, (sample_warehouse.end, sample_warehouse.days))
    platform = platform_for(settings)
    offline, online, records = platform.offline_store(), platform.online_store(), platform.publish_records()
    for view in TABLE_VIEWS:
        report = detect_loss(view, offline, online, records)
        assert not report.lost and report.sampled > 0 and report.present == report.sampled
        assert report.marker is not None and report.marker.run_id in records.runs(view.name)
    before = redis_dump(settings.redis_url)
    assert len(_alive_entities(before, datetime.now(UTC))) > 40

    private_redis.stop()
    private_redis.start()  # same port, no persistence: an empty Redis

    instance = dg.DagsterInstance.ephemeral()
    for view in TABLE_VIEWS:
        alert = view_alert(instance, platform, view, datetime.now(UTC))
        assert alert.level is AlertLevel.EMERGENCY and alert.level.priority == "P1"
        assert any(f"online store lost data for {view.name}" in r for r in alert.details["reasons"])
    with pytest.raises(OnlineStoreLostError, match="rebuild-online --view user_purchase_activity"):
        run_backfill(defs, instance, user_purchase_activity, sample_warehouse.end - timedelta(days=2),
                     sample_warehouse.end, log=lambda _: None)
    incremental = defs.resolve_job_def(INCREMENTAL_JOB).execute_in_process(instance=instance, raise_on_error=False)
    assert not incremental.success
    failure = incremental.get_step_failure_events()[0].event_specific_data.error  # type: ignore[union-attr]
    assert "online store lost data for user_profile, user_purchase_activity, user_session_activity" in failure.message

    # A partition published into the lost store does not mark it healthy again.
    day = sample_warehouse.end - timedelta(days=1)
    assert defs.resolve_job_def("daily_feature_views_job").execute_in_process(
        partition_key=day.strftime("%Y-%m-%d"), instance=instance,
        asset_selection=[dg.AssetKey(["online", user_purchase_activity.name])],
    ).success
    assert detect_loss(user_purchase_activity, offline, online, records).lost

    # A restore from a snapshot of another store: its marker names a run we never recorded.
    online.write_marker(user_purchase_activity, PublishMarker("someone-else", 1, "2026-01-01"))
    assert "never recorded" in str(detect_loss(user_purchase_activity, offline, online, records).reason)

    rebuild = defs.resolve_job_def(REBUILD_JOB).execute_in_process(instance=instance)
    assert rebuild.success
    observations = rebuild.get_asset_observation_events()
    assert len(observations) == len(TABLE_VIEWS)
    for observation in observations:  # how long each view took, in words
        duration = observation.asset_observation_data.asset_observation.metadata["duration"].value
        assert isinstance(duration, str) and HUMAN_DURATION.fullmatch(duration), duration
    now = datetime.now(UTC)
    after = redis_dump(settings.redis_url)
    restored = _alive_entities(after, now)
    assert restored == _alive_entities(before, now)
    assert set(after) == set(restored)  # nothing beyond
    for view in TABLE_VIEWS:
        assert not detect_loss(view, offline, online, records).lost
        report = compare_online_offline(view, offline, online, now=now)
        assert report.checked > 0 and (report.mismatched, report.missing, report.extra) == (0, 0, 0)
    assert defs.resolve_job_def(INCREMENTAL_JOB).execute_in_process(instance=instance).success
    online.close()
