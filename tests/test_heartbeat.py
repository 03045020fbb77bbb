"""`dozor status` sees the outages the chat table cannot: the service not running, Telegram out
of reach, the archive refusing writes. Telegram out of reach is said once, not every retry."""
from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from telethon.network import ConnectionTcpFull

from bot import heartbeat
from bot.cli import main
from bot.service import Service
from tests.conftest import eventually
from tests.test_ingestion import MATCHING


@pytest.fixture(autouse=True)
def quick_heartbeat(monkeypatch, clean_environment):
    monkeypatch.setattr(heartbeat, "BEAT", 0.05)


def status(settings, capsys) -> tuple[dict, str]:
    config = settings.storage.parent / "status.env"
    config.write_text(f"DOZOR_STORAGE={settings.storage}\n", encoding="utf-8")
    assert main(["--config", str(config), "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["--config", str(config), "status"]) == 0
    return report, capsys.readouterr().out


async def test_status_says_whether_the_service_runs_and_is_connected(fake, run_service, settings, capsys):
    fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        await eventually(lambda: (heartbeat.read(settings.storage) or {}).get("telegram", {}).get("state")
                         == "connected", "a heartbeat saying Telegram is connected")
        report, shown = await asyncio.to_thread(status, settings, capsys)
        assert report["service"]["running"] and report["service"]["heartbeat"]["pid"] == os.getpid()
        assert "service: running" in shown and "telegram: connected" in shown and "REFUSING" not in shown
    report, shown = await asyncio.to_thread(status, settings, capsys)
    assert not report["service"]["running"] and "service: not running" in shown


async def test_a_stale_heartbeat_means_the_service_is_not_running(settings, capsys):
    from bot.archive import Archive
    await (await Archive.open(settings.archive_location)).close()
    killed = datetime.now(timezone.utc) - timedelta(minutes=10)  # kill -9 leaves the last one behind
    heartbeat.write(settings.storage, {"pid": 1, "at": killed.isoformat(timespec="seconds"),
                                       "telegram": {"state": "connected"}, "archive": {}})
    report, shown = await asyncio.to_thread(status, settings, capsys)
    assert not report["service"]["running"]
    assert "service: not running (last heartbeat" in shown


async def test_telegram_out_of_reach_is_shown_and_logged_once(settings, capsys, caplog):
    class Unreachable(ConnectionTcpFull):
        async def _connect(self, timeout=None, ssl=None):
            raise ConnectionRefusedError("network is down")

    caplog.set_level(logging.WARNING)
    service = Service(replace(settings, chats=("@kyiv_news",)),
                      client_options={"connection": Unreachable, "retry_delay": 0.01})
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await eventually(lambda: service.connection and service.connection.failures >= 30, "30 failed attempts")
        await eventually(lambda: (heartbeat.read(settings.storage) or {}).get("telegram", {}).get("state")
                         == "unreachable", "a heartbeat saying Telegram is unreachable")
        report, shown = await asyncio.to_thread(status, settings, capsys)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert "telegram: UNREACHABLE since" in shown and "network is down" in shown
    said = [r for r in caplog.records if "connect" in r.getMessage().lower() or "unreachable" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]  # not one line per attempt
    assert "Telegram is unreachable" in said[0].getMessage()


async def test_an_archive_refusing_writes_is_shown(fake, run_service, settings, capsys):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        archive = running.service.archive
        # the archive cannot grow any more: what a full disk does to it
        async with archive.transaction() as db:
            pages = (await db.execute("PRAGMA page_count")).scalar()
            await db.execute(f"PRAGMA max_page_count = {pages}")
        for n in range(30):
            fake.post(news, f"{MATCHING} {n} " + "довгий текст " * 200)
        await eventually(lambda: archive.write_refused is not None, "the archive to refuse a write")
        await eventually(lambda: (heartbeat.read(settings.storage) or {}).get("archive", {}).get("refusing_writes"),
                         "a heartbeat saying the archive refuses writes")
        report, shown = await asyncio.to_thread(status, settings, capsys)
        assert "archive: REFUSING WRITES (last at" in shown and "database or disk is full" in shown
        async with archive.transaction() as db:
            await db.execute("PRAGMA max_page_count = 1073741823")
