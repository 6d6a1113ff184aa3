"""The command line's arguments: the parser, and the types that check each
value as it is parsed, so a command starts only with values it can use.

A value the parser can't use (``--since yesterday``, a malformed execution
id) is refused like any input the commands refuse: one line on stderr, exit
1. A command line that is malformed as such (an unknown option, a missing
argument) is a usage error: one line, exit 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID

from optiinfra_db.cli.render import note, remember_secrets, safe
from optiinfra_db.cli.target import EXIT_FAIL, EXIT_USAGE
from optiinfra_db.enums import WorkflowStatus, WorkflowType
from optiinfra_db.fieldtypes import MAX_LIMIT

__all__ = [
    "BadValue",
    "Parser",
    "after",
    "database_url",
    "execution_id",
    "interval",
    "moment",
    "positive_up_to",
    "scale",
    "seconds",
    "statuses",
    "workflow_types",
]


class BadValue(argparse.ArgumentTypeError):
    """A value an argument's type refused (exit 1, see the module doc)."""


class Parser(argparse.ArgumentParser):
    """argparse with errors as one line on stderr (no usage block): exit 1 for
    a refused value, 2 for a malformed command line."""

    def error(self, message: str) -> NoReturn:
        # argparse calls this while handling the ArgumentError it raised for a
        # type's refusal; that error's context is the BadValue.
        handling = sys.exc_info()[1]
        refused = handling is not None and isinstance(handling.__context__, BadValue)
        note(f"optiinfra-db: error: {safe(message)}")
        raise SystemExit(EXIT_FAIL if refused else EXIT_USAGE)


def moment(option: str) -> Callable[[str], datetime]:
    """A point in time: '7d', '24h', '30m' before now, or an ISO date/time
    (UTC when no offset is given); ``option`` names the flag in the error."""

    def parse(text: str) -> datetime:
        match = re.fullmatch(r"(\d+)([dhm])", text.strip())
        if match:
            unit = {"d": "days", "h": "hours", "m": "minutes"}[match[2]]
            try:
                return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
            except (OverflowError, ValueError) as exc:
                raise BadValue(f"{option}: {text!r} reaches before year 1") from exc
        try:
            when = datetime.fromisoformat(text)
        except ValueError as exc:
            raise BadValue(
                f"{option}: expected 7d, 24h, 30m or an ISO date/time, not {text!r}"
            ) from exc
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    return parse


def seconds(option: str) -> Callable[[str], float]:
    """'10s', '500ms', '2m' as seconds (> 0); ``option`` names the flag in the error."""

    def parse(text: str) -> float:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text.strip())
        if not match or float(match[1]) <= 0:
            raise BadValue(f"{option}: expected e.g. 10s, 500ms or 2m, not {text!r}")
        return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2]]

    return parse


interval = seconds("--every")


def workflow_types(text: str) -> list[WorkflowType]:
    """A comma list of workflow types (cost_analysis,health_check...)."""
    known = {t.value: t for t in WorkflowType}
    names = [n.strip() for n in text.split(",") if n.strip()]
    wrong = [n for n in names if n not in known]
    if not names or wrong:
        raise BadValue(
            f"--types: unknown workflow type {safe(', '.join(wrong) or text)!s}; "
            f"one or more of {', '.join(known)}"
        )
    return [known[n] for n in names]


def positive_up_to(option: str, most: int = MAX_LIMIT) -> Callable[[str], int]:
    """A whole number from 1 to ``most``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= most:
            raise BadValue(f"{option} must be from 1 to {most}")
        return value

    return parse


def scale(text: str) -> int:
    """``--scale``: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("--scale must be >= 0")
    return value


def statuses(text: str) -> list[WorkflowStatus]:
    """``--status``: one run status or several, comma-separated."""
    try:
        return [WorkflowStatus(part.strip()) for part in text.split(",")]
    except ValueError as exc:
        raise BadValue(
            f"--status: expected statuses from {', '.join(WorkflowStatus)}, not {text!r}"
        ) from exc


def execution_id(text: str) -> UUID:
    """An execution's id."""
    try:
        return UUID(text)
    except ValueError as exc:
        raise BadValue(f"not an execution id: {text!r}") from exc


def after(text: str) -> int | str:
    """``--after``: a transition id (digits) or a log position, as ``watch`` takes it."""
    return int(text) if text.isdigit() else text


def database_url(text: str) -> str:
    """``--database-url``: remembered as a secret at once (never printed), and
    not empty (leave it out for the embedded server)."""
    remember_secrets(text)
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "--database-url is empty (leave it out for the embedded server)"
        )
    return text


def defaults(args: argparse.Namespace, **values: Any) -> None:
    """Fill the options every command accepts but none was given
    (``argparse.SUPPRESS`` keeps a subcommand from resetting the top's)."""
    for name, value in values.items():
        if not hasattr(args, name):
            setattr(args, name, value)
