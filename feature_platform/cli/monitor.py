"""`feature-platform staleness`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any


def register(commands: Any) -> None:
    """Add the ``staleness`` command."""
    staleness = commands.add_parser("staleness", help="print each feature view's staleness and alert level")
    staleness.add_argument("--view", action="append", help="only this view (repeatable)")
    staleness.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Print the staleness table of the selected views."""
    from feature_platform.materialization.online_loss import PublishRecords
    from feature_platform.monitoring import collect_staleness, format_staleness_table
    from feature_platform.serving.feature_store import FeatureStore

    store = FeatureStore()
    now = datetime.now(UTC)
    selected = [store.registry.view(v) for v in args.view] if args.view else store.registry.views
    records = PublishRecords(store.settings.data_dir, store.settings.tenant)
    reports = [
        collect_staleness(v, store.offline_store, store.online_store, now=now, publish_records=records)
        for v in selected
    ]
    store.close()
    print(format_staleness_table(reports))
