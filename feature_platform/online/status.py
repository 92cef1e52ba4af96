"""The status of one feature value in an online read."""

from __future__ import annotations

from enum import Enum


class FeatureStatus(str, Enum):
    """Whether an online read found a servable value.

    ``PRESENT``: a value within the view's ttl (the value itself may be null).
    ``NOT_FOUND``: nothing stored for the entity (or the stored row predates the feature).
    ``EXPIRED``: a value is stored but ``now - event_timestamp > ttl``; it is not served.
    """

    PRESENT = "PRESENT"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"
