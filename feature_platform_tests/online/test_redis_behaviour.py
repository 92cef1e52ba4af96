"""Redis-specific behaviour: round trips, outages, secrets in messages, scripts, rate limit."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pandas as pd
import pytest
import redis

from feature_platform.errors import ConfigError, OnlineStoreError, OnlineStoreUnavailableError
from feature_platform.online import PublishProgress, RedisOnlineStore, redact_url, store_writes
from feature_platform.specs import ViewRequest
from feature_platform_tests.online.conftest import PAIRS, PROFILE, SCORES, now_utc
from feature_platform_tests.redis_server import RedisServer, free_port


def profile_rows(ids: list[int]) -> pd.DataFrame:
    now = now_utc()
    return pd.DataFrame({"user_id": ids, "event_timestamp": [now] * len(ids), "created_timestamp": [now] * len(ids),
                         "country": ["FR"] * len(ids), "score": [1.0] * len(ids)})


def test_a_read_of_many_views_and_entities_is_one_round_trip(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisOnlineStore(redis_url, "rt")
    store.write(PROFILE, profile_rows(list(range(100))))
    trips: list[int] = []
    real = store.reader.round_trip  # reads have a transport (and pool) of their own
    monkeypatch.setattr(store.reader, "round_trip", lambda commands: trips.append(len(commands)) or real(commands))
    response = store.read(
        [ViewRequest(PROFILE, ("country",)), ViewRequest(SCORES, ("score", "count"))],
        [{"user_id": i} for i in range(100)],
    )
    # 200 HMGET and, in the same round trip, the served generation of SCORES (the write
    # just read PROFILE's; a reader asks again after generation_refresh_s).
    assert trips == [201]
    assert response.to_dict()["country"] == ["FR"] * 100
    trips.clear()
    store.read([ViewRequest(PROFILE, ("country",)), ViewRequest(SCORES, ("score",))], [{"user_id": 1}])
    assert trips == [2]


def test_writes_are_batched_by_batch_size(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RedisOnlineStore(redis_url, "batch", batch_size=40, script_keys=15)
    store.write(PROFILE, profile_rows([-1]))  # loads the scripts: a first-ever write takes one more trip
    trips: list[int] = []
    real = store.transport.round_trip
    monkeypatch.setattr(store.transport, "round_trip", lambda commands: trips.append(len(commands)) or real(commands))
    assert store.write(PROFILE, profile_rows(list(range(100)))).written == 100
    # The spread hot keys and the served generation (HGETALL + HGET, one round trip), then
    # 40 + 40 + 20 rows; EVALSHA of <= 15 keys.
    assert trips == [2, 3, 3, 2]


def test_publish_reduces_once_and_reports_progress_per_round_trip(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisOnlineStore(redis_url, "progress", batch_size=10)
    store.write(PROFILE, profile_rows([0]).assign(event_timestamp=now_utc() + timedelta(days=1)))  # newer than below
    rows = pd.concat([profile_rows(list(range(25))), profile_rows(list(range(25)))])  # two rows per entity
    reductions: list[int] = []
    real = store_writes.latest_per_entity
    monkeypatch.setattr(
        store_writes, "latest_per_entity", lambda table, keys: reductions.append(table.num_rows) or real(table, keys)
    )
    seen: list[PublishProgress] = []
    result = store.publish(PROFILE, rows, progress=seen.append)
    assert reductions == [50]
    assert [p.done for p in seen] == [10, 20, 25] and {p.entities for p in seen} == {25}
    assert (seen[-1].written, seen[-1].skipped_not_newer) == (result.written, result.skipped_not_newer) == (24, 1)
    assert seen[-1].rows_in == 50 and seen[-1].rows_per_s > 0
    empty: list[PublishProgress] = []
    store.publish(PROFILE, rows.iloc[:0], progress=empty.append)
    assert [(p.done, p.entities) for p in empty] == [(0, 0)]


def test_write_rate_limit_paces_batches(redis_url: str) -> None:
    limited = RedisOnlineStore(redis_url, "rate", batch_size=50, write_rate_limit=1000)
    started = time.monotonic()
    limited.write(PROFILE, profile_rows(list(range(300))))
    assert time.monotonic() - started >= 0.25
    with pytest.raises(ConfigError, match="write_rate_limit"):
        RedisOnlineStore(redis_url, write_rate_limit=0)


def test_scripts_are_reloaded_after_a_script_flush(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisOnlineStore(redis_url, "flush")
    store.write(PROFILE, profile_rows([1]))
    redis_client.script_flush()
    assert store.write(PROFILE, profile_rows([2])).written == 1


def test_outage_is_transient_names_the_host_and_recovers(private_redis: RedisServer) -> None:
    store = RedisOnlineStore(private_redis.url, "down")
    store.write(PROFILE, profile_rows([1]))
    private_redis.stop()
    request = [ViewRequest(PROFILE, ("country",))]
    with pytest.raises(OnlineStoreUnavailableError, match=f"127.0.0.1:{private_redis.port}"):
        store.read(request, [{"user_id": 1}])
    with pytest.raises(OnlineStoreUnavailableError):
        store.write(PROFILE, profile_rows([2]))
    with pytest.raises(OnlineStoreUnavailableError):
        store.ping()
    private_redis.start()  # same port, empty data: the same store object works again
    store.ping()
    assert store.read(request, [{"user_id": 1}]).to_dict()["country__status"] == ["NOT_FOUND"]


def test_passwords_never_appear_in_errors_logs_or_repr(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Zq9-secret%2Fpw"
    caplog.set_level(logging.DEBUG)
    port = free_port()
    url = f"redis://app:{secret}@127.0.0.1:{port}/0"
    store = RedisOnlineStore(url, "sec")
    with pytest.raises(OnlineStoreUnavailableError) as unreachable:
        store.ping()
    tls = RedisOnlineStore(f"rediss://app:{secret}@127.0.0.1:{port}/0", "sec")
    assert tls.transport.pool.connection_class is redis.SSLConnection
    with pytest.raises(OnlineStoreUnavailableError) as tls_error:
        tls.read([ViewRequest(PROFILE, ("country",))], [{"user_id": 1}])
    texts = [str(unreachable.value), str(tls_error.value), repr(store), redact_url(url), caplog.text]
    for text in texts:
        assert "secret" not in text and "Zq9" not in text
    assert f"127.0.0.1:{port}" in str(unreachable.value)
    assert redact_url(url) == f"redis://app:***@127.0.0.1:{port}/0"


def test_wrong_password_is_terminal_and_secret_free(private_redis: RedisServer) -> None:
    admin = private_redis.client()
    admin.execute_command("ACL", "SETUSER", "app", "on", ">right-one", "~*", "+@all")
    port = private_redis.port
    bad = RedisOnlineStore(f"redis://app:wrong-guess@127.0.0.1:{port}/0", "auth")
    with pytest.raises(OnlineStoreError) as info:
        bad.ping()
    assert not isinstance(info.value, OnlineStoreUnavailableError)
    assert "wrong-guess" not in str(info.value) and "credentials" in str(info.value)
    good = RedisOnlineStore(f"redis://app:right-one@127.0.0.1:{port}/0", "auth")
    now = now_utc()
    frame = pd.DataFrame({"shop": ["a"], "item_id": [1], "event_timestamp": [now],
                          "created_timestamp": [now], "stock": [1]})
    assert good.write(PAIRS, frame).written == 1


def test_bad_config_is_refused(redis_url: str) -> None:
    with pytest.raises(ConfigError, match="scheme"):
        RedisOnlineStore("http://127.0.0.1:6379")
    with pytest.raises(Exception, match="Tenant"):
        RedisOnlineStore(redis_url, "bad:tenant")
    with pytest.raises(ConfigError, match="batch_size"):
        RedisOnlineStore(redis_url, batch_size=0)
    assert RedisOnlineStore(redis_url, expiry_grace=timedelta(0))._grace_micros == 0
