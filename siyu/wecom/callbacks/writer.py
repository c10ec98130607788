"""Group commit for the inbox: many concurrent callbacks, one transaction per batch.

A commit is the expensive part of accepting a callback (a WAL write on SQLite, a
round trip and fsync on PostgreSQL). One writer thread per database takes whatever
callbacks are waiting (up to ``MAX_BATCH``: batches grow by themselves under load,
since callbacks queue up while the previous batch commits), inserts them with one
statement (``BatchInsert``: executemany on SQLite, a multi-row INSERT on PostgreSQL)
in one transaction on its own long-lived connection, commits, and only then wakes the
requests, which answer 200. A failed commit fails every request of the batch (WeCom
retries them); nothing is acknowledged before it is durable. A batch that failed
because the connection was lost (a database restart) is retried once on a new one.

The hand-off is cheap in both directions: a request puts its item on a lock-free
``SimpleQueue`` and awaits a plain asyncio future; after the commit the writer wakes
each event loop once per batch (one ``call_soon_threadsafe`` for all of its requests),
not once per callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from siyu.kit.db import local_write_lock
from siyu.wecom.callbacks.inbox import BatchInsert, CallbackEvent

MAX_BATCH = 256
# SQLite WAL checkpoints (which also flush the WAL to disk): after this many committed
# batches, and at the latest this many seconds after a commit. SQLite's own
# autocheckpoint waits for ~1000 WAL pages (~200 batches), however long that takes.
CHECKPOINT_EVERY = 50
CHECKPOINT_SECONDS = 1.0
log = logging.getLogger(__name__)


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
        with session_factory() as session:
            bind = session.get_bind()
        self._engine: Engine = bind if isinstance(bind, Engine) else bind.engine
        self._insert = BatchInsert(self._engine)
        self._conn: Any = None  # a pooled DBAPI connection, held while it works
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self.batches = 0  # committed batches (tests, diagnostics)
        self.stored = 0  # callbacks in them
        self.checkpoints = 0  # WAL checkpoints run beside the writer (SQLite)
        # SQLite: WAL checkpoints (copying the WAL into the database file, with fsync)
        # run in their own thread, not after the writer's commits, where they held up
        # a whole batch of 200s for tens of milliseconds.
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._checkpoint_due = threading.Event()
        self._uncheckpointed = 0  # batches committed since the last checkpoint began
        if self._sqlite:
            threading.Thread(target=self._checkpoints, name="wecom-inbox-checkpoint", daemon=True).start()
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

    def _checkpoints(self) -> None:
        conn: Any = None
        while True:
            self._checkpoint_due.wait(CHECKPOINT_SECONDS)
            self._checkpoint_due.clear()
            if not self._uncheckpointed:
                continue
            self._uncheckpointed = 0
            try:
                if conn is None:
                    conn = self._engine.raw_connection()
                cursor = conn.cursor()
                # PASSIVE: never waits for, nor blocks, the writer or the readers.
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
                cursor.close()
                self.checkpoints += 1
            except Exception:  # the next commit asks again; other connections checkpoint too
                log.warning("WAL checkpoint of the inbox failed", exc_info=True)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.invalidate()
                conn = None

    def _connect(self) -> Any:
        conn = self._engine.raw_connection()
        if self._sqlite:
            cursor = conn.cursor()
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # see _checkpoints
            cursor.close()
        else:
            # PostgreSQL: the batch is one INSERT statement, so autocommit makes it its
            # own transaction: PostgreSQL commits it (WAL flushed, synchronous_commit
            # on) before it answers. One round trip per batch instead of three (BEGIN,
            # INSERT, COMMIT), each of which made this thread wait for the GIL again.
            driver = conn.driver_connection
            assert driver is not None
            driver.autocommit = True
        return conn

    def connect(self) -> None:
        """Open the writer's connection now (before serving: not while batches are written)."""
        if self._conn is None:
            self._conn = self._connect()

    def _store(self, items: list[tuple[int, str, CallbackEvent]]) -> None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        with local_write_lock(self._engine):
            try:
                cursor = self._insert.cursor(conn)
                try:
                    self._insert.execute(cursor, items)
                finally:
                    cursor.close()
                conn.commit()  # a no-op on PostgreSQL's autocommit connection (committed above)
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()

    def _lost_connection(self, exc: BaseException) -> bool:
        dialect = self._engine.dialect
        dbapi_error = getattr(dialect.loaded_dbapi, "Error", None)
        if dbapi_error is None or not isinstance(exc, dbapi_error):
            return False
        conn = self._conn.driver_connection if self._conn is not None else None
        return bool(dialect.is_disconnect(exc, conn, None))

    def _wrap(self, exc: BaseException, lost: bool) -> BaseException:
        """DBAPI errors as SQLAlchemy's (DataError, OperationalError...), as the ORM raises them."""
        dbapi_error = getattr(self._engine.dialect.loaded_dbapi, "Error", None)
        if dbapi_error is None or not isinstance(exc, dbapi_error):
            return exc
        wrapped: BaseException = DBAPIError.instance(
            "INSERT INTO wecom_callbacks ...", None, exc, dbapi_error, connection_invalidated=lost
        )
        wrapped.__cause__ = exc
        return wrapped

    def _write(self, batch: list[_Item]) -> None:
        items = [(i.workspace_id, i.xml_text, i.ev) for i in batch]
        error: BaseException | None = None
        for attempt in range(2):
            try:
                self._store(items)
            except BaseException as exc:  # the whole batch is unacknowledged: WeCom will retry
                lost = self._lost_connection(exc)
                error = self._wrap(exc, lost)
                self._drop_connection()
                if lost and attempt == 0:
                    continue  # nothing was committed: once more on a new connection
            else:
                error = None
                self.batches += 1
                if self._sqlite:
                    self._uncheckpointed += 1
                    if self._uncheckpointed >= CHECKPOINT_EVERY:
                        self._checkpoint_due.set()
                self.stored += len(batch)
            break
        # A KeyboardInterrupt or SystemExit ends this thread (a new one starts on next
        # use); the waiting requests get a plain error for it.
        failure = error
        if error is not None and not isinstance(error, Exception):
            failure = RuntimeError("the inbox writer stopped")
        by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        for item in batch:
            by_loop.setdefault(item.loop, []).append(item)
        for loop, waiting in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, waiting, failure)
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
