"""Read-only commands never change the archive: an older or newer schema is named, not migrated."""
from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from bot.archive import Archive, DatabaseError
from bot.archive.database import known_revisions
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


def revision(config: str, set_to: str | None = None, legacy: bool = False) -> str | None:
    """The archive's schema revision; `set_to` writes another one, `legacy` makes it an archive
    of the first release (numbered scripts only, no revision yet)."""
    path = os.path.join(os.path.dirname(config), "storage", "archive.sqlite3")
    with sqlite3.connect(path) as db:
        if legacy:
            db.execute("DROP TABLE alembic_version")
            db.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
        if set_to is not None:
            db.execute("UPDATE alembic_version SET version_num = ?", (set_to,))
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchall():
            return None
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]


@pytest.mark.parametrize("command", READERS)
def test_a_reader_works_on_a_current_archive(config, command):
    assert main(["--config", config, *command]) == 0


@pytest.mark.parametrize("command", READERS)
def test_a_reader_names_an_older_archive_and_leaves_it_as_it_is(config, capsys, command):
    # an older archive still being written by the older service that created it
    revision(config, legacy=True)
    assert main(["--config", config, *command]) == 1
    err = capsys.readouterr().err
    assert f"older schema (legacy {len(MIGRATIONS)}, this dozor knows {known_revisions()[-1]})" in err
    assert revision(config) is None  # not migrated under the running service


@pytest.mark.parametrize("command", READERS)
def test_a_reader_names_a_newer_archive(config, capsys, command):
    revision(config, set_to="9999_of_a_later_dozor")
    assert main(["--config", config, *command]) == 1
    assert "written by a newer dozor" in capsys.readouterr().err
    assert revision(config) == "9999_of_a_later_dozor"


def test_a_reader_opens_the_archive_read_only(config, tmp_path):
    async def try_to_write():
        async with Archive.opened_read_only(tmp_path / "storage" / "archive.sqlite3") as archive:
            await archive.save_source_error("@x", "y")

    with pytest.raises(DatabaseError, match="readonly"):
        asyncio.run(try_to_write())
