"""Test fixtures: real databases built by the migrations, the CLI, no internet.

Every test that takes ``env`` (or anything built on it) runs once on SQLite and, when
``SIYU_TEST_DATABASE_URL`` is set, once more on PostgreSQL. PostgreSQL runs use a
database of their own, created for the session and dropped after it, so that parallel
runs never meet.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from siyu.config import Settings, get_settings
from siyu.kit.db import dispose_engines, get_engine, normalise_url, session_scope
from siyu.kit.migrate import upgrade
from siyu.kit.scope import ensure_workspace
from siyu.kit.timeutil import local_day, utcnow
from siyu.models import Base

# Property tests check behaviour, not speed: on a loaded CI machine neither a slow example
# (deadline) nor slow data generation (the too_slow health check) is a failure.
hypothesis_settings.register_profile("siyu", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("siyu")

TEST_SECRET = "siyu-test-secret-0123456789abcdef"
PG_URL = os.environ.get("SIYU_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    assert PG_URL
    base = make_url(normalise_url(PG_URL))
    name = f"siyu_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_demo" WITH (FORCE)'))
    admin.dispose()


_PG_ENGINES: dict[str, Any] = {}

# Sequences that have handed out a value, by the table that owns them.
_USED_SEQUENCES = """
SELECT DISTINCT d.refobjid::regclass::text FROM pg_depend d
JOIN pg_sequences s
  ON (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass = d.objid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.deptype IN ('a', 'i') AND s.last_value IS NOT NULL
"""


def _truncate_pg(url: str) -> None:
    """Empty the tables the previous test wrote to and restart their ids.

    Truncating all ~80 tables costs ~170 ms a test; finding the few that hold rows or
    used their sequence and truncating only those costs ~10 ms, with the same result.
    """
    engine = _PG_ENGINES.get(url)
    if engine is None:
        engine = _PG_ENGINES[url] = create_engine(url, poolclass=NullPool)
    names = [t.name for t in Base.metadata.sorted_tables]
    holding = " UNION ALL ".join(f"SELECT '{n}' WHERE EXISTS (SELECT 1 FROM \"{n}\")" for n in names)
    with engine.begin() as conn:
        dirty = set(conn.execute(text(holding)).scalars()) | set(
            conn.execute(text(_USED_SEQUENCES)).scalars()
        )
        if dirty:
            listed = ", ".join(f'"{n.strip(chr(34))}"' for n in sorted(dirty))
            conn.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or a truncated PG."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "siyu.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at the test database, with a test secret; cwd is a temp dir."""
    for key in list(os.environ):
        if key.startswith("SIYU_") and key != "SIYU_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SIYU_DATABASE_URL", db_url)
    monkeypatch.setenv("SIYU_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("SIYU_ENV", "test")
    # Library files (siyu.automation.library.content_store) go to the test's own folder,
    # never into the repository tree, whatever the directory a test runs siyu in.
    monkeypatch.setenv("SIYU_CONTENT_DIR", str(tmp_path / "content_files"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    dispose_engines()
    yield get_settings()
    import siyu.worker.service as worker_service

    left = worker_service._in_process
    if left is not None:  # it would go on running jobs in this process's next tests' database
        worker_service._in_process = None
        left.stop()
        pytest.fail("the test left an embedded job runner (siyu serve's) running in the test process")
    dispose_engines()
    get_settings.cache_clear()


@pytest.fixture
def session(env: Settings) -> Iterator[Session]:
    """A session for checking the database; call ``expire_all()`` after the CLI writes."""
    s = Session(get_engine(), expire_on_commit=False)
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def workspace_id(env: Settings) -> int:
    """The default workspace, created."""
    with session_scope() as s:
        return ensure_workspace(s, env.default_workspace).id


CliRun = Callable[..., Result]


@pytest.fixture
def cli(env: Settings) -> CliRun:
    """Run ``siyu ARGS...`` in-process; asserts the exit code (``expect=``, default 0)."""
    from siyu.cli.main import app

    runner = CliRunner()

    def run(*args: Any, expect: int | None = 0, input: str | None = None) -> Result:
        result = runner.invoke(app, [str(a) for a in args], input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if expect is not None and result.exit_code != expect:
            raise AssertionError(
                f"siyu {' '.join(map(str, args))} exited {result.exit_code}, expected {expect}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports for humans (CI keeps them)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def runner(env: Settings) -> Iterator[Any]:
    """A job runner in a thread of the test process, as ``siyu serve`` embeds one
    (events, jobs; no periodic tasks), polling every 50 ms; stopped after the test."""
    from siyu.kit.db import session_factory
    from siyu.kit.jobs import _after_enqueue, on_enqueue
    from siyu.worker.service import Runner

    r = Runner(session_factory(), idle=0.05, periodic=False).start()
    on_enqueue(r.wake)
    yield r
    _after_enqueue.remove(r.wake)
    r.stop()


# -- the demo brand, built once per backend in each test process ---------------------------

DEMO_AS_OF = "2026-11-23"
DEMO_ARGS: tuple[Any, ...] = ("demo", "--no-serve", "--customers", 300, "--seed", 1, "--as-of", DEMO_AS_OF)


class DemoBrand:
    """A built demo brand in this test's database: what ``siyu demo`` printed and its files.

    ``built`` holds the clock's days (workspace zone) when the build started and ended:
    the parts of the demo that follow today's date (the planned moments) follow the day it
    was built, which a later test of the same process may no longer share.
    """

    def __init__(self, stdout: str, out: Path, built: tuple[date, date]) -> None:
        self.stdout = stdout
        self.out = out
        self.built = built


_DEMO_SNAPSHOTS: dict[str, tuple[str, Path, str, tuple[date, date]]] = {}


def _pg_admin(url: str) -> Any:
    """A connection to the server's own database (the one ``SIYU_TEST_DATABASE_URL`` names)."""
    return create_engine(
        make_url(normalise_url(url)).set(database=make_url(normalise_url(PG_URL or url)).database),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )


def _pg_copy_database(url: str, source: str, target: str) -> None:
    """``target`` becomes a copy of ``source`` (both on the server of ``url``)."""
    admin = _pg_admin(url)
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :d AND pid <> pg_backend_pid()"
            ),
            {"d": source},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))
    admin.dispose()


@pytest.fixture
def demo_brand(
    cli: CliRun, db_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> DemoBrand:
    """The demo brand of ``DEMO_ARGS`` in this test's database, its files in ``tmp_path/demo-data``.

    Building it takes ~20 CPU seconds, so each test process builds it once per backend
    and later tests get a copy of the database and files (tests that use it share the
    ``demo`` xdist group, so one process builds it). A test may run ``siyu demo`` again
    on top of the copy, as a user would.
    """
    out = tmp_path / "demo-data"
    backend = make_url(db_url).get_backend_name()
    snap = _DEMO_SNAPSHOTS.get(backend)
    if snap is None:
        started = local_day(utcnow(), "Asia/Shanghai")
        stdout = cli(*DEMO_ARGS, "--out", out).stdout
        built = (started, local_day(utcnow(), "Asia/Shanghai"))
        dispose_engines()
        keep = tmp_path_factory.mktemp(f"demo-{backend}")
        shutil.copytree(out, keep / "demo-data")
        if backend == "sqlite":
            src = sqlite3.connect(make_url(db_url).database or "")
            dst = sqlite3.connect(keep / "siyu.db")
            src.backup(dst)
            dst.close()
            src.close()
            stored = str(keep / "siyu.db")
        else:
            stored = f"{make_url(db_url).database}_demo"
            _pg_copy_database(db_url, make_url(db_url).database or "", stored)
        _DEMO_SNAPSHOTS[backend] = (stdout, keep / "demo-data", stored, built)
        return DemoBrand(stdout, out, built)
    stdout, files, stored, built = snap
    dispose_engines()
    if backend == "sqlite":
        path = Path(make_url(db_url).database or "")
        for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            extra.unlink(missing_ok=True)
        src = sqlite3.connect(stored)
        dst = sqlite3.connect(path)
        src.backup(dst)
        dst.close()
        src.close()
    else:
        _pg_copy_database(db_url, stored, make_url(db_url).database or "")
    shutil.copytree(files, out)
    return DemoBrand(stdout, out, built)
