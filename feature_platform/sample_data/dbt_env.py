"""What the dbt project in ``dbt_transforms/`` needs from the platform's settings."""

from __future__ import annotations

from pathlib import Path

from feature_platform.settings import Settings

DBT_PROJECT_DIR: Path = Path(__file__).resolve().parents[2] / "dbt_transforms"
"""The repo's dbt project (also its profiles directory)."""


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables for a dbt run against ``settings``' warehouse and landing folder.

    Merge them over ``os.environ`` for the dbt subprocess. Paths are absolute, so dbt's
    working directory does not matter.
    """
    return {
        "FEATURE_PLATFORM_WAREHOUSE": str(settings.warehouse_path),
        "FEATURE_PLATFORM_LANDING": str(settings.landing_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
