"""The SDK-only install: its import path loads none of the extras' packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXTRAS = ("pyspark", "dbt", "great_expectations", "dagster", "dagster_dbt", "starlette", "uvicorn", "httpx", "tenacity")


def test_the_sdk_imports_no_package_of_an_extra(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from feature_platform import FeatureStore, FeatureTable, point_in_time_join\n"
        "from feature_platform.online import L1Cache, RedisOnlineStore\n"
        "from feature_platform.feature_repo import default_registry\n"
        "FeatureStore(registry=default_registry())\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({EXTRAS!r}))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_package_is_typed_and_carries_the_dbt_project() -> None:
    import tomllib

    package = Path(__file__).resolve().parents[2] / "feature_platform"
    assert (package / "py.typed").is_file()
    assert (package / "dbt_transforms" / "dbt_project.yml").is_file()
    package_data = tomllib.loads((package.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"py.typed", "dbt_transforms/*.yml", "dbt_transforms/models/**/*"} <= set(package_data["feature_platform"])
