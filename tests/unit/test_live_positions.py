"""The log position a watcher keeps and hands out (no database)."""

from __future__ import annotations

import pydantic
import pytest

from optiinfra_db.sansio.live import LogPosition, own_position, watch_args


def test_a_position_round_trips_through_its_token() -> None:
    for position in (
        LogPosition("100:105:100,103"),
        LogPosition("100:105:", "100:120:117", 5012),
        LogPosition(None, "7:7:", 42),
    ):
        assert LogPosition.parse(position.token()) == position


@pytest.mark.parametrize(
    "bad",
    ["", "//", "x", "1:2:/", "5:3://", "1:9:7,3//", "1:9:12//", "0:1://", "1:9://4", "1:2:/1:3:/"],
)
def test_malformed_positions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        LogPosition.parse(bad)
    with pytest.raises(pydantic.ValidationError):
        watch_args(None, bad, None)


def test_after_takes_an_id_or_a_position_and_nothing_else() -> None:
    assert watch_args(None, 7, None)[1] == 7
    assert watch_args(None, "3:3://", None)[1] == LogPosition("3:3:")
    for bad in (-1, True, 1.5, "12"):
        with pytest.raises(pydantic.ValidationError):
            watch_args(None, bad, None)  # type: ignore[arg-type]


def test_a_session_that_has_written_counts_its_own_transaction_as_ahead() -> None:
    """A snapshot never lists its own transaction as in progress, yet its
    rows are not committed: the position puts it back, lowering xmin."""
    assert own_position("100:110:104", None) == LogPosition("100:110:104")
    assert own_position("100:110:104", "107") == LogPosition("100:110:104,107")
    assert own_position("105:110:", "99") == LogPosition("99:110:99")
    assert LogPosition.parse(own_position("105:110:106", "99").token()).lo == "99:110:99,106"


def test_after_a_row_and_when_a_read_is_done() -> None:
    reading = LogPosition("10:20:", "10:30:25")
    assert reading.after(77) == LogPosition("10:20:", "10:30:25", 77)
    assert reading.after(77).token() == "10:20:/10:30:25/77"
