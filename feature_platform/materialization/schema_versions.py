"""Schema versions of the feature views, as published (the seed's backfill scenario 2).

The registry is Python code; what was last published is recorded here, per view, in
``<data_dir>/registry/schema_versions.json``: a version number, the join keys and the
features with their types, and the history of changes. Before a view is published its
current spec is compared with the record:

* same schema: nothing changes;
* features added or removed: compatible, the version goes up by one and the change is
  recorded (values stored before keep their features; removed ones are no longer served);
* a feature whose type changed, or changed join keys (renamed, retyped, added, removed or
  reordered): incompatible. Stored values and keys would be read with the wrong meaning, so
  the publish is refused with the migration it needs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feature_platform.errors import OfflineStoreError, SchemaError
from feature_platform.materialization.checkpoints import write_json_atomically
from feature_platform.specs import FeatureView

_LOCK = threading.Lock()


class IncompatibleSchemaChangeError(SchemaError):
    """A view's new schema cannot be published over the old one; the message names the migration."""


@dataclass(frozen=True)
class SchemaChange:
    """The outcome of comparing a view with its record: ``version`` now in force (the same
    as ``version_before`` when nothing changed), and the features added and removed."""

    view: str
    version_before: int | None
    version: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether this publish starts a new schema version."""
        return self.version != self.version_before


def _schema(view: FeatureView) -> dict[str, object]:
    return {
        "join_keys": [[name, dtype.value] for name, dtype in view.join_key_types.items()],
        "features": {f.name: f.dtype.value for f in view.features},
    }


class SchemaVersions:
    """The recorded schema of every published view (one JSON file, replaced atomically)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "registry" / "schema_versions.json"

    def _load(self) -> dict[str, dict[str, object]]:
        if not self.path.exists():
            return {}
        try:
            data: dict[str, dict[str, object]] = json.loads(self.path.read_text())
        except ValueError as exc:
            raise OfflineStoreError(f"Schema versions file {self.path} is unreadable ({exc})") from None
        return data

    def version(self, view_name: str) -> int | None:
        """The recorded schema version of ``view_name`` (None: never published)."""
        entry = self._load().get(view_name)
        return None if entry is None else int(entry["version"])  # type: ignore[call-overload]

    def check(self, view: FeatureView) -> SchemaChange:
        """Compare ``view`` with its record without writing; IncompatibleSchemaChangeError
        (naming the migration) for a type change or changed join keys."""
        return _compare(view, self._load().get(view.name))

    def record(self, view: FeatureView) -> SchemaChange:
        """:meth:`check`, then record a new version when the schema changed compatibly."""
        with _LOCK:
            data = self._load()
            entry = data.get(view.name)
            change = _compare(view, entry)
            if change.changed:
                history = list(entry["history"]) if entry else []  # type: ignore[call-overload]
                history.append({
                    "version": change.version, "at": datetime.now(UTC).isoformat(),
                    "added": list(change.added), "removed": list(change.removed),
                })
                data[view.name] = {"version": change.version, **_schema(view), "history": history}
                write_json_atomically(self.path, data)
            return change


def _compare(view: FeatureView, entry: dict[str, object] | None) -> SchemaChange:
    if entry is None:
        return SchemaChange(view.name, None, 1, tuple(view.feature_names))
    version = int(entry["version"])  # type: ignore[call-overload]
    now = _schema(view)
    old_keys = [tuple(k) for k in entry["join_keys"]]  # type: ignore[attr-defined]
    new_keys = [tuple(k) for k in now["join_keys"]]  # type: ignore[attr-defined]
    if old_keys != new_keys:
        old = ", ".join(f"{n} {t}" for n, t in old_keys)
        new = ", ".join(f"{n} {t}" for n, t in new_keys)
        raise IncompatibleSchemaChangeError(
            f"Feature view {view.name!r} (schema version {version}) changes its join keys from ({old}) to "
            f"({new}): every online key would change. Migration needed: define the view under a new name "
            f"(e.g. {view.name}_v{version + 1}) with the new keys, backfill it and run `rebuild-online --view` "
            f"for it, move readers to it, then remove {view.name!r}"
        )
    old_features: dict[str, str] = entry["features"]  # type: ignore[assignment]
    new_features: dict[str, str] = now["features"]  # type: ignore[assignment]
    retyped = [f"{n} {old_features[n]} -> {t}" for n, t in new_features.items() if n in old_features and old_features[n] != t]
    if retyped:
        first = retyped[0].split(" ")[0]
        raise IncompatibleSchemaChangeError(
            f"Feature view {view.name!r} (schema version {version}) changes the type of {', '.join(retyped)}: "
            f"stored values would be read as the new type. Migration needed: add the feature under a new "
            f"name (e.g. {first}_v2), backfill it, move readers to it, then remove {first!r}"
        )
    added = tuple(n for n in new_features if n not in old_features)
    removed = tuple(n for n in old_features if n not in new_features)
    if not added and not removed:
        return SchemaChange(view.name, version, version)
    return SchemaChange(view.name, version, version + 1, added, removed)
