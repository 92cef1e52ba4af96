"""`feature-platform list` and `feature-platform describe VIEW`: what the registry defines."""

from __future__ import annotations

import argparse
from typing import Any

from feature_platform.cli.tables import format_table


def register(commands: Any) -> None:
    """Add the ``list`` and ``describe`` commands."""
    listing = commands.add_parser("list", help="feature views, features and services, with tier, owner and ttl")
    listing.set_defaults(run=run_list)
    describe = commands.add_parser("describe", help="everything about one feature view")
    describe.add_argument("view")
    describe.set_defaults(run=run_describe)


def run_list(args: argparse.Namespace) -> None:
    """Print the registry's views, features and services."""
    from feature_platform.settings import load_settings
    from feature_platform.specs.durations import human_duration

    registry = load_settings().load_registry()
    print("Feature views")
    print(format_table(
        ("NAME", "ENTITY", "FEATURES", "TIER", "PARTITIONING", "TTL", "ONLINE", "OWNER"),
        [
            (v.name, v.entity_name, len(v.features), v.tier.value, v.partitioning.value,
             human_duration(v.ttl), "yes" if v.online else "no", v.owner or "-")
            for v in registry.views
        ],
    ))
    print("\nFeatures")
    print(format_table(
        ("FEATURE", "TYPE", "DESCRIPTION"),
        [(f"{v.name}:{f.name}", f.dtype.value, f.description or "-") for v in registry.views for f in v.features],
    ))
    print("\nFeature services")
    print(format_table(
        ("NAME", "FEATURES", "OWNER", "DESCRIPTION"),
        [(s.name, ", ".join(s.features), s.owner or "-", s.description or "-") for s in registry.services],
    ))


def _source(view: Any) -> str:
    if view.is_stream:
        return f"stream {view.stream_source.name}"
    return f"table {view.table_source.table} (dbt model {view.table_source.dbt_model})"


def run_describe(args: argparse.Namespace) -> None:
    """Print one view's spec: source, keys, timing, owner, tags and features."""
    from feature_platform.settings import load_settings
    from feature_platform.specs.durations import human_duration

    view = load_settings().load_registry().view(args.view)
    fields = [
        ("name", view.name),
        ("description", view.description or "-"),
        ("entity", f"{view.entity_name} (join keys: {', '.join(f'{k} {t.value}' for k, t in view.join_key_types.items())})"),
        ("source", _source(view)),
        ("ttl", human_duration(view.ttl)),
        ("freshness tier", f"{view.tier.value} (expected freshness {human_duration(view.tier.expected_freshness)})"),
        ("partitioning", view.partitioning.value),
        ("online", "yes" if view.online else "no"),
        ("owner", view.owner or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in sorted(view.tags.items())) or "-"),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"{name.ljust(width)}  {value}")
    print("\nFeatures")
    print(format_table(
        ("NAME", "TYPE", "DESCRIPTION"), [(f.name, f.dtype.value, f.description or "-") for f in view.features]
    ))
