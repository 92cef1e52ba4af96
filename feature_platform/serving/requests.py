"""Reading and checking the JSON body of ``POST /get-online-features``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feature_platform.errors import SchemaError
from feature_platform.specs import Registry, ViewRequest


class BadRequestError(SchemaError):
    """The request body is not the shape the endpoint accepts."""


@dataclass(frozen=True)
class OnlineFeaturesRequest:
    """A parsed request: per-view feature requests, entity rows, column naming."""

    requests: list[ViewRequest]
    entity_rows: list[dict[str, object]]
    full_feature_names: bool


def parse_request(body: object, registry: Registry, max_entities: int) -> OnlineFeaturesRequest:
    """Check ``body`` and resolve its features; BadRequestError / registry errors name the problem.

    Accepted: ``{"entities": {"user_id": [1, 2]} | [{"user_id": 1}, ...], "features":
    ["view:feature", ...] | "feature_service": "name", "full_feature_names": bool}``.
    """
    if not isinstance(body, Mapping):
        raise BadRequestError("The body must be a JSON object with 'entities' and 'features'")
    unknown = set(body) - {"entities", "features", "feature_service", "full_feature_names"}
    if unknown:
        raise BadRequestError(
            f"Unknown field(s) {sorted(unknown)}; use entities, features or feature_service, "
            "full_feature_names"
        )
    features = body.get("features")
    service = body.get("feature_service")
    if (features is None) == (service is None):
        raise BadRequestError("Give exactly one of 'features' (a list of 'view:feature') or 'feature_service'")
    if features is not None:
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise BadRequestError("'features' must be a list of 'view:feature' strings")
        requests = registry.resolve(features)
    else:
        if not isinstance(service, str):
            raise BadRequestError("'feature_service' must be a feature service name")
        requests = registry.resolve(service)
    full = body.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise BadRequestError("'full_feature_names' must be true or false")
    rows = _entity_rows(body.get("entities"))
    if len(rows) > max_entities:
        raise BadRequestError(f"{len(rows)} entities in one request; the limit is {max_entities}")
    return OnlineFeaturesRequest(requests, rows, full)


def _entity_rows(entities: Any) -> list[dict[str, object]]:
    if isinstance(entities, Mapping):
        columns = dict(entities)
        if not columns:
            raise BadRequestError("'entities' has no join key columns")
        lengths = set()
        for key, values in columns.items():
            if not isinstance(values, list):
                raise BadRequestError(f"Entity column {key!r} must be a list of values")
            lengths.add(len(values))
        if len(lengths) != 1:
            raise BadRequestError(f"Entity columns have different lengths: {sorted(lengths)}")
        names = list(columns)
        return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    if isinstance(entities, list):
        if not all(isinstance(row, Mapping) for row in entities):
            raise BadRequestError("'entities' as a list must hold objects like {\"user_id\": 1}")
        return [dict(row) for row in entities]
    raise BadRequestError(
        "'entities' is required: {\"user_id\": [1, 2]} or [{\"user_id\": 1}, {\"user_id\": 2}]"
    )
