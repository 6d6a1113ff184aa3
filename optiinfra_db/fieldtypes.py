"""Validated field types shared by the input models and the repositories' plain arguments.

Everything a caller hands to the library is checked here, before any SQL is
sent: lengths match the columns, text has no NUL character (PostgreSQL text
and jsonb can't hold one), datetimes carry a time zone, numbers fit their
columns, JSON is JSON.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    TypeAdapter,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "INT32_MAX",
    "MAX_JSON_DEPTH",
    "MAX_LIMIT",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "ApiKey",
    "Attempts",
    "ClaimLimit",
    "CustomerLimit",
    "Delay",
    "Float",
    "IdempotencyKey",
    "Improvement",
    "Int32",
    "JsonArray",
    "JsonObject",
    "Lease",
    "Limit",
    "Money",
    "Name",
    "NonNegInt32",
    "Priority",
    "Str50",
    "Str100",
    "Str255",
    "Text",
    "Timestamp",
    "WorkerId",
    "check_api_key",
    "check_batch_size",
    "check_id",
    "check_json_object",
    "check_json_object_required",
    "check_limit",
    "check_time",
]

INT32_MAX = 2**31 - 1
MAX_LIMIT = 10_000


#: Characters PostgreSQL text can't hold (NUL) or UTF-8 can't encode (lone surrogates).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")

#: How deep a JSON value may nest. PostgreSQL stores deeper documents, but
#: decoders refuse them on the way back (pydantic-core near 200 levels, Python's
#: json near 1,000), so a deeper value could be written and never read again.
MAX_JSON_DEPTH = 64
#: JSON integers are kept within a signed 64-bit range: jsonb keeps any
#: numeric, but every consumer (and Python's int <-> str limit) does not.
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**63 - 1
#: jsonb stores numbers as numeric and prints them without an exponent, so a
#: float of magnitude 1e16 or more (always integral) comes back as an int.
JSON_FLOAT_LIMIT = 1e16


def _no_negative_zero(value: float) -> float:
    return value + 0.0  # -0.0 + 0.0 is 0.0; every other float is itself


#: A float input: -0.0 is stored as 0.0, so what validates reads back as it
#: is (PostgreSQL's numeric has no negative zero, and a double's -0 comes
#: back through JSON as the integer 0).
Float = Annotated[float, AfterValidator(_no_negative_zero)]


#: What an idempotency key may not hold: control characters (C0, DEL, C1:
#: ck_workflow_executions_idempotency_key names the same ranges) and lone
#: surrogates (not encodable).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("control_character", "must not contain control characters")
    return value


def _no_nul(value: str) -> str:
    if value.isascii():  # the common case: no surrogate possible, one memchr for NUL
        if "\x00" in value:
            raise ValueError("text may not contain a NUL (\\x00) character")
        return value
    if _BAD_TEXT.search(value) is not None:
        if "\x00" in value:
            raise ValueError("text may not contain a NUL (\\x00) character")
        raise ValueError("text may not contain a lone surrogate (not encodable as UTF-8)")
    return value


def _json_value(value: Any) -> Any:
    """Walk a JSON value (iteratively, so no RecursionError): reject what
    PostgreSQL or the way back could not keep exactly.

    Refused: NUL or lone surrogates in any string or key; non-string keys;
    nesting deeper than MAX_JSON_DEPTH; NaN and infinities; -0.0 (jsonb keeps
    no negative zero); floats of magnitude >= 1e16 (they come back as ints);
    integers outside the signed 64-bit range; anything that is not JSON.
    """
    if not value and type(value) is dict:
        return value  # {}: the default of most JSON fields
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is str:
            if not item.isascii() or "\x00" in item:
                _no_nul(item)
        elif isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, dict | list | tuple):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON may nest at most {MAX_JSON_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, val in item.items():
                    if type(key) is not str and not isinstance(key, str):
                        raise ValueError(
                            f"JSON object keys must be strings, not {type(key).__name__}"
                        )
                    if not key.isascii() or "\x00" in key:
                        _no_nul(key)
                    # Scalars that need no check skip the stack.
                    kind = type(val)
                    if kind is str:
                        if not val.isascii() or "\x00" in val:
                            _no_nul(val)
                    elif kind is int:
                        if not JSON_INT_MIN <= val <= JSON_INT_MAX:
                            raise ValueError(
                                "JSON integers must fit in 64 bits (-2**63 .. 2**63-1)"
                            )
                    elif kind is not bool and val is not None:
                        stack.append((val, depth + 1))
            else:
                stack.extend((val, depth + 1) for val in item)
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            if not JSON_INT_MIN <= item <= JSON_INT_MAX:
                raise ValueError("JSON integers must fit in 64 bits (-2**63 .. 2**63-1)")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise ValueError("JSON numbers must be finite")
            if abs(item) >= JSON_FLOAT_LIMIT:
                raise ValueError(
                    "JSON floats must be below 1e16 in magnitude (jsonb would return them as ints)"
                )
            if item == 0.0 and str(item).startswith("-"):
                raise ValueError("JSON -0.0 is not kept by jsonb (it comes back as 0); send 0")
        else:
            raise ValueError(f"{type(item).__name__} is not a JSON value")
    return value


#: The earliest and latest instants accepted: a day inside years 1..9999 in
#: UTC, so that every session time zone still renders them inside years
#: 1..9999 (outside, PostgreSQL prints a BC date or year 10000, which no
#: decoder reads back).
MIN_TIMESTAMP = datetime(1, 1, 2, tzinfo=UTC)
MAX_TIMESTAMP = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)


def _to_utc(value: Any) -> Any:
    """An aware datetime converted to UTC *before* pydantic parses it: pydantic
    keeps offsets to the minute, and local mean time before ~1900 has offsets
    with seconds (Europe/Amsterdam +00:19:32), which would move the instant."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("timestamps must lie between 0001-01-02 and 9999-12-30 UTC") from exc
    return value


def _in_range(value: datetime) -> datetime:
    """In range, and converted to UTC: the same instant, but an offset with
    seconds (local mean time before 1900-ish in many zones, e.g. Europe/Amsterdam
    +00:19:32) would otherwise lose its seconds on the way to the server."""
    if not MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
        raise ValueError("timestamps must lie between 0001-01-02 and 9999-12-30 UTC")
    return value.astimezone(UTC)


#: Smallest and largest API key, in characters.
API_KEY_MIN, API_KEY_MAX = 16, 1024


def _api_key(value: SecretStr | str) -> SecretStr:
    """The one API-key validator (create, rotate and lookup). Never echoes the key."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        raise PydanticCustomError("api_key_type", "an API key must be a string")
    if not API_KEY_MIN <= len(raw) <= API_KEY_MAX:
        raise PydanticCustomError(
            "api_key_length",
            "an API key must be {min} to {max} characters long",
            {"min": API_KEY_MIN, "max": API_KEY_MAX},
        )
    if _BAD_TEXT.search(raw) is not None:
        raise PydanticCustomError(
            "api_key_chars", "an API key may not contain NUL or lone surrogate characters"
        )
    return SecretStr(raw)


Text = Annotated[str, AfterValidator(_no_nul)]
Str50 = Annotated[str, StringConstraints(max_length=50), AfterValidator(_no_nul)]
Str100 = Annotated[str, StringConstraints(max_length=100), AfterValidator(_no_nul)]
Str255 = Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_nul)]
#: A non-empty name of at most 255 characters.
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_nul)]
#: A customer's API key as the caller holds it (only its HMAC is stored).
#: Validated by one function for create, rotate and lookup; errors never show it.
ApiKey = Annotated[SecretStr | str, AfterValidator(_api_key)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_value)]
JsonArray = Annotated[list[Any], AfterValidator(_json_value)]
#: A timezone-aware instant that reads back on any session time zone.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_to_utc), AfterValidator(_in_range)]
Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX, strict=True)]
NonNegInt32 = Annotated[int, Field(ge=0, le=INT32_MAX, strict=True)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, strict=True)]
#: numeric(12, 2): money, exact.
Money = Annotated[Decimal, Field(max_digits=12, decimal_places=2, allow_inf_nan=False)]
#: numeric(10, 2): an improvement in percent, exact.
Improvement = Annotated[Decimal, Field(max_digits=10, decimal_places=2, allow_inf_nan=False)]

#: Who holds a claimed execution: non-empty, at most 255 characters.
WorkerId = Name
#: How long a claim holds without a heartbeat: more than zero, at most one day.
Lease = Annotated[timedelta, Field(gt=timedelta(0), le=timedelta(days=1))]
#: Executions per claim or reaper pass: 1 to 1,000.
ClaimLimit = Annotated[int, Field(ge=1, le=1000, strict=True)]
#: A run's priority: a smallint (higher is claimed first).
Priority = Annotated[int, Field(ge=-(2**15), le=2**15 - 1, strict=True)]
#: An idempotency key: 1-255 characters, no control characters (the CHECK of
#: migration 0022 says the same).
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_control)
]
#: How long a requeued run waits: 0 up to a day.
Delay = Annotated[timedelta, Field(ge=timedelta(0), le=timedelta(days=1))]
#: A number of attempts (a re-run's fresh round).
Attempts = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
#: How many of one customer's runs a claim lets run at once.
CustomerLimit = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]

_ID = TypeAdapter(UUID)
_LIMIT = TypeAdapter(Limit)
_TIME = TypeAdapter(Timestamp | None)
_API_KEY = TypeAdapter(ApiKey, config=ConfigDict(hide_input_in_errors=True))
_JSON_OBJECT = TypeAdapter(JsonObject | None)
_JSON_OBJECT_REQUIRED = TypeAdapter(JsonObject)


def check_id(value: UUID | str) -> UUID:
    """A UUID (or its text form); anything else raises ``ValidationError``."""
    if type(value) is UUID:  # fast path: the common case costs one type check
        return value
    return _ID.validate_python(value)


def check_limit(value: int) -> int:
    """A page size from 1 to 10,000."""
    return _LIMIT.validate_python(value)


def check_batch_size(value: int) -> int:
    """Rows per round trip of a stream: from 1 to 10,000."""
    return _LIMIT.validate_python(value)


def check_time(value: datetime | None) -> datetime | None:
    """A timezone-aware datetime (naive ones are refused) or None."""
    return _TIME.validate_python(value)


def check_api_key(value: Any) -> str:
    """The key as text, validated like ``CustomerCreate.api_key`` (errors never show it)."""
    secret = _API_KEY.validate_python(value)
    return secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)


def check_json_object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON object (or None)."""
    return _JSON_OBJECT.validate_python(value)


def check_json_object_required(value: dict[str, Any]) -> dict[str, Any]:
    """A JSON object (None refused)."""
    return _JSON_OBJECT_REQUIRED.validate_python(value)
