"""The shapes the hub's API declares its bodies with: the shared core, :mod:`atoll.api.schema`
(the site agent's API uses it too). Kept under this name for the modules that import it here."""

from atoll.api.schema import (
    LABELS,
    NAME_HELP,
    NAME_PATTERN,
    TIME_PATTERN,
    Field,
    FieldType,
    OneOf,
    Shape,
    check,
    name_field,
    text_field,
    time_field,
)

__all__ = [
    "LABELS",
    "NAME_HELP",
    "NAME_PATTERN",
    "TIME_PATTERN",
    "Field",
    "FieldType",
    "OneOf",
    "Shape",
    "check",
    "name_field",
    "text_field",
    "time_field",
]
