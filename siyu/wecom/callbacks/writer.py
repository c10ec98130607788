"""Group commit for the inbox: many concurrent callbacks, one transaction per batch.

A commit is the expensive part of accepting a callback (a WAL write on SQLite, a
round trip and fsync on PostgreSQL). One writer thread per database takes whatever
callbacks are waiting (up to ``MAX_BATCH``), inserts them in one transaction, commits,
and only then wakes the requests, which answer 200. A failed commit fails every
request of the batch (WeCom retries them); nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.wecom.callbacks.inbox import CallbackEvent, accept_parsed, local_write_lock

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Accepted:
    """The outcome of storing one callback."""

    callback_id: int
    created: bool


@dataclass(slots=True)
class _Item:
    workspace_id: int
    xml_text: str
    ev: CallbackEvent
    future: Future[Accepted]


class InboxWriter:
    """A daemon thread that stores queued callbacks in batches (one per database)."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._factory = session_factory
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="wecom-inbox-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """False if the writer thread has died (a new one is started on next use)."""
        return self._thread.is_alive()

    def submit(self, *, workspace_id: int, xml_text: str, ev: CallbackEvent) -> Future[Accepted]:
        """Queue a parsed callback; the future resolves once its batch is committed."""
        fut: Future[Accepted] = Future()
        self._queue.put(_Item(workspace_id, xml_text, ev, fut))
        return fut

    async def store(self, *, workspace_id: int, xml_text: str, ev: CallbackEvent) -> Accepted:
        """Queue a parsed callback and wait (without blocking the event loop) for its commit."""
        return await asyncio.wrap_future(self.submit(workspace_id=workspace_id, xml_text=xml_text, ev=ev))

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[_Item]) -> None:
        results: list[Accepted] = []
        try:
            with self._factory() as session, local_write_lock(session):
                for item in batch:
                    cid, created = accept_parsed(
                        session, workspace_id=item.workspace_id, xml_text=item.xml_text, ev=item.ev
                    )
                    results.append(Accepted(cid, created))
                session.commit()
        except BaseException as exc:  # the whole batch is unacknowledged: WeCom will retry
            for item in batch:
                with contextlib.suppress(InvalidStateError):
                    item.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for item, result in zip(batch, results, strict=True):
            # The request may have given up waiting (503 after 4.5 s) and cancelled its
            # future; the row is committed anyway and WeCom's retry dedups on arrival.
            with contextlib.suppress(InvalidStateError):
                item.future.set_result(result)


_writers: dict[str, InboxWriter] = {}
_writers_lock = threading.Lock()


def writer_for(url: str, session_factory: Callable[[], Session]) -> InboxWriter:
    """The process's writer for one database URL (started on first use)."""
    with _writers_lock:
        writer = _writers.get(url)
        if writer is None or not writer.alive:
            writer = _writers[url] = InboxWriter(session_factory)
        return writer
