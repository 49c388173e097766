"""The text progress bar: redrawn in place on a terminal, one final line in a log."""

from __future__ import annotations

import io

import pytest

from observatory.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_final_line() -> None:
    log = io.StringIO()
    with Progress(4, "simulate", unit="day", stream=log) as bar:
        for _ in range(4):
            bar.update(1, note="12 lines")
    text = log.getvalue()
    assert text.count("\n") == 1 and "\r" not in text
    assert "simulate [############################] 4/4 days 100%" in text and text.rstrip().endswith(
        "12 lines"
    )


def test_a_terminal_sees_the_bar_move() -> None:
    term = Terminal()
    with Progress(2, "ingest", stream=term) as bar:
        bar.update(1)
        assert term.getvalue().startswith("\ringest [##############..............] 1/2  50%")
        bar.update(1)
    assert term.getvalue().endswith("\n") and term.getvalue().count("\r") == 3


def test_disabled_prints_nothing_and_an_error_leaves_no_final_line() -> None:
    quiet = io.StringIO()
    with Progress(3, "x", stream=quiet, enabled=False) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""
    log = io.StringIO()
    with pytest.raises(RuntimeError), Progress(3, "x", stream=log) as bar:
        bar.update(1)
        raise RuntimeError("stop")
    assert log.getvalue() == ""


def test_a_message_goes_above_the_bar_on_a_terminal_and_on_its_own_line_in_a_log() -> None:
    term = Terminal()
    with Progress(2, "ingest", unit="file", stream=term) as bar:
        bar.update(1, note="a.lp")
        bar.write("a.lp: 3 rows quarantined")
        # the bar's line cleared, the message, the bar drawn again below it
        assert (
            "\r\x1b[Ka.lp: 3 rows quarantined\ningest [##############..............] 1/2 files"
            in term.getvalue()
        )
        assert term.getvalue().endswith("a.lp")
        bar.update(1)
    log = io.StringIO()
    with Progress(2, "ingest", unit="file", stream=log) as bar:
        bar.write("a.lp: 3 rows quarantined")
        bar.update(2)
    assert log.getvalue().splitlines()[0] == "a.lp: 3 rows quarantined"
    assert log.getvalue().splitlines()[1].startswith("ingest [############################] 2/2 files 100%")
    quiet = io.StringIO()
    with Progress(1, "x", stream=quiet, enabled=False) as bar:
        bar.write("nothing")
    assert quiet.getvalue() == ""
