"""No client input makes the feature server answer 5xx: errors are 4xx JSON naming the problem."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feature_platform.feature_repo import default_registry
from feature_platform.online import L1Cache, RedisOnlineStore
from feature_platform.serving.requests import (
    ErrorBody,
    HealthAnswer,
    HotKeysAnswer,
    OnlineFeaturesAnswer,
)
from feature_platform.serving.server import create_app
from feature_platform_tests.serving.conftest import RunningServer
from feature_platform_tests.serving.test_server import publish

JSON = {"Content-Type": "application/json"}
VALID = {"entities": {"user_id": [1, 2]}, "features": ["user_profile:country", "user_purchase_activity:spend_7d"]}


@pytest.fixture(scope="module")
def server(redis_server: Any) -> Iterator[RunningServer]:
    """One server for the module over the session's Redis, with published values."""
    store = RedisOnlineStore(redis_server.url, tenant="input_tests", cache=L1Cache())
    publish(store)
    running = RunningServer(create_app(default_registry(), store)).start()
    yield running
    running.stop()
    store.close()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as session:
        yield session


def assert_json_error(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    body = ErrorBody.model_validate(response.json())
    assert needle in body.detail, body.detail


def test_deep_json_wrong_query_and_unknown_routes_are_json_4xx(server: RunningServer) -> None:
    url = server.url
    deep = b'{"entities": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert_json_error(httpx.post(f"{url}/get-online-features", content=deep, headers=JSON), 400, "recursion limit")
    assert_json_error(httpx.get(f"{url}/hot-keys?n=abc"), 400, "n: Input should be a valid integer")
    assert_json_error(httpx.get(f"{url}/hot-keys?n=0"), 400, "n: Input should be greater than or equal to 1")
    assert HotKeysAnswer.model_validate(httpx.get(f"{url}/hot-keys?n=3").json())
    missing = httpx.get(f"{url}/nope")
    assert_json_error(missing, 404, "No endpoint at /nope")
    assert "POST /get-online-features" in missing.json()["detail"]
    wrong = httpx.get(f"{url}/get-online-features")
    assert_json_error(wrong, 405, "GET is not allowed on /get-online-features; use POST")
    assert wrong.headers["allow"] == "POST"
    as_form = httpx.post(f"{url}/get-online-features", content=json.dumps(VALID), headers={"Content-Type": "text/plain"})
    assert_json_error(as_form, 415, "Content-Type: application/json")
    assert_json_error(httpx.post(f"{url}/get-online-features", content=json.dumps(VALID)), 415, "got ''")
    too_big = httpx.post(f"{url}/get-online-features", content=b" " * (5 * 1024 * 1024), headers=JSON)
    assert too_big.status_code == 413 and too_big.json()["error"] == "body_too_large"
    ok = httpx.post(f"{url}/get-online-features", content=json.dumps(VALID),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200
    assert OnlineFeaturesAnswer.model_validate(ok.json()).metadata.feature_names == ["user_id", "country", "spend_7d"]
    assert HealthAnswer.model_validate(httpx.get(f"{url}/health").json()).status == "ok"


def test_field_errors_point_at_the_field(server: RunningServer) -> None:
    body = {"entities": {"user_id": [1, {"a": 1}]}, "features": ["user_profile:country"], "full_feature_names": 1}
    response = httpx.post(f"{server.url}/get-online-features", json=body)
    assert response.status_code == 400
    fields = {e["field"] for e in ErrorBody.model_validate(response.json()).model_dump()["errors"]}
    assert fields == {"entities.user_id.1", "full_feature_names"}


def test_openapi_document_describes_every_endpoint(server: RunningServer) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/get-online-features", "/push", "/health", "/metrics", "/hot-keys", "/openapi.json"}
    post = document["paths"]["/get-online-features"]["post"]
    body_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = document["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert {"entities", "features", "feature_service", "full_feature_names"} == set(body["properties"])
    assert {"200", "400", "404", "415", "422", "503"} <= set(post["responses"])
    assert document["paths"]["/hot-keys"]["get"]["parameters"][0]["name"] == "n"
    push = document["paths"]["/push"]["post"]
    assert {"200", "400", "404", "422", "429", "503"} <= set(push["responses"])


_TEXT = st.text(alphabet=string.printable.strip() + " ", max_size=30)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    """Raw bytes, arbitrary JSON, or a valid request with one part replaced by anything."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(_JSON_VALUES)).encode()
    body: dict[str, Any] = {**VALID, "entities": dict(VALID["entities"])}
    field = draw(st.sampled_from(["entities", "features", "feature_service", "full_feature_names", "user_id", "x"]))
    value = draw(_JSON_VALUES | st.sampled_from(["churn_model_v1", "user_profile:*", "user_profile:plan"]))
    if field == "user_id":
        body["entities"]["user_id"] = draw(st.lists(_JSON_VALUES, min_size=1, max_size=3))
    else:
        body[field] = value
    return json.dumps(body).encode()


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.sampled_from(["/get-online-features", "/health", "/metrics", "/hot-keys", "/openapi.json"])
    | _TEXT.map(lambda p: "/" + p.replace("?", "").replace("#", "")),
    query=st.dictionaries(st.sampled_from(["n", "x", ""]) | _TEXT, _TEXT, max_size=3),
    headers=st.dictionaries(
        st.sampled_from(["Content-Type", "X-Tenant", "Accept", "X-Other"]),
        # h11 refuses to send a header value with surrounding whitespace.
        st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "default"])
        | _TEXT.map(str.strip),
        max_size=3,
    ),
    body=_bodies(),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_every_endpoint_answers_2xx_or_a_json_4xx(
    client: httpx.Client, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
) -> None:
    response = client.request(method, path, params=query, headers=headers, content=body)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        ErrorBody.model_validate(response.json())


def test_the_server_is_still_up_after_the_fuzzing(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert httpx.post(f"{server.url}/get-online-features", json=VALID).status_code == 200
