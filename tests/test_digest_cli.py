"""`dozor digest --preview`: the period in progress by default, the last ended one on request."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from bot.archive import Archive
from bot.cli import main
from bot.digest.schedule import latest_period
from bot.model import Post
from tests.test_digest_compose import NEWS, matched

UTC = timezone.utc


def env_for(settings) -> dict[str, str]:
    env = {"TG_API_ID": str(settings.api_id), "TG_API_HASH": settings.api_hash,
           "DOZOR_STORAGE": str(settings.storage), "DOZOR_KEYWORDS": str(settings.keywords),
           "DIGEST_TIME": "09:00", "DIGEST_TZ": "Europe/Kyiv"}
    if settings.database_url:
        env["DOZOR_DATABASE_URL"] = settings.database_url
    return env


async def seed(settings) -> None:
    now = datetime.now(UTC)
    ended = latest_period(now, "daily", settings.digest_time, settings.digest_tz)
    archive = await Archive.open(settings.archive_location)
    try:
        await archive.save_chat(NEWS)
        earlier = "Учора: бусифікація біля вокзалу"
        today = "Щойно: бусифікація на Оболоні"
        await archive.ingest(NEWS, [
            (Post(NEWS.id, 1, ended.end - timedelta(hours=2), earlier), matched(earlier, busification="бусифікація")),
            (Post(NEWS.id, 2, max(now - timedelta(seconds=1), ended.end), today),
             matched(today, busification="бусифікація")),
        ])
    finally:
        await archive.close()


@pytest.mark.both_backends
async def test_preview_shows_the_period_so_far_and_the_last_one_on_request(settings, monkeypatch, capsys):
    await seed(settings)
    for variable, value in env_for(settings).items():
        monkeypatch.setenv(variable, value)

    assert await _run(["digest", "--preview"]) == 0
    so_far = capsys.readouterr().out
    assert "so far (the digest of" in so_far
    assert "Щойно: бусифікація на Оболоні" in so_far and "Учора" not in so_far

    assert await _run(["digest", "--preview", "--last"]) == 0
    last = capsys.readouterr().out
    assert "daily:" in last and "Учора: бусифікація біля вокзалу" in last and "Щойно" not in last

    assert await _run(["digest", "--send", "--last"]) == 2
    assert "--last, --date, --html and --raw go with --preview" in capsys.readouterr().err


async def _run(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)  # the command runs its own event loop
