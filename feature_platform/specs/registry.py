"""The set of feature views and services a project defines, and reference resolution."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from feature_platform.errors import (
    SpecError,
    UnknownFeatureError,
    UnknownFeatureServiceError,
    UnknownFeatureViewError,
)
from feature_platform.specs.feature_service import FeatureService
from feature_platform.specs.feature_view import FeatureView


@dataclass(frozen=True)
class ViewRequest:
    """The features requested from one view, in request order."""

    view: FeatureView
    features: tuple[str, ...]


class Registry:
    """Feature views and services by name; resolves ``"view:feature"`` references."""

    def __init__(
        self, views: Iterable[FeatureView], services: Iterable[FeatureService] = ()
    ) -> None:
        self._views: dict[str, FeatureView] = {}
        for view in views:
            if view.name in self._views:
                raise SpecError(f"Feature view {view.name!r} is defined twice")
            self._views[view.name] = view
        self._services: dict[str, FeatureService] = {}
        for service in services:
            if service.name in self._services:
                raise SpecError(f"Feature service {service.name!r} is defined twice")
            self._services[service.name] = service
            self.resolve(list(service.features))

    @property
    def views(self) -> list[FeatureView]:
        """All feature views, in definition order."""
        return list(self._views.values())

    @property
    def services(self) -> list[FeatureService]:
        """All feature services, in definition order."""
        return list(self._services.values())

    def view(self, name: str) -> FeatureView:
        """The view called ``name``; raises UnknownFeatureViewError."""
        try:
            return self._views[name]
        except KeyError:
            raise UnknownFeatureViewError(name, list(self._views)) from None

    def service(self, name: str) -> FeatureService:
        """The service called ``name``; raises UnknownFeatureServiceError."""
        try:
            return self._services[name]
        except KeyError:
            raise UnknownFeatureServiceError(name, list(self._services)) from None

    def resolve(self, features: Sequence[str] | str) -> list[ViewRequest]:
        """Turn feature references, or a feature service name, into per-view requests.

        Views keep the order of their first reference; a feature requested twice is kept once.
        """
        refs = list(self.service(features).features) if isinstance(features, str) else list(features)
        if not refs:
            raise SpecError("No features requested: pass 'view:feature' references or a service name")
        wanted: dict[str, list[str]] = {}
        for ref in refs:
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise SpecError(f"{ref!r} is not a 'view:feature' reference")
            view_name, feature_name = ref.split(":")
            view = self.view(view_name)
            names = view.feature_names if feature_name == "*" else [feature_name]
            for name in names:
                if name not in view.feature_names:
                    raise UnknownFeatureError(ref, view.feature_names)
                bucket = wanted.setdefault(view_name, [])
                if name not in bucket:
                    bucket.append(name)
        return [ViewRequest(self._views[v], tuple(fs)) for v, fs in wanted.items()]


def load_registry(reference: str) -> Registry:
    """Import a registry from ``"package.module:function"`` (a function returning a Registry).

    Dagster resources and the SDK name the project's feature definitions this way, so a
    deployment can point at its own feature repo without code changes.
    """
    import importlib

    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise SpecError(
            f"Registry reference {reference!r} must look like 'package.module:function'"
        )
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"Cannot load registry {reference!r}: {exc}") from exc
    registry = target() if callable(target) else target
    if not isinstance(registry, Registry):
        raise SpecError(f"Registry reference {reference!r} gave {type(registry).__name__}, not a Registry")
    return registry
