"""Bug fix with atomic swap: a corrected view in a new generation, validated, flipped, rolled back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
import redis

from feature_platform.cli import main
from feature_platform.defs.recovery import SWAP_JOB
from feature_platform.errors import GenerationError
from feature_platform.feature_repo.views import user_purchase_activity, user_realtime_activity
from feature_platform.materialization.generations import (
    GenerationValidationError,
    finish_generation,
    load_generation,
    publish_generation,
    rollback_generation,
)
from feature_platform.materialization.rebuild import latest_offline_rows
from feature_platform.offline import OfflineStore
from feature_platform.online import L1Cache, PublishMarker, RedisOnlineStore
from feature_platform.online.keys import ViewKeys, generation_key
from feature_platform.settings import Settings
from feature_platform.specs import FreshnessTier, ViewRequest
from feature_platform_tests.defs.helpers import definitions_for

VIEW = user_purchase_activity
USERS = 200
FIX = 1000
"""The corrected value of ``purchases_30d`` is the wrong one + FIX: each read can tell them apart."""
RETENTION = timedelta(hours=1)
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)


def _write_offline(store: OfflineStore, fix: int, users: range = range(USERS)) -> None:
    ids = list(users)
    store.write_partitions(VIEW, DAY, DAY + timedelta(days=1), pa.table({
        "user_id": pa.array(ids, pa.int64()),
        "event_timestamp": pa.array([DAY + timedelta(seconds=i) for i in ids], pa.timestamp("us", "UTC")),
        "created_timestamp": pa.array([DAY + timedelta(seconds=i + 1) for i in ids], pa.timestamp("us", "UTC")),
        "purchases_7d": pa.array([i % 7 for i in ids], pa.int64()),
        "spend_7d": pa.array([i * 1.5 for i in ids]),
        "purchases_30d": pa.array([i + fix for i in ids], pa.int64()),
        "spend_30d": pa.array([i * 2.5 for i in ids]),
        "avg_order_value_30d": pa.array([1.0] * len(ids)),
    }))


@pytest.fixture
def offline(tmp_path: Path) -> OfflineStore:
    return OfflineStore(tmp_path / "offline")


def _serve_wrong_values(offline: OfflineStore, store: RedisOnlineStore) -> None:
    """The buggy transformation's values, published the ordinary way (generation 0)."""
    _write_offline(offline, 0)
    rows, _ = latest_offline_rows(VIEW, offline, datetime.now(UTC))
    store.publish(VIEW, rows)


def _generation_of(store: RedisOnlineStore, users: list[int]) -> str:
    """``old``, ``new``, or ``mixed`` for one read of ``users``."""
    response = store.read([ViewRequest(VIEW, ("purchases_30d",))], [{"user_id": u} for u in users])
    values = response.to_dict()["purchases_30d"]
    kinds = {"old" if v == u else "new" if v == u + FIX else f"other {v}" for u, v in zip(users, values, strict=True)}
    return kinds.pop() if len(kinds) == 1 else "mixed"


@pytest.mark.parametrize("kind", ["redis", "redis_cluster"])
def test_readers_see_whole_generations_through_the_swap_and_the_rollback(
    kind: str, offline: OfflineStore, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
    publisher = RedisOnlineStore(url, batch_size=50)
    reader = RedisOnlineStore(url, generation_refresh_s=0.05)
    _serve_wrong_values(offline, publisher)
    assert _generation_of(reader, list(range(USERS))) == "old"
    _write_offline(offline, FIX)  # the corrected transformation's values, offline

    seen: Counter[str] = Counter()
    stop = threading.Event()

    def hammer(users: list[int]) -> None:
        while not stop.is_set():
            seen[_generation_of(reader, users)] += 1

    threads = [threading.Thread(target=hammer, args=(list(range(start, USERS, 3)),)) for start in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    swap = publish_generation(VIEW, offline, publisher, sample_size=100, retention=RETENTION)
    time.sleep(0.3)  # > generation_refresh_s: every reader has switched
    stop.set()
    for thread in threads:
        thread.join()
    assert seen["old"] > 0 and seen["new"] > 0
    assert set(seen) == {"old", "new"}, seen  # never mixed, never anything else
    assert _generation_of(reader, list(range(USERS))) == "new"
    assert swap.report.checked == 100 and swap.report.passes(0.0)
    state = publisher.generations(VIEW)
    assert (state.current, state.previous) == (1, 0)
    assert state.previous_until is not None and state.previous_until - state.flipped_at == RETENTION  # type: ignore[operator]

    client = _client(url)
    old_keys = ViewKeys("default", VIEW.name, 0).keys([list(range(USERS))])
    new_keys = ViewKeys("default", VIEW.name, 1).keys([list(range(USERS))])
    hour_ms = RETENTION // timedelta(milliseconds=1)
    assert all(0 < client.pttl(key) <= hour_ms for key in old_keys)  # the old generation expires
    assert all(client.pttl(key) > hour_ms for key in new_keys)  # the served one at its own ttl

    rolled = rollback_generation(VIEW, publisher, retention=RETENTION)
    assert (rolled.current, rolled.previous) == (0, 1)
    time.sleep(0.1)
    assert _generation_of(reader, list(range(USERS))) == "old"
    assert all(client.pttl(key) > hour_ms for key in old_keys)  # its own expiry is back
    assert all(0 < client.pttl(key) <= hour_ms for key in new_keys)
    client.close()
    publisher.close()
    reader.close()


def _client(url: str) -> redis.Redis | redis.RedisCluster:
    if url.startswith("redis+cluster://"):
        host, port = url.removeprefix("redis+cluster://").split("/")[0].split(":")
        return redis.RedisCluster(host=host, port=int(port))
    return redis.Redis.from_url(url)


def test_a_generation_that_disagrees_with_the_offline_store_is_not_served(
    offline: OfflineStore, redis_url: str
) -> None:
    store = RedisOnlineStore(redis_url)
    _serve_wrong_values(offline, store)
    _write_offline(offline, FIX)
    loaded = load_generation(VIEW, offline, store)
    # The offline store moves on while the generation loads (a later correction lands):
    # the new generation no longer says what the offline store says.
    _write_offline(offline, 2 * FIX)
    with pytest.raises(GenerationValidationError, match=r"mismatched.*Generation 0 is still served; generation 1 was dropped"):
        finish_generation(VIEW, offline, store, loaded, sample_size=50)
    assert store.generations(VIEW).current == 0
    assert store.generation_size(VIEW, 1) == 0
    assert _generation_of(store, list(range(USERS))) == "old"
    with pytest.raises(GenerationError, match="no previous generation"):
        rollback_generation(VIEW, store)
    with pytest.raises(GenerationError, match="stream view"):
        store.new_generation(user_realtime_activity)
    store.close()


def test_the_l1_cache_serves_no_old_generation_beyond_the_refresh_bound(
    offline: OfflineStore, redis_url: str
) -> None:
    publisher = RedisOnlineStore(redis_url)
    # A server process: values cached for 300 s, the served generation trusted for 0.2 s.
    cache = L1Cache(max_age_s={FreshnessTier.BATCH: 300})
    reader = RedisOnlineStore(redis_url, cache=cache, generation_refresh_s=0.2)
    _serve_wrong_values(offline, publisher)
    users = list(range(20))
    assert _generation_of(reader, users) == "old"
    assert _generation_of(reader, users) == "old" and cache.stats.hits == len(users)
    _write_offline(offline, FIX)
    publish_generation(VIEW, offline, publisher, sample_size=50, retention=RETENTION)
    time.sleep(0.25)
    assert _generation_of(reader, users) == "new"  # the old rows are still in L1, under old keys
    publisher.close()
    reader.close()


def test_a_rollback_after_the_old_generation_expired_is_refused(offline: OfflineStore, redis_url: str) -> None:
    store = RedisOnlineStore(redis_url)
    _serve_wrong_values(offline, store)
    store.write_marker(VIEW, PublishMarker("run-1", USERS, datetime.now(UTC).isoformat()))
    _write_offline(offline, FIX)
    publish_generation(VIEW, offline, store, sample_size=20, retention=timedelta(milliseconds=200))
    time.sleep(0.4)
    with pytest.raises(GenerationError, match="Generation 0 of 'user_purchase_activity' holds no values any more"):
        rollback_generation(VIEW, store)
    assert _generation_of(store, list(range(USERS))) == "new"
    # The publish marker (one per view, beside the generations) does not expire with one.
    client = redis.Redis.from_url(redis_url)
    assert client.pttl(ViewKeys("default", VIEW.name).marker) == -1
    marker = store.read_marker(VIEW)
    assert marker is not None and marker.run_id == "run-1"
    assert client.pttl(generation_key("default", VIEW.name)) == -1
    client.close()
    store.close()


def test_the_commands_swap_show_and_roll_back(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEATURE_PLATFORM_HOME", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    offline = OfflineStore(tmp_path / "offline")
    store = RedisOnlineStore(redis_url)
    _serve_wrong_values(offline, store)
    assert main(["online", "rollback", VIEW.name]) == 1
    assert "has no previous generation to roll back to" in capsys.readouterr().err
    _write_offline(offline, FIX)
    assert main(["online", "publish-generation", VIEW.name, "--sample-size", "50", "--retention-hours", "2"]) == 0
    out = capsys.readouterr().out
    assert f"generation 1 served ({USERS} entities, validated on 50 sampled entities)" in out
    assert f"roll back with: feature-platform online rollback {VIEW.name}" in out
    assert main(["online", "generations", VIEW.name]) == 0
    out = capsys.readouterr().out
    assert f"generation 1 served ({USERS} keys)" in out and f"previous: generation 0 ({USERS} keys left)" in out
    assert _generation_of(store, list(range(USERS))) in ("old", "new")
    time.sleep(1.1)  # the store's cached generation is older than generation_refresh_s
    assert _generation_of(store, list(range(USERS))) == "new"
    assert main(["online", "rollback", VIEW.name]) == 0
    assert "generation 0 served again; generation 1 kept until" in capsys.readouterr().out
    time.sleep(1.1)
    assert _generation_of(store, list(range(USERS))) == "old"
    store.close()


def test_the_dagster_swap_job_flips_the_view(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=redis_url)
    offline = OfflineStore(settings.offline_dir)
    store = RedisOnlineStore(redis_url, generation_refresh_s=0)
    _serve_wrong_values(offline, store)
    _write_offline(offline, FIX)
    result = definitions_for(settings).resolve_job_def(SWAP_JOB).execute_in_process(
        run_config={"ops": {"swap_generation_op": {"config": {"view": VIEW.name, "sample_size": 50}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (observation,) = [e.event_specific_data.asset_observation for e in result.all_events  # type: ignore[union-attr]
                      if e.event_type_value == "ASSET_OBSERVATION"]
    metadata = {k: v.value for k, v in observation.metadata.items()}
    assert (metadata["generation"], metadata["previous_generation"], metadata["validated_entities"]) == (1, 0, 50)
    assert _generation_of(store, list(range(USERS))) == "new"
    state = store.generations(VIEW)
    assert state.previous_until - state.flipped_at == timedelta(days=7)  # type: ignore[operator]  # the setting's default
    store.close()
