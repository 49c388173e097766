"""Panel's queue of messages to the browser, with and without the fix of
``observatory.views.panel_patches``: a change queued in the turn in which the previous write ends
reaches the browser (it stayed queued, and the KPI page's URL lost its dates)."""

from __future__ import annotations

import asyncio

import panel.io.document as panel_document
from bokeh.document import Document

from observatory.views import panel_patches


class _Message:
    def __init__(self, name: str) -> None:
        self.header_json = self.metadata_json = self.content_json = name
        self._buffers: list = []


class _Protocol:
    def create(self, kind: str, events: list) -> _Message:
        return _Message(events[0])


class _Socket:
    """A connection's socket whose writes complete when the test says so."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.writes: list[asyncio.Future] = []

    def send(self, text_data=None, binary_data=None) -> asyncio.Future:
        self.sent.append(text_data)
        self.writes.append(asyncio.get_running_loop().create_future())
        return self.writes[-1]

    def complete(self) -> None:
        for write in self.writes:
            if not write.done():
                write.set_result(None)


class _Connection:
    def __init__(self) -> None:
        self._socket = _Socket()
        self.protocol = _Protocol()


async def _second_batch_while_first_completes() -> tuple[list[str], bool]:
    """Queue a first change, let its write start, then complete the write and queue a second
    change in the same turn of the loop (as a session callback does after a write completes)."""
    doc, connection = Document(), _Connection()
    socket = connection._socket
    panel_document.schedule_write_events(doc, [connection], ["cards"])
    await asyncio.sleep(0.01)
    assert socket.sent == ["cards"] * 3  # header, metadata, content: being written
    socket.complete()
    panel_document.schedule_write_events(doc, [connection], ["url"])
    for _ in range(3):
        await asyncio.sleep(0.02)
        socket.complete()
    sent = list(dict.fromkeys(socket.sent))
    return sent, bool(panel_document._WRITE_MSGS.get(doc))


def test_a_change_queued_as_the_previous_write_ends_is_sent():
    assert panel_patches.installed()
    sent, still_queued = asyncio.run(_second_batch_while_first_completes())
    assert sent == ["cards", "url"] and not still_queued


def test_without_the_fix_panel_leaves_it_queued(monkeypatch):
    """The pinned Panel's own dispatcher strands the second change: when a Panel release stops
    doing so, this fails and the fix can go."""
    monkeypatch.setattr(panel_document, "_dispatch_msgs", panel_patches._original)
    sent, still_queued = asyncio.run(_second_batch_while_first_completes())
    assert sent == ["cards"] and still_queued
