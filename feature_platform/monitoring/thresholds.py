"""Alert thresholds, with the seed's defaults and per-view overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta

from feature_platform.errors import ConfigError
from feature_platform.specs import FeatureView

TAG_PREFIX = "alert."


@dataclass(frozen=True)
class AlertThresholds:
    """When a view's staleness becomes WARNING (P3) or CRITICAL (P2).

    Defaults are the seed's: staleness above 2x (WARNING) / 5x (CRITICAL) the expected
    freshness. The share of entities whose value is older than the promise (the seed's 5% /
    20%) is always measured but pages only for a view that sets ``warning_stale_rate`` /
    ``critical_stale_rate``: a user whose last order is old, or a profile that has not
    changed, still has a current value. Comparisons are strict: a lag of exactly 2x
    expected is still OK. ``materialization_lag_factor`` (seed: 1.5) warns when
    the last successful materialization is older than that many materialization intervals,
    the interval being the longer of the view's partition length and its expected freshness
    (a daily STATIC view is expected to change weekly); None turns that rule off.
    ``expected_freshness`` replaces the tier's promise for this view when set.
    ``warn_on_p99_over_ttl`` warns when the p99 online age exceeds the view's ttl (seed).
    """

    warning_lag_factor: float = 2.0
    critical_lag_factor: float = 5.0
    warning_stale_rate: float | None = None
    critical_stale_rate: float | None = None
    materialization_lag_factor: float | None = 1.5
    expected_freshness: timedelta | None = None
    warn_on_p99_over_ttl: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.warning_lag_factor <= self.critical_lag_factor:
            raise ConfigError(
                f"Alert thresholds: need 0 < warning_lag_factor <= critical_lag_factor, got "
                f"{self.warning_lag_factor} and {self.critical_lag_factor}"
            )
        warning = self.warning_stale_rate if self.warning_stale_rate is not None else 0
        critical = self.critical_stale_rate if self.critical_stale_rate is not None else 1
        if not 0 <= warning <= critical <= 1:
            raise ConfigError(
                f"Alert thresholds: need 0 <= warning_stale_rate <= critical_stale_rate <= 1 "
                f"(shares, not percents), got {self.warning_stale_rate} and "
                f"{self.critical_stale_rate}"
            )
        if self.materialization_lag_factor is not None and self.materialization_lag_factor <= 0:
            raise ConfigError(
                "Alert thresholds: materialization_lag_factor must be positive or None, got "
                f"{self.materialization_lag_factor}"
            )
        if self.expected_freshness is not None and self.expected_freshness <= timedelta(0):
            raise ConfigError(
                f"Alert thresholds: expected_freshness must be positive, got "
                f"{self.expected_freshness}"
            )

    @classmethod
    def for_view(
        cls,
        view: FeatureView,
        overrides: Mapping[str, AlertThresholds] | None = None,
    ) -> AlertThresholds:
        """The thresholds of ``view``.

        An entry of ``overrides`` keyed by the view's name wins outright. Otherwise the
        defaults, with any of these view tags applied: ``alert.warning_lag_factor``,
        ``alert.critical_lag_factor``, ``alert.warning_stale_rate``,
        ``alert.critical_stale_rate``, ``alert.materialization_lag_factor`` (a number or
        ``none``), ``alert.expected_freshness_s`` (seconds), ``alert.warn_on_p99_over_ttl``
        (``true``/``false``). An unknown ``alert.*`` tag or a bad value raises ConfigError.
        """
        if overrides and view.name in overrides:
            return overrides[view.name]
        changes: dict[str, object] = {}
        for tag, raw in view.tags.items():
            if tag.startswith(TAG_PREFIX):
                name, value = _parse_tag(view.name, tag, raw)
                changes[name] = value
        try:
            return replace(cls(), **changes)  # type: ignore[arg-type]
        except ConfigError as error:
            raise ConfigError(f"Feature view {view.name!r} tags: {error}") from None


_FLOAT_FIELDS = {f.name for f in fields(AlertThresholds) if f.name.endswith(("_factor", "_rate"))}


def _parse_tag(view: str, tag: str, raw: str) -> tuple[str, object]:
    key = tag[len(TAG_PREFIX) :]
    text = raw.strip().lower()
    try:
        if key in ("materialization_lag_factor", "warning_stale_rate", "critical_stale_rate") and text in ("none", "off", ""):
            return key, None
        if key in _FLOAT_FIELDS:
            return key, float(text)
        if key == "expected_freshness_s":
            return "expected_freshness", timedelta(seconds=float(text))
        if key == "warn_on_p99_over_ttl" and text in ("true", "false"):
            return key, text == "true"
    except ValueError:
        pass
    known = sorted([*_FLOAT_FIELDS, "expected_freshness_s", "warn_on_p99_over_ttl"])
    raise ConfigError(
        f"Feature view {view!r}: tag {tag!r}={raw!r} is not a valid alert threshold; use one of "
        f"{', '.join(TAG_PREFIX + k for k in known)} with a number (true/false for "
        f"warn_on_p99_over_ttl, 'none' to turn off materialization_lag_factor)"
    )
