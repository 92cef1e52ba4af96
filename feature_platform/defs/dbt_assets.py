"""The dbt project's models as Dagster assets, keyed ``dbt/<model>`` upstream of the views."""

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from feature_platform.defs.feature_view_assets import DBT_KEY_PREFIX, source_model
from feature_platform.defs.resources import FeaturePlatformResource
from feature_platform.settings import load_settings
from feature_platform.specs import FeatureView


def dbt_executable() -> str:
    """The dbt of the running interpreter's environment (a venv need not be activated)."""
    return str(Path(sys.executable).parent / "dbt")


@cache
def dbt_project() -> DbtProject:
    """The configured dbt project (``settings.dbt.project_dir``), prepared on first use, never
    at import: dagster-dbt re-parses it on every load under ``dagster dev`` / ``dg dev``, and
    elsewhere it is parsed once when it has no manifest yet (a fresh checkout or a wheel)."""
    project_dir = load_settings().dbt.project_dir
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    # dagster-dbt's preparer runs `dbt` from PATH; the venv need not be activated.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        project.preparer.prepare(project)
    return project


class PrefixedDbtTranslator(DagsterDbtTranslator):
    """Keys dbt nodes ``dbt/<name>`` so a model never shadows a Python asset of the same name.

    A model that is a feature view's source is owned by the view's owner (``view_owners``,
    by model name); the others by the owners in their dbt ``meta``.
    """

    def __init__(self, view_owners: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._view_owners = dict(view_owners or {})

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """dagster-dbt's key with the ``dbt`` prefix."""
        return super().get_asset_key(dbt_resource_props).with_prefix(DBT_KEY_PREFIX)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Every dbt node in the ``dbt`` group."""
        return "dbt"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        """The feature view's owner for its source model, else dagster-dbt's (dbt ``meta``)."""
        owner = self._view_owners.get(dbt_resource_props["name"])
        return [owner] if owner else super().get_owners(dbt_resource_props)


def build_dbt_assets(views: Sequence[FeatureView] = ()) -> dg.AssetsDefinition:
    """One multi-asset that runs ``dbt build`` for the selected models and records each
    model's row count and columns; ``views`` give their source models an owner."""
    project = dbt_project()
    owners = {source_model(v): v.owner for v in views if v.owner and not v.is_stream}

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=PrefixedDbtTranslator(owners),
        name="dbt_transforms",
    )
    def _dbt_transforms(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, feature_platform: FeaturePlatformResource
    ) -> Iterator[Any]:
        # dbt reads the warehouse and landing paths from the environment of its subprocess.
        os.environ.update(feature_platform.settings.dbt_env())
        # On DuckDB, dagster-dbt queries the counts and columns once the build has ended (dbt
        # holds the write lock until then) through dbt's adapter in this process; the profile's
        # `keep_open: false` lets that adapter close the warehouse afterwards.
        yield from dbt.cli(["build"], context=context).stream().fetch_row_counts().fetch_column_metadata()

    return _dbt_transforms


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for the configured project."""
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
