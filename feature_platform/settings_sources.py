"""Where :func:`feature_platform.settings.load_settings` reads values from (pydantic-settings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from yaml import YAMLError, safe_load  # type: ignore[import-untyped, unused-ignore]

from feature_platform.errors import ConfigError
from feature_platform.settings import Settings

SHORT_ENV_NAMES: dict[str, tuple[str, ...]] = {
    "FEATURE_PLATFORM_HOME": ("data_dir",),
    "REDIS_URL": ("redis_url",),
    "FEATURE_PLATFORM_ONCALL_URL": ("on_call", "webhook_url"),
    "FEATURE_PLATFORM_ONCALL_KIND": ("on_call", "kind"),
    "PAGERDUTY_ROUTING_KEY": ("on_call", "routing_key"),
}
"""Environment variables with names of their own, and the setting each one sets."""

_PATH_FIELDS: tuple[tuple[str, ...], ...] = (
    ("data_dir",), ("checkpoint_dir",), ("dbt", "project_dir"), ("stream", "spark", "checkpoint_dir")
)


class _ShortEnvNames(PydanticBaseSettingsSource):
    """The variables of :data:`SHORT_ENV_NAMES` that are set, as nested settings."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, path in SHORT_ENV_NAMES.items():
            value = os.environ.get(name)
            if value:
                _set(values, path, value)
        return values


class _YamlFile(YamlConfigSettingsSource):
    """``feature_platform.yaml``, with relative paths taken from the file's folder (as Feast
    does for ``feature_store.yaml``), not from the working directory."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self._path = path
        try:
            content = safe_load(path.read_text())
        except YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if content is not None and not isinstance(content, dict):
            raise ConfigError(f"{path} must hold a mapping of settings, got a {type(content).__name__}")
        super().__init__(settings_cls, yaml_file=path)

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        for field_path in _PATH_FIELDS:
            value = _get(values, field_path)
            if isinstance(value, str) and not Path(value).expanduser().is_absolute():
                _set(values, field_path, str(self._path.parent / value))
        return values


def read_sources(config: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings' values by source priority: ``overrides``, ``FEATURE_PLATFORM_*``, the
    short names, then ``config`` (the YAML file). Only values some source sets are returned."""

    class _FromSources(Settings, BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix="FEATURE_PLATFORM_", env_nested_delimiter="__", frozen=True, extra="forbid"
        )

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            files = (_YamlFile(settings_cls, config),) if config is not None else ()
            return (init_settings, env_settings, _ShortEnvNames(settings_cls), *files)

    loaded = _FromSources(**overrides)
    return {name: getattr(loaded, name) for name in loaded.model_fields_set}


def _get(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path[:-1]:
        values = values.get(part) or {}
        if not isinstance(values, dict):
            return None
    return values.get(path[-1])


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        values = values.setdefault(part, {})
    values[path[-1]] = value
