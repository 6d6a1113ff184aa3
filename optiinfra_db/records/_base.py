"""What every record and input shares: the base classes, and the API-key
hash the customers' records use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    model_validator,
)


def new_api_key() -> str:
    """A fresh API key: 256 random bits, URL-safe, prefixed ``oik_`` so it is recognisable."""
    return "oik_" + secrets.token_urlsafe(32)


#: The documented default of OPTIINFRA_API_KEY_SECRET: for the demo and tests
#: only. A deployment sets its own secret (and keeps it out of the database).
DEMO_API_KEY_SECRET = "optiinfra-demo-secret-not-for-production"


def api_key_secret() -> bytes:
    """The server-side secret the API-key HMAC is keyed with ($OPTIINFRA_API_KEY_SECRET)."""
    return os.environ.get("OPTIINFRA_API_KEY_SECRET", DEMO_API_KEY_SECRET).encode("utf-8")


def hash_api_key(api_key: str) -> str:
    """What the database stores instead of the key: HMAC-SHA256 keyed by a
    server-side secret, lower-case hex.

    An HMAC, not a slow password hash: a key is looked up by its hash on every
    request (a slow hash would cost ~100 ms a request, or need a key id
    beside it), and the keys ``new_api_key`` makes carry 256 random bits. The
    secret is what keeps a short, human-chosen key from being brute-forced out
    of a copy of the database: without the secret, the stored values say nothing.
    """
    return hmac.new(api_key_secret(), api_key.encode("utf-8"), hashlib.sha256).hexdigest()


class Record(BaseModel):
    """A row read back from the database."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Input(BaseModel):
    """Data a caller hands in; validated before any SQL runs."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class UpdateInput(Input):
    """All-optional input; only ``model_fields_set`` is written."""

    #: Fields whose column is NOT NULL: an explicit None is refused.
    not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_not_null_columns(self) -> Self:
        for name in self.model_fields_set & self.not_null:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be set to None (the column is NOT NULL)")
        return self

    def set_flags(self) -> dict[str, Any]:
        """``set_<field>`` booleans for the static partial-update statements."""
        fields_set = self.model_fields_set
        return {f"set_{name}": name in fields_set for name in type(self).model_fields}


def _check_times(started: Any, completed: Any) -> None:
    if started is not None and completed is not None and completed < started:
        raise ValueError("completed_at may not be before started_at")
