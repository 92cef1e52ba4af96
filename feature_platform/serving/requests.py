"""The feature server's request and response bodies as pydantic models.

Requests are parsed by pydantic straight from the raw bytes (its JSON parser bounds nesting,
so a deeply nested body is a 400, not a crash), and every error names the field it is about
(``entities.user_id.0``). The response models describe the JSON the server writes by hand on
its hot path; they are the OpenAPI schema, and the tests check real answers against them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from feature_platform.errors import SchemaError
from feature_platform.specs import Registry, ViewRequest


def _key_value(value: object) -> object:
    if value is None or isinstance(value, (int, str)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ValueError("a join key value must be a number, a string, a boolean or null")


EntityValue = Annotated[
    Any,
    PlainValidator(_key_value),
    WithJsonSchema({"type": ["integer", "number", "string", "boolean", "null"]}),
]
"""A join key value as JSON gives it; the view's key type is checked by the store (422)."""


class BadRequestError(SchemaError):
    """The request is not the shape the endpoint accepts.

    ``errors`` holds one ``{"field": "entities.user_id.0", "message": ...}`` per problem.
    """

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def _entities_shape(value: Any) -> str:
    return "rows" if isinstance(value, list) else "columns"


_STRICT = ConfigDict(extra="forbid", strict=True)


class OnlineFeaturesBody(BaseModel):
    """``POST /get-online-features``: entity keys and the features to read for them."""

    model_config = _STRICT

    entities: Annotated[
        Annotated[dict[str, list[EntityValue]], Tag("columns")] | Annotated[list[dict[str, EntityValue]], Tag("rows")],
        Discriminator(_entities_shape),
        Field(
            description='Join key columns, {"user_id": [1, 2]}, or rows, [{"user_id": 1}, {"user_id": 2}].',
            examples=[{"user_id": [1, 2]}],
        ),
    ]
    features: list[str] | None = Field(
        None, description="'view:feature' references ('view:*' for all); or give feature_service.",
        examples=[["user_profile:plan", "user_purchase_activity:spend_7d"]],
    )
    feature_service: str | None = Field(None, description="A feature service name, instead of features.")
    full_feature_names: bool = Field(False, description="Name columns 'view__feature' instead of 'feature'.")

    @model_validator(mode="after")
    def _one_feature_source_and_square_columns(self) -> OnlineFeaturesBody:
        if (self.features is None) == (self.feature_service is None):
            raise ValueError("give exactly one of 'features' (a list of 'view:feature') or 'feature_service'")
        if isinstance(self.entities, dict):
            if not self.entities:
                raise ValueError("'entities' has no join key columns")
            lengths = {len(v) for v in self.entities.values()}
            if len(lengths) != 1:
                raise ValueError(f"entity columns have different lengths: {sorted(lengths)}")
        return self

    def entity_rows(self) -> list[dict[str, object]]:
        """The entities as one dict per row."""
        if isinstance(self.entities, list):
            return [dict(row) for row in self.entities]
        names = list(self.entities)
        return [dict(zip(names, values, strict=True)) for values in zip(*self.entities.values(), strict=True)]


class HotKeysQuery(BaseModel):
    """``GET /hot-keys`` query string."""

    model_config = ConfigDict(extra="ignore")

    n: int = Field(20, ge=1, le=10_000, description="How many of the most read keys to list.")


class FeatureColumn(BaseModel):
    """One column of an online read: a join key or a feature."""

    values: list[Any]
    statuses: list[Literal["PRESENT", "NOT_FOUND", "EXPIRED"]]
    event_timestamps: list[str | None]
    cache_ages_ms: list[int] | None = Field(
        None, description="Only when served_from is l1_cache_stale: each value's cache age in ms."
    )


class OnlineFeaturesMetadata(BaseModel):
    """Column names of the answer, join keys first, and where the values came from."""

    feature_names: list[str]
    served_from: Literal["online_store", "l1_cache_stale"] = Field(
        "online_store",
        description="l1_cache_stale: Redis was unavailable and the server's L1 cache answered alone.",
    )


class OnlineFeaturesAnswer(BaseModel):
    """The answer of ``POST /get-online-features`` (Feast's shape)."""

    metadata: OnlineFeaturesMetadata
    results: list[FeatureColumn]


class ErrorField(BaseModel):
    """One problem of a request, with the field it is about."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="The kind of error, e.g. bad_request, unknown_feature, online_store_unavailable.")
    detail: str = Field(description="What is wrong and how to fix it.")
    errors: list[ErrorField] | None = Field(None, description="Per-field problems of a malformed request.")


class HealthAnswer(BaseModel):
    """``GET /health``."""

    status: Literal["ok", "unavailable"]
    detail: str | None = None


class HotKey(BaseModel):
    """A most-read key of the L1 cache."""

    tenant: str
    view: str
    entity: list[Any]
    count: int


class HotKeysAnswer(BaseModel):
    """``GET /hot-keys``."""

    hot_keys: list[HotKey]
    detail: str | None = None


@dataclass(frozen=True)
class OnlineFeaturesRequest:
    """A parsed request: per-view feature requests, entity rows, column naming."""

    requests: list[ViewRequest]
    entity_rows: list[dict[str, object]]
    full_feature_names: bool


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors as ``{"field": "entities.user_id.0", "message": ...}``."""
    tags = {"columns", "rows"}
    found = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        path = [str(part) for part in item["loc"] if part not in tags]
        found.append({"field": ".".join(path) or "body", "message": item["msg"]})
    return found


def parse_model(model: type[BaseModel], raw: bytes | dict[str, Any]) -> Any:
    """``raw`` (JSON bytes or a dict such as query parameters) as ``model``; BadRequestError
    names each field that is wrong."""
    try:
        return model.model_validate_json(raw) if isinstance(raw, bytes) else model.model_validate(raw)
    except ValidationError as error:
        errors = field_errors(error)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise BadRequestError(f"Invalid request: {detail}", errors) from None


def parse_request(raw: bytes, registry: Registry, max_entities: int) -> OnlineFeaturesRequest:
    """Check the JSON body ``raw`` and resolve its features; BadRequestError / registry errors
    name the problem."""
    body: OnlineFeaturesBody = parse_model(OnlineFeaturesBody, raw)
    rows = body.entity_rows()
    if len(rows) > max_entities:
        raise BadRequestError(f"{len(rows)} entities in one request; the limit is {max_entities}")
    requests = registry.resolve(body.feature_service if body.feature_service is not None else body.features or [])
    return OnlineFeaturesRequest(requests, rows, body.full_feature_names)
