"""The platform's one Dagster instance, shared by `make dev`, the demo and the CLI."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from feature_platform.settings import Settings


def prepare_dagster_home(settings: Settings) -> Path:
    """``settings.dagster_home`` (``DAGSTER_HOME``, else under the data folder), created with
    telemetry off if new."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return home


def platform_instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance whose runs `make dev` shows."""
    return dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))
