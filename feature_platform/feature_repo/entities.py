"""Entities of the demo e-commerce domain."""

from feature_platform.specs import Entity, ValueType

user = Entity(name="user", join_keys={"user_id": ValueType.INT64}, description="A shop customer")
