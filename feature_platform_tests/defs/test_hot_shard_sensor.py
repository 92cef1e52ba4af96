"""The hot-shard sensor on a real Redis Cluster: reads skewed onto one shard page P3 to a real
HTTP receiver through the on-call alerting, once per incident, resolved when the load evens out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import redis
from redis.crc import key_slot

from feature_platform.defs.hot_shards import HOT_SHARD_SENSOR, build_hot_shard_sensor
from feature_platform.defs.monitoring import OnCallResource
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.feature_repo.views import user_profile
from feature_platform.online import RedisOnlineStore
from feature_platform.specs import ViewRequest
from feature_platform_tests.alerting.webhook_server import webhook_server
from feature_platform_tests.serving.test_server import publish


@contextmanager
def hammering(read: Callable[[], object]) -> Iterator[None]:
    """``read`` in a loop on a thread while the block runs; Redis's ops/s estimate covers
    the last ~1.6 s, so the block starts 2 s in."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            read()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        time.sleep(2.0)
        yield
    finally:
        stop.set()
        thread.join()


def test_a_hot_shard_pages_p3_through_on_call_and_resolves(cluster_url: str) -> None:
    store = RedisOnlineStore(cluster_url)
    publish(store)
    client = store.transport.client
    assert isinstance(client, redis.RedisCluster)
    hot_key = store.view_keys(user_profile).key([1])
    hot_node = str(client.nodes_manager.get_node_from_slot(key_slot(hot_key)).name)
    # 50 reads of one user per round trip: thousands of ops/s on the shard that holds it.
    one_user = ([ViewRequest(user_profile, ("country",))], [{"user_id": 1}] * 50)
    sensor = build_hot_shard_sensor()
    platform = FeaturePlatformResource(redis_url=cluster_url)

    with webhook_server() as receiver:
        on_call = OnCallResource(webhook_url=receiver.url, kind="pagerduty", routing_key="k", max_attempts=1)

        def tick(cursor: str | None) -> str | None:
            with dg.build_sensor_context(
                cursor=cursor, resources={"feature_platform": platform, "on_call": on_call}
            ) as context:
                return sensor.evaluate_tick(context).cursor

        cursor = tick(None)  # an idle cluster: nothing to compare, no page
        assert receiver.bodies == []
        with hammering(lambda: store.read(*one_user)):
            cursor = tick(cursor)
            cursor = tick(cursor)  # still hot: the same incident, no second page
        assert len(receiver.bodies) == 1, receiver.bodies
        page = receiver.bodies[0]
        assert page["event_action"] == "trigger" and page["dedup_key"] == "feature_platform/shards/online_store"
        payload = page["payload"]
        assert isinstance(payload, dict)
        assert payload["severity"] == "warning" and payload["summary"].startswith("[P3] Hot Redis shard: ")
        assert payload["class"] == "hot_shard"
        assert payload["custom_details"]["hottest_shard"] == hot_node
        assert len(payload["custom_details"]["ops_per_second"]) == 3
        assert payload["custom_details"]["imbalance"] > 2.0

        # The reads spread over every shard: balanced again, the incident resolves.
        many_users = ([ViewRequest(user_profile, ("country",))], [{"user_id": i} for i in range(200)])
        with hammering(lambda: store.read(*many_users)):
            tick(cursor)
        assert [b["event_action"] for b in receiver.bodies] == ["trigger", "resolve"], receiver.bodies
        assert receiver.bodies[1]["dedup_key"] == "feature_platform/shards/online_store"
    store.close()


def test_the_sensor_is_in_the_definitions() -> None:
    from feature_platform.definitions import defs

    assert defs.resolve_sensor_def(HOT_SHARD_SENSOR).name == HOT_SHARD_SENSOR
