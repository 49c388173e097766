"""A small text progress bar on stderr for long commands (no dependency): redrawn in place on a
terminal, one closing line otherwise (logs and pipes stay readable)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 28


class Progress:
    """``with Progress(30, "simulate", unit="day") as bar: ... bar.update(1, note="1.2M lines")``."""

    def __init__(
        self, total: int, label: str, unit: str = "", stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.done = 0
        self.note = ""
        self.started = time.monotonic()
        self._live = enabled and getattr(self.stream, "isatty", lambda: False)()

    def _line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = int(round(share * BAR_WIDTH))
        elapsed = time.monotonic() - self.started
        unit = f" {self.unit}s" if self.unit else ""
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = f"{self.label} [{bar}] {self.done}/{self.total}{unit} {share:4.0%} {elapsed:5.1f} s"
        return f"{text}  {self.note}" if self.note else text

    def update(self, n: int = 1, note: str | None = None) -> None:
        """Count ``n`` more steps done; ``note`` replaces the text shown after the bar."""
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        if note is not None:
            self.note = note
        if self._live:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def write(self, text: str) -> None:
        """Print ``text`` on a line of its own, above the bar on a terminal."""
        if not self.enabled:
            return
        if self._live:
            self.stream.write("\r\x1b[K" + text + "\n" + self._line())
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Print the final state on its own line."""
        if self.enabled:
            self.stream.write(("\r" if self._live else "") + self._line() + "\n")
            self.stream.flush()
            self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        elif self._live:  # leave the bar as it was, on its own line, above the error
            self.stream.write("\n")
            self.stream.flush()
