"""Small random PIT-join inputs with many ties, boundary ages, nulls and duplicates."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from feature_platform.offline import FeatureTable
from feature_platform.specs import Entity, Feature, FeatureView, TableSource, ValueType

BASE = datetime(2026, 1, 10)
STEP = timedelta(hours=12)
ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Shape:
    """How one random feature table looks."""

    name: str
    keys: tuple[str, ...]
    ttl: timedelta | None
    has_created: bool

    @property
    def features(self) -> list[str]:
        return [f"{self.name}_count", f"{self.name}_score"]


SHAPES = [
    Shape("a", ("user_id",), None, True),
    Shape("b", ("user_id", "region"), timedelta(days=1), True),
    Shape("c", ("user_id",), timedelta(hours=36), False),
]


def random_time(rng: random.Random) -> datetime:
    """A time on a coarse grid, sometimes 1 us off it: ties and exact-ttl ages are common."""
    return BASE + rng.randint(0, 8) * STEP + rng.choice([timedelta(0)] * 3 + [ONE_US, -ONE_US])


def _keys(rng: random.Random, case: int, unknown: bool) -> dict[str, Any]:
    return {
        "case": case,
        "user_id": rng.randint(0, 3 if unknown else 2),
        "region": rng.choice(["eu", "us"]),
    }


def random_feature_rows(rng: random.Random, shape: Shape, case: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(rng.randint(0, 14)):
        if rows and rng.random() < 0.25:
            # Same keys and event time as an earlier row: a tie (or an exact duplicate triple).
            row = dict(rng.choice(rows))
            if rng.random() < 0.5:
                row["created_timestamp"] = BASE + timedelta(days=rng.randint(0, 3))
        else:
            row = _keys(rng, case, unknown=False)
            row["event_timestamp"] = random_time(rng)
            row["created_timestamp"] = BASE + timedelta(days=rng.randint(0, 3))
        row[shape.features[0]] = None if rng.random() < 0.2 else rng.randint(0, 100)
        row[shape.features[1]] = None if rng.random() < 0.2 else rng.random()
        rows.append(row)
    return rows


def random_entity_rows(rng: random.Random, case: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(rng.randint(0, 10)):
        if rows and rng.random() < 0.2:
            row = dict(rng.choice(rows))
        else:
            row = _keys(rng, case, unknown=True)
            if rng.random() < 0.05:
                row["user_id"] = None  # a null key matches nothing
            row["event_timestamp"] = random_time(rng)
        row["label"] = rng.randint(0, 1)
        rows.append(row)
    return rows


def feature_frame(rows: list[dict[str, Any]], shape: Shape, tz: str | None) -> pd.DataFrame:
    columns = ["case", *shape.keys, "event_timestamp", "created_timestamp", *shape.features]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.astype({"case": "int64", "user_id": "int64", shape.features[0]: "Int64"})
    frame[shape.features[1]] = frame[shape.features[1]].astype("float64")
    for column in ("event_timestamp", "created_timestamp"):
        frame[column] = _with_tz(pd.to_datetime(frame[column]), tz)
    if not shape.has_created:
        frame = frame.drop(columns=["created_timestamp"])
    return frame


def entity_frame(rows: list[dict[str, Any]], tz: str | None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["case", "user_id", "region", "event_timestamp", "label"])
    frame = frame.astype({"case": "int64", "user_id": "Int64", "label": "int64"})
    frame["event_timestamp"] = _with_tz(pd.to_datetime(frame["event_timestamp"]), tz)
    return frame


def _with_tz(series: pd.Series, tz: str | None) -> pd.Series:
    series = series.astype("datetime64[us]")
    return series if tz is None else series.dt.tz_localize("UTC").dt.tz_convert(tz)


def feature_table(shape: Shape, source: object, with_case: bool = True) -> FeatureTable:
    keys = ["case", *shape.keys] if with_case else list(shape.keys)
    return FeatureTable(
        name=shape.name,
        source=source,  # type: ignore[arg-type]
        join_keys=keys,
        features=shape.features,
        ttl=shape.ttl,
        created_timestamp_column="created_timestamp" if shape.has_created else None,
    )


def view_for(shape: Shape) -> FeatureView:
    """A feature view with the shape's columns, to hold its rows in an OfflineStore."""
    keys = {"case": ValueType.INT64, "user_id": ValueType.INT64}
    if "region" in shape.keys:
        keys["region"] = ValueType.STRING
    return FeatureView(
        name=shape.name,
        entity=Entity(f"entity_{shape.name}", keys),
        features=[
            Feature(shape.features[0], ValueType.INT64),
            Feature(shape.features[1], ValueType.FLOAT64),
        ],
        source=TableSource(f"src_{shape.name}"),
        ttl=shape.ttl,
    )


@dataclass
class Case:
    """Entity rows and per-shape feature frames, for one or many numbered sub-cases."""

    entity: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    shapes: list[Shape]


def random_case(
    rng: random.Random, shapes: list[Shape], cases: int = 1, tz: str | None = None
) -> Case:
    entity_rows: list[dict[str, Any]] = []
    rows: dict[str, list[dict[str, Any]]] = {s.name: [] for s in shapes}
    for case in range(cases):
        entity_rows += random_entity_rows(rng, case)
        for shape in shapes:
            rows[shape.name] += random_feature_rows(rng, shape, case)
    return Case(
        entity=entity_frame(entity_rows, tz),
        frames={s.name: feature_frame(rows[s.name], s, tz) for s in shapes},
        shapes=shapes,
    )
