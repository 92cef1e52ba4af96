"""Multi-tenancy: prefix / database / URL isolation, per-tenant pools, Redis ACL users."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import redis

from feature_platform.errors import ConfigError
from feature_platform.online import (
    OnlineStorePermissionError,
    RedisOnlineStore,
    TenantIsolation,
    TenantRouting,
    TenantTarget,
    tenant_acl_rules,
)
from feature_platform.online.keys import ViewKeys
from feature_platform.specs import ViewRequest
from feature_platform_tests.online.conftest import PROFILE, now_utc
from feature_platform_tests.redis_server import RedisServer

REQUEST = [ViewRequest(PROFILE, ("country",))]


def rows(country: str) -> pd.DataFrame:
    now = now_utc()
    return pd.DataFrame({"user_id": [1], "event_timestamp": [now], "created_timestamp": [now],
                         "country": [country], "score": [1.0]})


def country(store: RedisOnlineStore) -> object:
    return store.read(REQUEST, [{"user_id": 1}]).to_dict()["country"][0]


def test_prefix_database_and_url_isolation(redis_url: str, tmp_path: Path) -> None:
    other = RedisServer(tmp_path / "other").start()
    try:
        routing = TenantRouting.from_config(
            {"acme": "prefix", "globex": {"database": 3}, "initech": {"url": other.url}}
        )
        base = RedisOnlineStore(redis_url, "acme", tenants=routing)
        stores = {name: base.for_tenant(name) for name in ("acme", "globex", "initech", "umbrella")}
        for name, store in stores.items():
            store.write(PROFILE, rows(name))
        assert {name: country(store) for name, store in stores.items()} == {n: n for n in stores}
        shared = redis.Redis.from_url(redis_url)
        def key(tenant: str) -> bytes:
            return ViewKeys(tenant, "profile").key([1])

        assert sorted(shared.keys()) == [key("acme"), key("umbrella")]
        assert redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/3").keys() == [key("globex")]
        assert other.client().keys() == [key("initech")]
        pools = {id(store.transport.pool) for store in stores.values()}
        assert len(pools) == 4  # a connection pool per tenant, even on the same URL
        assert stores["acme"] is base and base.for_tenant("globex").transport.pool is stores["globex"].transport.pool
        assert routing.target("umbrella").isolation is TenantIsolation.PREFIX
    finally:
        other.stop()


def test_routing_config_errors_name_the_tenant() -> None:
    with pytest.raises(ConfigError, match="'globex'"):
        TenantRouting.from_config({"globex": {"db": 3}})
    with pytest.raises(ConfigError, match="database number"):
        TenantTarget(TenantIsolation.DATABASE, db=-1)
    with pytest.raises(ConfigError, match="scheme"):
        TenantTarget(TenantIsolation.URL, url="http://x")
    secret = TenantTarget(TenantIsolation.URL, url="redis://u:hunter2@h:1/0")
    assert "hunter2" not in repr(secret)


def test_acl_user_of_a_tenant_touches_only_its_prefix(private_redis: RedisServer) -> None:
    admin = private_redis.client()
    for tenant in ("tenant_a", "tenant_b"):
        admin.execute_command("ACL", "SETUSER", tenant, *tenant_acl_rules(tenant, f"pw-{tenant}"))
    url_a = f"redis://tenant_a:pw-tenant_a@127.0.0.1:{private_redis.port}/0"
    url_b = f"redis://tenant_b:pw-tenant_b@127.0.0.1:{private_redis.port}/0"
    store_a = RedisOnlineStore(url_a, "tenant_a")
    store_b = RedisOnlineStore(url_b, "tenant_b")
    assert store_a.write(PROFILE, rows("A")).written == 1
    assert store_b.write(PROFILE, rows("B")).written == 1
    assert country(store_a) == "A" and country(store_b) == "B"
    assert [r[0] for r in store_a.iter_entities(PROFILE)] == [{"user_id": 1}]
    assert store_a.cleanup(PROFILE, existing_keys=[{"user_id": 1}]).removed == 0

    a_posing_as_b = RedisOnlineStore(url_a, "tenant_b")
    with pytest.raises(OnlineStorePermissionError, match="tenant_a") as info:
        country(a_posing_as_b)
    assert "pw-tenant_a" not in str(info.value)
    with pytest.raises(OnlineStorePermissionError):
        a_posing_as_b.write(PROFILE, rows("evil"))
    with pytest.raises(OnlineStorePermissionError):
        a_posing_as_b.delete_entities(PROFILE, [{"user_id": 1}])
    raw_a = redis.Redis.from_url(url_a)
    with pytest.raises(redis.exceptions.NoPermissionError):
        raw_a.hgetall(b"fs:tenant_b:profile:\x01")
    with pytest.raises(redis.ResponseError, match="(?i)no permissions|can't access"):
        raw_a.eval("return redis.call('DEL', KEYS[1])", 1, b"fs:tenant_b:profile:\x01")
    with pytest.raises(redis.ResponseError, match="(?i)no permissions|can't access"):
        raw_a.eval("return redis.call('DEL', 'fs:tenant_b:profile:\\1')", 0)
    with pytest.raises(redis.exceptions.NoPermissionError):
        raw_a.flushall()
    for command in (("RANDOMKEY",), ("DBSIZE",), ("SCRIPT", "FLUSH"), ("FUNCTION", "FLUSH")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            raw_a.execute_command(*command)
    assert country(store_b) == "B"
    assert store_b.write(PROFILE, rows("B2")).written == 1  # its scripts were not flushed
