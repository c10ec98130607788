"""Database engine, sessions and the transaction boundary.

Services never commit: a request, a CLI command or a job opens one ``session_scope``
and that boundary commits (or rolls back) once.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings, get_settings

_engines: dict[str, Engine] = {}


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written without a driver."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A new engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database (one per URL)."""
    url = normalise_url((settings or get_settings()).database_url)
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = make_engine(url)
    return engine


def dispose_engines() -> None:
    """Close every cached engine (tests and forked workers)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def begin_write(session: Session) -> None:
    """Open the session's transaction in the database now, before a statement that
    would otherwise run outside it.

    pysqlite (Python's ``sqlite3`` in its default mode) starts a transaction only before
    INSERT, UPDATE, DELETE and REPLACE: a write that starts with ``WITH`` (a CTE before
    an ``INSERT … SELECT`` or an ``UPDATE … FROM``), sent first in a transaction, runs on
    its own and is committed at once, whatever the caller then commits or rolls back.
    The transaction is opened with the write lock (``BEGIN IMMEDIATE``, waiting as long
    as the busy timeout): a transaction that read first and wrote later would be refused
    ("database is locked", at once) if another connection had committed in between.
    Other databases: nothing (their transactions are opened by SQLAlchemy).
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    dbapi: Any = conn.connection.driver_connection
    if dbapi is not None and not dbapi.in_transaction:
        dbapi.execute("BEGIN IMMEDIATE")


class _WriteTurn:
    """Turns at SQLite's one write lock: a thread lock, then a file lock across processes.

    The file lock (``flock`` on ``<database>-siyu-write.lock``, opened once per process)
    lets the inbox writers and processors of several processes (``siyu serve --workers
    N``, ``siyu wecom process-callbacks``) and order imports take turns too: a waiting
    process is woken when the lock is released, where SQLite's busy handler would sleep.
    Without a file (an in-memory database, a directory it cannot write) the thread lock
    alone applies.
    """

    def __init__(self, database: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = f"{database}-siyu-write.lock" if database and database != ":memory:" else None
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._path = self._fd = None
                return None
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_write_locks: dict[str, _WriteTurn] = {}
_write_locks_guard = threading.Lock()


def local_write_lock(session: Session | Engine) -> AbstractContextManager[Any]:
    """On SQLite, the turn at its write lock, taken around each write transaction.

    SQLite has one writer; two threads (or processes) contending for it fall back to
    SQLite's busy handler, which sleeps in growing steps and ruins latency. Taking
    turns (``_WriteTurn``) keeps the inbox writers, the processors and the order imports
    from sleeping there.
    """
    bind = session if isinstance(session, Engine) else session.get_bind()
    if bind.dialect.name != "sqlite":
        return nullcontext()
    key = str(bind.engine.url)
    with _write_locks_guard:
        turn = _write_locks.get(key)
        if turn is None:
            turn = _write_locks[key] = _WriteTurn(bind.engine.url.database)
        return turn


# Page cache for bulk writes on SQLite (KiB; SQLite's default is 2 MiB): an import's
# index inserts and its set-based stats touch pages all over the orders table.
BULK_CACHE_KIB = 32768
BULK_CHECKPOINT_PAGES = 20_000


def tune_for_bulk_writes(session: Session) -> None:
    """Settings for a long bulk write (an order import) on this session's connection.

    SQLite: a larger page cache (32 MiB). WAL and ``synchronous=NORMAL`` stay as they
    are, so each commit stays durable in the sense the rest of siyu relies on; temporary
    B-trees (GROUP BY, DISTINCT) stay on disk so memory stays bounded. Other databases:
    nothing. The setting stays on the pooled connection for its life; it only uses
    more memory.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(BULK_CACHE_KIB)}")
    # Checkpoint the WAL every ~80 MB instead of every 4 MB: index pages rewritten by
    # many commits are copied to the database once per checkpoint, not once per commit.
    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {int(BULK_CHECKPOINT_PAGES)}")
