"""Lazy access to great_expectations (importing it takes seconds)."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any


def gx_modules() -> tuple[ModuleType, ModuleType]:
    """``(great_expectations, great_expectations.expectations)``, imported on first use."""
    # GX reports usage analytics unless told not to; a feature store run must not phone home.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


def ephemeral_context() -> Any:
    """A fresh in-memory GX context (writes no files) with progress bars off."""
    gx, _ = gx_modules()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context
