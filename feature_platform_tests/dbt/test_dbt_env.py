"""The settings' dbt project and dbt environment point dbt at the platform's folders."""

from __future__ import annotations

from pathlib import Path

from feature_platform.settings import Settings


def test_project_dir_is_the_repos_dbt_project() -> None:
    project_dir = Settings().dbt.project_dir
    assert project_dir.is_absolute()
    assert (project_dir / "dbt_project.yml").is_file()
    assert (project_dir / "profiles.yml").is_file()
    assert project_dir == Path(__file__).resolve().parents[2] / "dbt_transforms"


def test_env_holds_absolute_paths_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "home")
    assert settings.dbt_env() == {
        "FEATURE_PLATFORM_WAREHOUSE": str(tmp_path / "home" / "warehouse.duckdb"),
        "FEATURE_PLATFORM_LANDING": str(tmp_path / "home" / "landing"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def test_relative_data_dir_becomes_absolute(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    env = Settings(data_dir=Path("rel")).dbt_env()
    assert env["FEATURE_PLATFORM_LANDING"] == str(tmp_path.resolve() / "rel" / "landing")
