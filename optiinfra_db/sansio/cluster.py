"""Routing reads between a primary and its streaming replicas, without I/O:
write tokens, what each replica is known to have replayed, sticky tokens
and the counters (the I/O is in ``optiinfra_db/aio/cluster.py``).

A token is ``odb1:<system identifier>:<WAL position>``: the position covers
every commit the session wrote before it was taken, and the identifier
(the same on a primary and its physical replicas, different for any other
cluster) lets a token from another cluster be refused.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Replica", "Sticky", "Token", "parse_token"]

_TOKEN = re.compile(r"odb1:([0-9]{1,20}):([0-9A-F]{1,16})")


@dataclass(frozen=True, slots=True)
class Token:
    """A position in one cluster's WAL."""

    system: str
    lsn: int

    def __str__(self) -> str:
        return f"odb1:{self.system}:{self.lsn:X}"


def parse_token(text: Any, system: str | None = None) -> Token:
    """The token in ``text`` (ValueError if it is none, or if it is another
    cluster's than ``system``)."""
    if isinstance(text, Token):
        token = text
    else:
        match = _TOKEN.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a write token: {text!r} (odb.write_token makes them)")
        token = Token(match[1], int(match[2], 16))
    if system is not None and token.system != system:
        raise ValueError(
            f"write token {token} is another cluster's (system {token.system}; "
            f"this cluster is {system})"
        )
    return token


@dataclass
class Replica:
    """What is known of one replica: its last probe, and its counters."""

    name: str  # host:port, for stats
    replayed: int = -1  # the WAL position it had replayed at the last probe
    lag_s: float = 0.0
    probed_at: float = -1e9  # monotonic
    down_until: float = 0.0  # monotonic: skipped until then
    error: str | None = None
    reads: int = 0

    def usable(self, now: float, max_lag_s: float) -> bool:
        return now >= self.down_until and self.lag_s <= max_lag_s

    def saw(self, replayed: int, lag_s: float, now: float) -> None:
        self.replayed = max(self.replayed, replayed)
        self.lag_s = lag_s
        self.probed_at = now
        self.error = None

    def failed(self, error: str, now: float, retry_after_s: float) -> None:
        self.down_until = now + retry_after_s
        self.error = error
        self.replayed = -1


@dataclass
class Sticky:
    """The newest token per key, for ``stick_for`` seconds; forgotten
    earlier only once every replica has replayed past it (GitLab 413203:
    forgetting it when one had caught up sent the next read to one that
    had not)."""

    stick_for_s: float
    tokens: dict[Any, tuple[Token, float]] = field(default_factory=dict)

    def stick(self, key: Any, token: Token, now: float) -> None:
        held = self.tokens.get(key)
        if held is None or token.lsn >= held[0].lsn or held[1] <= now:
            self.tokens[key] = (token, now + self.stick_for_s)

    def get(self, key: Any, now: float, replicas: list[Replica]) -> Token | None:
        held = self.tokens.get(key)
        if held is None:
            return None
        token, until = held
        everywhere = bool(replicas) and all(r.replayed >= token.lsn for r in replicas)
        if until <= now or everywhere:
            del self.tokens[key]
            return None
        return token


def newest(*tokens: Token | None) -> Token | None:
    """The furthest of some tokens (None when there are none)."""
    found = [t for t in tokens if t is not None]
    return max(found, key=lambda t: t.lsn) if found else None


class Rotation:
    """Replicas in turn, so reads spread over them."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self._next = itertools.count()

    def order(self) -> list[Replica]:
        if not self.replicas:
            return []
        start = next(self._next) % len(self.replicas)
        return self.replicas[start:] + self.replicas[:start]


def monotonic() -> float:
    return time.monotonic()
