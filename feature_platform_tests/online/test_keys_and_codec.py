"""Entity-key and value encodings: injective, escape-proof, compact; large values compressed."""

from __future__ import annotations

import fnmatch
from collections import Counter
from datetime import timedelta

import msgpack
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from feature_platform.errors import SchemaError
from feature_platform.online import FeatureStatus, RedisOnlineStore
from feature_platform.online.codec import COMPRESSED_MARKER, decode_values, encode_values
from feature_platform.online.keys import (
    BUCKETS,
    ParsedKey,
    ViewKeys,
    check_key_value,
    decode_entity,
    encode_entity,
    generation_key,
    parse_key,
)
from feature_platform.specs import ValueType, ViewRequest
from feature_platform_tests.online.conftest import PAIRS, PROFILE, now_utc

key_values = st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=300), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(key_values, key_values), min_size=2, max_size=2, unique=True))
def test_entity_encoding_is_injective_and_reversible(pairs: list[tuple[object, object]]) -> None:
    first, second = pairs
    assert encode_entity(first) != encode_entity(second)
    for values in pairs:
        assert tuple(decode_entity(encode_entity(values), ["a", "b"]).values()) == values


@settings(max_examples=300, deadline=None)
@given(key_values)
def test_a_one_key_entity_decodes_back_and_a_wrong_count_is_named(value: object) -> None:
    assert decode_entity(encode_entity([value]), ["k"]) == {"k": value}
    with pytest.raises(SchemaError, match="has 2 values, expected 1"):
        decode_entity(encode_entity([value, value]), ["k"])
    with pytest.raises(SchemaError, match="has 0 values, expected 1"):
        decode_entity(b"", ["k"])


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ((1,), ("1",)),
        ((True,), (1,)),
        (("a:b", "c"), ("a", "b:c")),
        (("a", ""), ("", "a")),
        (("x" * 10_000,), ("x" * 10_001,)),
        (("é",), ("e\u0301",)),
    ],
)
def test_tricky_entity_keys_do_not_collide(left: tuple[object, ...], right: tuple[object, ...]) -> None:
    assert encode_entity(left) != encode_entity(right)


def test_a_key_value_cannot_escape_into_another_view_or_tenant() -> None:
    evil = "x:fs:other:profile:*"
    layout = ViewKeys("acme", "pairs")
    key = layout.key([evil, 1])
    assert key.startswith(b"fs:acme:pairs:{")
    assert key.split(b":", 3)[:3] == [b"fs", b"acme", b"pairs"]
    assert layout.join_keys(key, ["shop", "item_id"]) == {"shop": evil, "item_id": 1}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["{", "}", "{}", "a", "{x}", "}{", ""]), max_size=6).map("".join), st.integers(-(2**63), 2**63 - 1))
def test_braces_in_an_entity_never_form_an_accidental_hash_tag(shop: str, item: int) -> None:
    layout = ViewKeys("acme", "pairs")
    key = layout.key([shop, item])
    entity = encode_entity([shop, item])
    tag = layout.tag(key)
    # Redis Cluster hashes our explicit tag, whatever braces the entity holds.
    assert key == layout.prefix + tag + entity and tag[:1] == b"{" and tag[-1:] == b"}"
    assert key_slot(key) == key_slot(tag)
    assert 0 <= int(tag[1:-1]) < BUCKETS
    assert layout.entity(key) == entity and parse_key(key).entity == (shop, item)


def test_entities_spread_evenly_over_the_buckets() -> None:
    layout = ViewKeys("t", "v")
    buckets = Counter(layout.tag(key) for key in layout.keys([list(range(102_400))]))
    assert len(buckets) == BUCKETS
    assert 60 < min(buckets.values()) and max(buckets.values()) < 140  # 100 each on average


def test_the_key_layout_builds_and_parses_its_own_keys() -> None:
    evil = "x:fs:other:profile:*"
    layout = ViewKeys("acme", "pairs")
    keys = layout.keys([[evil, "b"], [1, 2]])
    assert keys == [layout.key([evil, 1]), layout.key(["b", 2])]
    assert parse_key(keys[0]) == ParsedKey("acme", "pairs", (evil, 1))
    assert layout.join_keys(keys[1], ["shop", "item_id"]) == {"shop": "b", "item_id": 2}
    assert all(key.startswith(layout.pattern.rstrip(b"*")) for key in keys)


def test_int_keys_are_compact() -> None:
    assert ViewKeys("t", "v").key([42]) == b"fs:t:v:{603}\x2a"
    assert len(encode_entity([10**12])) == 9


def test_generations_have_their_own_keys_beside_generation_0() -> None:
    first, third = ViewKeys("t", "v"), ViewKeys("t", "v", 3)
    assert third.key([42]) == b"fs:t:v~g3:{603}\x2a" and first.key([42]) == b"fs:t:v:{603}\x2a"
    assert parse_key(third.key([42])) == ParsedKey("t", "v", (42,), 3)
    assert parse_key(first.key([42])) == ParsedKey("t", "v", (42,), 0)
    # Neither generation's scan pattern matches the other's keys, the marker or the generation hash.
    assert not fnmatch.fnmatchcase(third.key([42]).decode(), first.pattern.decode())
    assert not fnmatch.fnmatchcase(generation_key("t", "v").decode(), first.pattern.decode())
    assert third.marker == first.marker and not first.is_entity(first.marker) and first.is_entity(first.key([1]))
    assert third.tag(third.key([42])) == first.tag(first.key([42])) == b"{603}"


def test_key_values_are_type_checked() -> None:
    import numpy as np

    assert check_key_value(np.int64(5), "k", ValueType.INT64) == 5
    assert type(check_key_value(np.int64(5), "k", ValueType.INT64)) is int
    for bad, dtype in [("1", ValueType.INT64), (True, ValueType.INT64), (1.0, ValueType.INT64),
                       (2**63, ValueType.INT64), (1, ValueType.STRING), (None, ValueType.STRING),
                       (1, ValueType.BOOL)]:
        with pytest.raises(SchemaError, match="'k'"):
            check_key_value(bad, "k", dtype)


def test_values_round_trip_and_large_values_are_compressed() -> None:
    small = {"a": 1, "b": 2.5, "c": "x", "d": None, "e": True}
    assert decode_values(encode_values(small)) == small
    assert encode_values(small)[0] != COMPRESSED_MARKER
    large = {"text": "abc" * 1000, "n": 1}
    blob = encode_values(large)
    assert blob[0] == COMPRESSED_MARKER and len(blob) < len(msgpack.packb(large)) / 10
    assert decode_values(blob) == large


def test_tricky_keys_are_separate_entities_in_redis(redis_url: str, redis_client: redis.Redis) -> None:
    store = RedisOnlineStore(redis_url, "keys")
    now = now_utc()
    shops = ["a:b", "a", "a:b:1", "*", "ünï\n", "s" * 5000, ""]
    import pandas as pd

    frame = pd.DataFrame({"shop": shops, "item_id": [1] * len(shops), "event_timestamp": [now] * len(shops),
                          "created_timestamp": [now] * len(shops), "stock": list(range(len(shops)))})
    assert store.write(PAIRS, frame, now=now).written == len(shops)
    out = store.read([ViewRequest(PAIRS, ("stock",))], [{"shop": s, "item_id": 1} for s in shops], now=now)
    assert out.to_dict()["stock"] == list(range(len(shops)))
    assert len(redis_client.keys(b"fs:keys:pairs:*")) == len(shops)
    assert redis_client.keys(b"fs:keys:pairs:*") == redis_client.keys(b"*")


def test_large_values_are_stored_compressed(redis_url: str, redis_client: redis.Redis) -> None:
    import pandas as pd

    store = RedisOnlineStore(redis_url, "big")
    now = now_utc()
    country = "long-" * 500
    store.write(PROFILE, pd.DataFrame({"user_id": [1], "event_timestamp": [now], "created_timestamp": [now],
                                       "country": [country], "score": [1.0]}), now=now)
    stored = redis_client.hget(ViewKeys("big", "profile").key([1]), "v")
    assert stored is not None and stored[0] == COMPRESSED_MARKER and len(stored) < 200
    response = store.read([ViewRequest(PROFILE, ("country",))], [{"user_id": 1}], now=now)
    assert response[0]["country"].value == country
    assert response[0]["country"].status is FeatureStatus.PRESENT


def test_stored_layout_and_expiry(redis_url: str, redis_client: redis.Redis) -> None:
    import pandas as pd

    store = RedisOnlineStore(redis_url, "lay", expiry_grace=timedelta(0))
    now = now_utc()
    event = now - timedelta(minutes=30)
    frame = pd.DataFrame({"shop": ["s"], "item_id": [3], "event_timestamp": [event], "created_timestamp": [now],
                          "stock": [4]})
    store.write(PAIRS, frame, now=now)
    key = ViewKeys("lay", "pairs").key(["s", 3])
    stored = redis_client.hgetall(key)
    assert set(stored) == {b"e", b"c", b"v"}
    assert int(stored[b"e"]) == int(event.timestamp() * 1_000_000)
    assert msgpack.unpackb(stored[b"v"]) == {"stock": 4}
    expected_ms = (event + timedelta(hours=1) - now_utc()).total_seconds() * 1000
    assert abs(redis_client.pttl(key) - expected_ms) < 1000
    newer = frame.assign(event_timestamp=[now])
    store.write(PAIRS, newer, now=now)
    assert abs(redis_client.pttl(key) - 3_600_000) < 1000  # sliding: the newer value moved it
