"""The Dagster layer: thin factories over the core library, built from the feature view specs."""

from feature_platform.defs.build import build_definitions

__all__ = ["build_definitions"]
