"""Group commit for the inbox: many concurrent callbacks, one transaction per batch.

A commit is the expensive part of accepting a callback (a WAL write on SQLite, a
round trip and fsync on PostgreSQL). One writer thread per database takes whatever
callbacks are waiting (up to ``MAX_BATCH``: batches grow by themselves under load,
since callbacks queue up while the previous batch commits), inserts them with one
executemany in one transaction, commits, and only then wakes the requests, which
answer 200. A failed commit fails every request of the batch (WeCom retries them);
nothing is acknowledged before it is durable.

The hand-off is cheap in both directions: a request puts its item on a lock-free
``SimpleQueue`` and awaits a plain asyncio future; after the commit the writer wakes
each event loop once per batch (one ``call_soon_threadsafe`` for all of its requests),
not once per callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.wecom.callbacks.inbox import CallbackEvent, accept_many, local_write_lock

MAX_BATCH = 256


@dataclass(slots=True)
class _Item:
    workspace_id: int
    xml_text: str
    ev: CallbackEvent
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


def _settle(items: list[_Item], exc: BaseException | None) -> None:
    """On the event loop: resolve the batch's futures (skipping those that gave up)."""
    for item in items:
        fut = item.future
        if fut.done():  # timed out (503 already answered) or cancelled
            continue
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


def _time_out(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("the inbox did not commit in time"))


class InboxWriter:
    """A daemon thread that stores queued callbacks in batches (one per database)."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._factory = session_factory
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self.batches = 0  # committed batches (tests, diagnostics)
        self.stored = 0  # callbacks in them
        self._thread = threading.Thread(target=self._run, name="wecom-inbox-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """False if the writer thread has died (a new one is started on next use)."""
        return self._thread.is_alive()

    async def store(
        self, *, workspace_id: int, xml_text: str, ev: CallbackEvent, timeout: float | None = None
    ) -> None:
        """Queue a parsed callback and wait (without blocking the loop) for its commit.

        TimeoutError after ``timeout`` seconds; the callback may still be committed later
        (WeCom's retry then dedups).
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Item(workspace_id, xml_text, ev, loop, fut))
        if timeout is None:
            await fut
            return
        timer = loop.call_later(timeout, _time_out, fut)
        try:
            await fut
        finally:
            timer.cancel()

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
        error: BaseException | None = None
        try:
            with self._factory() as session, local_write_lock(session):
                accept_many(session, [(i.workspace_id, i.xml_text, i.ev) for i in batch])
                session.commit()
            self.batches += 1
            self.stored += len(batch)
        except BaseException as exc:  # the whole batch is unacknowledged: WeCom will retry
            error = exc
        # A KeyboardInterrupt or SystemExit ends this thread (a new one starts on next
        # use); the waiting requests get a plain error for it.
        failure = (
            error if error is None or isinstance(error, Exception) else RuntimeError("inbox writer stopped")
        )
        by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        for item in batch:
            by_loop.setdefault(item.loop, []).append(item)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, items, failure)
        if error is not None and not isinstance(error, Exception):
            raise error


_writers: dict[str, InboxWriter] = {}
_writers_lock = threading.Lock()


def writer_for(url: str, session_factory: Callable[[], Session]) -> InboxWriter:
    """The process's writer for one database URL (started on first use)."""
    writer = _writers.get(url)  # lock-free hit: the hot path
    if writer is not None and writer.alive:
        return writer
    with _writers_lock:
        writer = _writers.get(url)
        if writer is None or not writer.alive:
            writer = _writers[url] = InboxWriter(session_factory)
        return writer
