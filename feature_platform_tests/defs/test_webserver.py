"""`make dev`'s `dagster dev` end to end: the UI's GraphQL shows the lineage and automation."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from feature_platform_tests.redis_server import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

QUERY = """
{
  assetNodes { assetKey { path } dependencyKeys { path } groupName isPartitioned }
  repositoriesOrError { ... on RepositoryConnection { nodes {
      schedules { name cronSchedule } sensors { name } jobs { name } } } }
}
"""


def _post(url: str, query: str) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(url, json.dumps({"query": query}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "FEATURE_PLATFORM_HOME": str(tmp_path / "data")}
    dagster = str(Path(sys.executable).parent / "dagster")
    # dagster dev ignores SIGTERM when it has no job control: give it its own process group.
    proc = subprocess.Popen(
        [dagster, "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("dagster dev did not come up") from None
                time.sleep(1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_ui_shows_dbt_to_offline_to_online_lineage_and_the_automation(dagster_dev: str) -> None:
    data = _post(f"{dagster_dev}/graphql", QUERY)["data"]
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    for view in ("user_profile", "user_purchase_activity", "user_session_activity"):
        assert ["/".join(d["path"]) for d in nodes[view]["dependencyKeys"]] == [f"dbt/fv_{view}"]
        assert ["/".join(d["path"]) for d in nodes[f"online/{view}"]["dependencyKeys"]] == [view]
        assert nodes[view]["isPartitioned"] and nodes[f"online/{view}"]["groupName"] == "online_store"
    assert nodes["dbt/fv_user_profile"]["groupName"] == "dbt"
    stream = "user_realtime_activity"  # the stream view: its log, then the view, then Redis
    assert ["/".join(d["path"]) for d in nodes[stream]["dependencyKeys"]] == ["stream/page_events"]
    assert ["/".join(d["path"]) for d in nodes[f"online/{stream}"]["dependencyKeys"]] == [stream]
    repository = data["repositoriesOrError"]["nodes"][0]
    schedules = {s["name"]: s["cronSchedule"] for s in repository["schedules"]}
    assert schedules["daily_full_materialization"] == "0 2 * * *"
    assert schedules["weekly_validation"] == "0 4 * * 1"
    assert schedules["daily_stream_correction"] == "30 2 * * *"
    assert schedules["near_real_time_microbatch"] == "3-59/5 * * * *"
    assert {s["name"] for s in repository["sensors"]} == {
        "late_data_sensor", "on_call_alert_sensor", "stream_health_sensor", "hot_shard_sensor",
    }
