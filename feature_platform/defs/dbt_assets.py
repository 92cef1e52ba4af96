"""The dbt project's models as Dagster assets, keyed ``dbt/<model>`` upstream of the views."""


import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from feature_platform.defs.feature_view_assets import DBT_KEY_PREFIX
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.errors import ConfigError
from feature_platform.sample_data.dbt_env import DBT_PROJECT_DIR, dbt_env
from feature_platform.settings import load_settings


def dbt_executable() -> str:
    """The dbt of the running interpreter's environment (a venv need not be activated)."""
    return str(Path(sys.executable).parent / "dbt")


def dbt_parse_command(project_dir: Path) -> list[str]:
    """The command that writes ``target/manifest.json`` for ``project_dir``."""
    return [dbt_executable(), "parse", "--quiet", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]


@cache
def dbt_project() -> DbtProject:
    """The dbt project, parsed on first use if its manifest is missing (never at import)."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if not project.manifest_path.exists():
        env = {**os.environ, **dbt_env(load_settings())}
        done = subprocess.run(
            dbt_parse_command(DBT_PROJECT_DIR), check=False, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise ConfigError(
                f"`dbt parse` failed for {DBT_PROJECT_DIR}; fix the dbt project:\n{done.stdout}{done.stderr}"
            )
    return project


class PrefixedDbtTranslator(DagsterDbtTranslator):
    """Keys dbt nodes ``dbt/<name>`` so a model never shadows a Python asset of the same name."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """dagster-dbt's key with the ``dbt`` prefix."""
        return super().get_asset_key(dbt_resource_props).with_prefix(DBT_KEY_PREFIX)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Every dbt node in the ``dbt`` group."""
        return "dbt"


def build_dbt_assets() -> dg.AssetsDefinition:
    """One multi-asset that runs ``dbt build`` for the selected models."""
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=PrefixedDbtTranslator(),
        name="dbt_transforms",
    )
    def _dbt_transforms(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, feature_platform: FeaturePlatformResource
    ) -> Iterator[Any]:
        # dbt reads the warehouse and landing paths from the environment of its subprocess.
        os.environ.update(dbt_env(feature_platform.settings))
        yield from dbt.cli(["build"], context=context).stream()

    return _dbt_transforms


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for the repo's project."""
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )
