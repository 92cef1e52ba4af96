"""The platform's one Dagster ``Definitions``; ``workspace.yaml`` and the CLI load it."""

from feature_platform.defs import build_definitions

defs = build_definitions()
