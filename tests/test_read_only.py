"""Read-only commands never change the archive: an older or newer schema is named, not migrated."""
from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from bot.archive import Archive
from bot.archive.schema import MIGRATIONS
from bot.cli import main
from tests.conftest import EXAMPLE_KEYWORDS

READERS = [["status"], ["search", "ТЦК"], ["media"], ["digest", "--preview"]]


@pytest.fixture
def config(tmp_path, clean_environment):
    storage = tmp_path / "storage"

    async def create():
        await (await Archive.open(storage / "archive.sqlite3")).close()

    asyncio.run(create())
    path = tmp_path / "config.env"
    path.write_text(f"DOZOR_STORAGE={storage}\nDOZOR_KEYWORDS={EXAMPLE_KEYWORDS}\n", encoding="utf-8")
    return str(path)


def schema_version(config: str, set_to: int | None = None) -> int:
    path = os.path.join(os.path.dirname(config), "storage", "archive.sqlite3")
    with sqlite3.connect(path) as db:
        if set_to is not None:
            db.execute(f"PRAGMA user_version={set_to}")
        return db.execute("PRAGMA user_version").fetchone()[0]


@pytest.mark.parametrize("command", READERS)
def test_a_reader_works_on_a_current_archive(config, command):
    assert main(["--config", config, *command]) == 0


@pytest.mark.parametrize("command", READERS)
def test_a_reader_names_an_older_archive_and_leaves_it_as_it_is(config, capsys, command):
    # an older archive still being written by the older service that created it
    schema_version(config, set_to=len(MIGRATIONS) - 1)
    assert main(["--config", config, *command]) == 1
    err = capsys.readouterr().err
    assert f"older schema ({len(MIGRATIONS) - 1}, this dozor knows {len(MIGRATIONS)})" in err
    assert schema_version(config) == len(MIGRATIONS) - 1  # not migrated under the running service


@pytest.mark.parametrize("command", READERS)
def test_a_reader_names_a_newer_archive(config, capsys, command):
    schema_version(config, set_to=len(MIGRATIONS) + 1)
    assert main(["--config", config, *command]) == 1
    assert "written by a newer dozor" in capsys.readouterr().err
    assert schema_version(config) == len(MIGRATIONS) + 1


def test_a_reader_opens_the_archive_read_only(config, tmp_path):
    async def try_to_write():
        async with Archive.opened_read_only(tmp_path / "storage" / "archive.sqlite3") as archive:
            await archive.save_source_error("@x", "y")

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        asyncio.run(try_to_write())
