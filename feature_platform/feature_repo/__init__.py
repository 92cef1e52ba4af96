"""The project's feature definitions: the demo e-commerce domain."""

from functools import cache

from feature_platform.feature_repo.services import ALL_SERVICES
from feature_platform.feature_repo.views import ALL_VIEWS
from feature_platform.specs import Registry


@cache
def default_registry() -> Registry:
    """The registry of the repo's feature views and services."""
    return Registry(ALL_VIEWS, ALL_SERVICES)


__all__ = ["default_registry"]
