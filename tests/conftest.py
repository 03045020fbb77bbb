"""Shared set-up: an offline Telegram world, a storage directory with a signed-in session,
and the real service running against both."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Awaitable, Callable

import psycopg
import pytest
import sqlalchemy as sa

from bot.archive import Archive
from bot.archive.database import describe as describe_database
from bot.config import OUR_PREFIXES, Settings
from bot.service import Service
from bot.telegram.budget import DEFAULT_RATES
from tests.telegram_fake import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_KEYWORDS = ROOT / "keywords.example.toml"
# read before any test clears the environment: where the PostgreSQL tests run
POSTGRES = os.environ.get("DOZOR_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "both_backends: run the test on SQLite and on PostgreSQL (settings and "
                                       "archive point at the backend)")


def pytest_generate_tests(metafunc) -> None:
    # a marked test gets the parametrised `backend` fixture as if it had asked for it
    if metafunc.definition.get_closest_marker("both_backends") and "backend" not in metafunc.fixturenames:
        # appended names are not parametrised by pytest itself (it read the closure before)
        metafunc.fixturenames.append("backend")
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@functools.cache
def _postgres_refusal() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when the server answers."""
    try:
        with psycopg.connect(POSTGRES, connect_timeout=5):
            return None
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (f"PostgreSQL tests skipped: no server answers at {describe_database(POSTGRES)} ({first}); "
                "set DOZOR_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path: Path) -> Path | str:
    """Where an archive lives: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield tmp_path / "storage" / "archive.sqlite3"
        return
    refusal = _postgres_refusal()
    if refusal:
        pytest.skip(refusal)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        url = sa.make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
async def archive(backend: Path | str):
    """An archive on each backend, opened and migrated as the service opens it."""
    opened = await Archive.open(backend)
    try:
        yield opened
    finally:
        await opened.close()


async def eventually(condition: Callable[[], Awaitable[bool] | bool], what: str, limit: float = 30.0) -> None:
    """Wait until `condition` holds; fail naming `what` if it never does. Not a timing test:
    the limit only bounds how long a broken build hangs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"gave up waiting for: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def clean_environment(monkeypatch) -> None:
    """The operator's own settings in the environment must not leak into what a test reads."""
    for name in list(os.environ):
        if name.startswith(OUR_PREFIXES) or name == "LOG_LEVEL":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def settings(request, tmp_path: Path, fake: FakeTelegram) -> Settings:
    storage = tmp_path / "storage"
    storage.mkdir(exist_ok=True)
    fake.authorise_session(str(storage / "dozor.session"))
    # a test on both backends puts its archive on the backend of the run
    location = request.getfixturevalue("backend") if "backend" in request.fixturenames else None
    return Settings(api_id=fake.API_ID, api_hash=fake.API_HASH, storage=storage, keywords=EXAMPLE_KEYWORDS,
                    catchup_interval=3600, database_url=location if isinstance(location, str) else None,
                    **UNPACED)


# a budget that never holds a test back (tests of the budget set their own rates)
UNPACED = {f"rate_{method}": 600_000.0 for method in DEFAULT_RATES}


class Running:
    """The real service in a background task, stopped and awaited on exit."""

    def __init__(self, settings: Settings, fake: FakeTelegram):
        self.service = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "Running":
        self.task = asyncio.create_task(self.service.run(self.stop))
        ready = asyncio.create_task(self.service.ready.wait())
        done, _ = await asyncio.wait({self.task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            ready.cancel()
            self.task.result()  # raises what start-up raised
        if ready not in done:
            pytest.fail("service did not start")
        return self

    async def settled(self) -> None:
        """Wait until every requested catch-up has been read and committed, and every new chat
        joined (or settled as read from history only)."""
        await eventually(lambda: self.service.plan.settled, "new chats to be joined")
        # a chat just joined is read once more, and its first difference follows at once
        catchup = self.service.catchup

        def finished() -> bool:
            return catchup.idle and not catchup.busy and not catchup.due(asyncio.get_running_loop().time())

        await eventually(finished, "catch-up to finish")

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


@pytest.fixture
def run_service(settings: Settings, fake: FakeTelegram):
    def start(**changes) -> Running:
        return Running(replace(settings, **changes), fake)

    return start


@contextlib.asynccontextmanager
async def archive_of(settings: Settings):
    archive = await Archive.open(settings.archive_location)
    try:
        yield archive
    finally:
        await archive.close()
