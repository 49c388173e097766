"""A fix for Panel 1.9's queue of messages to the browser, installed when this module is imported
(``observatory.views`` imports it, so every served app and notebook has it).

Panel 1.9.4 queues the changes made while an earlier message is still being written
(``schedule_write_events``) and starts a task, ``_dispatch_msgs``, to send them. That task sends
nothing when no write is marked in progress (``_WRITE_BLOCK``). If the batch is queued in the
same turn of the event loop in which the earlier write completes, the earlier task wakes first,
clears the mark, and the new task then returns at once: the queued message stays unsent until some
later change happens to flush it. On the KPI dashboard the last message of a page load is the one
writing the dates into the URL, so the address kept no dates (``tests/views/test_panel_patches.py``
builds that sequence; a later Panel, which needs Python 3.12, drains the queue in the running task).

The fix: a dispatcher that finds messages queued and no write in progress takes the mark and
sends them.
"""

from __future__ import annotations

import panel.io.document as _document

_original = getattr(_document, "_dispatch_msgs", None)
_QUEUED = getattr(_document, "_WRITE_MSGS", None)  # the 1.9 queue (a later Panel renamed it)
_IN_PROGRESS = getattr(_document, "_WRITE_BLOCK", None)


async def _dispatch_msgs(doc) -> None:
    """Panel's dispatcher, which also sends what an earlier dispatcher left queued."""
    if doc not in _IN_PROGRESS and _QUEUED.get(doc):
        _IN_PROGRESS[doc] = True
    await _original(doc)


def installed() -> bool:
    """Whether the fix is in place (False on a Panel without the 1.9 queue: nothing to fix)."""
    return _document._dispatch_msgs is _dispatch_msgs


if _original is not None and _QUEUED is not None and _IN_PROGRESS is not None and not installed():
    # Panel looks the name up in its module each time it starts a dispatcher, its own retries too.
    _document._dispatch_msgs = _dispatch_msgs
