"""CSV records with the line each starts on, for the readers that quarantine bad rows (ODK, sensors).

A record that cannot be read costs only its first line. An unclosed quote makes the csv module
read on through the lines after it, into one broken record or to the end of the file; so when a
record fails (its CSV syntax, its encoding, or a check of the reader, which calls ``refuse``) and
spans several lines, reading resumes on its second line and the lines it swallowed are read again
as rows of their own. A legitimate quoted newline costs nothing unless its row is refused anyway.

Lines end at LF (CRLF too): line numbers are those an editor shows; a lone CR outside quotes is a
syntax error of its row. Bytes that are not UTF-8 are carried as surrogates and refuse their row.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from typing import NamedTuple

REJECT_TEXT_CHARS = 4096  # quarantined text kept of a record's first line, characters


class Record(NamedTuple):
    line: int  # first line of the record, 1-based
    cells: list[str] | None  # None when the CSV syntax or the encoding is broken
    error: str | None
    text: str  # the record's first line as read, for the quarantine


class _Lines:
    """The lines csv.reader reads: given-back lines first, then the source; remembers what it gave."""

    def __init__(self, source: Iterable[bytes]) -> None:
        self.source = iter(source)
        self.count = 0
        self.replay: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:  # may go on after a StopIteration, once lines are given back
        if self.replay:
            item = self.replay.popleft()
        else:
            raw = next(self.source)
            self.count += 1
            text = raw.decode("utf-8", "surrogateescape")
            item = (self.count, text.removeprefix("\ufeff") if self.count == 1 else text)
        self.taken.append(item)
        return item[1]


class CsvRecords:
    """Iterate the CSV records of ``lines`` (bytes, each with its LF; a binary file iterates so),
    each a Record; call ``refuse()`` when the record just read is bad to read its swallowed lines
    again."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = _Lines(lines)
        self._reader = csv.reader(self._lines, strict=True)
        self._last: list[tuple[int, str]] = []

    def __iter__(self) -> Iterator[Record]:
        while True:
            self._lines.taken = []
            try:
                cells: list[str] | None = next(self._reader)
                error = None
            except StopIteration:
                return
            except csv.Error as exc:
                cells, error = None, f"CSV syntax: {exc}"
            taken, self._last = self._lines.taken, self._lines.taken
            if not taken:
                return
            if cells is not None and any(_has_surrogates(cell) for cell in cells):
                cells, error = None, "not valid UTF-8"
            if cells is None:
                self.refuse()
            yield Record(taken[0][0], cells, error, _shown(taken[0][1]))

    def refuse(self) -> None:
        """The record read last is bad: when it spans several lines, read from its second line again."""
        if len(self._last) > 1:
            self._lines.replay.extendleft(reversed(self._last[1:]))
        self._last = []


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _shown(line: str) -> str:
    text = line.removesuffix("\n").removesuffix("\r")[:REJECT_TEXT_CHARS]
    return text.encode("utf-8", "replace").decode("utf-8")
