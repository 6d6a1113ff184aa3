"""Validated field types shared by the input models and the repositories' plain arguments.

Everything a caller hands to the library is checked here, before any SQL is
sent: lengths match the columns, text has no NUL character (PostgreSQL text
and jsonb can't hold one), datetimes carry a time zone, numbers fit their
columns, JSON is JSON.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, TypeAdapter

__all__ = [
    "INT32_MAX",
    "MAX_LIMIT",
    "ApiKey",
    "Improvement",
    "Int32",
    "JsonArray",
    "JsonObject",
    "Limit",
    "Money",
    "Name",
    "NonNegInt32",
    "Str50",
    "Str100",
    "Str255",
    "Text",
    "check_id",
    "check_json_object",
    "check_limit",
    "check_time",
]

INT32_MAX = 2**31 - 1
MAX_LIMIT = 10_000


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain a NUL (\\x00) character")
    return value


def _json_no_nul(value: Any) -> Any:
    """Walk a JSON value: reject NUL in any string, and non-JSON leaves."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, dict):
            for key, val in item.items():
                if not isinstance(key, str):
                    raise ValueError(f"JSON object keys must be strings, not {type(key).__name__}")
                _no_nul(key)
                stack.append(val)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise ValueError("JSON numbers must be finite")
        elif item is not None and not isinstance(item, bool | int):
            raise ValueError(f"{type(item).__name__} is not a JSON value")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Str50 = Annotated[str, StringConstraints(max_length=50), AfterValidator(_no_nul)]
Str100 = Annotated[str, StringConstraints(max_length=100), AfterValidator(_no_nul)]
Str255 = Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_nul)]
#: A non-empty name of at most 255 characters.
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_nul)]
#: A customer's API key as the caller holds it (only its SHA-256 is stored).
ApiKey = Annotated[str, StringConstraints(min_length=16, max_length=1024), AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_no_nul)]
JsonArray = Annotated[list[Any], AfterValidator(_json_no_nul)]
Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX, strict=True)]
NonNegInt32 = Annotated[int, Field(ge=0, le=INT32_MAX, strict=True)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, strict=True)]
#: numeric(12, 2): money, exact.
Money = Annotated[Decimal, Field(max_digits=12, decimal_places=2, allow_inf_nan=False)]
#: numeric(10, 2): an improvement in percent, exact.
Improvement = Annotated[Decimal, Field(max_digits=10, decimal_places=2, allow_inf_nan=False)]

_ID = TypeAdapter(UUID)
_LIMIT = TypeAdapter(Limit)
_TIME = TypeAdapter(AwareDatetime | None)
_JSON_OBJECT = TypeAdapter(JsonObject | None)


def check_id(value: UUID | str) -> UUID:
    """A UUID (or its text form); anything else raises ``ValidationError``."""
    if type(value) is UUID:  # fast path: the common case costs one type check
        return value
    return _ID.validate_python(value)


def check_limit(value: int) -> int:
    """A page size from 1 to 10,000."""
    return _LIMIT.validate_python(value)


def check_time(value: datetime | None) -> datetime | None:
    """A timezone-aware datetime (naive ones are refused) or None."""
    return _TIME.validate_python(value)


def check_json_object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON object (or None)."""
    return _JSON_OBJECT.validate_python(value)
