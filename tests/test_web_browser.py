"""The web viewer in a real headless browser (Debian's chromium, driven by playwright):
an editor signs in, searches, and opens a deleted message with its photo and versions.

Skipped, with the reason shown, only where no chromium is installed; `.ci/run` installs it.
"""
from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from pathlib import Path

import pytest
import uvicorn

from bot.config import Settings
from bot.web.accounts import Accounts
from bot.web.app import create_app
from tests.archive_samples import KYIV, fill
from tests.conftest import EXAMPLE_KEYWORDS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make test installs it)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="no chromium: apt-get install -y chromium (as .ci/run does)")
# the machine may have no network: nothing in the background may try to reach it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
PASSWORD = "correct horse battery"


@pytest.fixture
def served(tmp_path):
    storage = tmp_path / "storage"
    asyncio.run(fill(storage))
    Accounts(storage).add("olena", PASSWORD)
    settings = Settings(storage=storage, keywords=EXAMPLE_KEYWORDS)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.05)
        assert server.started, "the viewer did not start"
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


@pytest.fixture
def page(served):
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.set_default_timeout(20_000)
            tab.base = served
            yield tab
        finally:
            browser.close()


def sign_in(page, password=PASSWORD):
    page.fill("input[name=name]", "olena")
    page.fill("input[name=password]", password)
    follow(page, "button[type=submit]")


def follow(page, target):
    """Click and wait until the page it leads to has loaded (a busy machine must not race it)."""
    with page.expect_navigation(wait_until="load"):
        (page.locator(target) if isinstance(target, str) else target).click()


def test_sign_in_search_and_open_a_deleted_message(page):
    page.goto(page.base + "/search?q=СЗЧ")
    assert "/login" in page.url  # no page without signing in
    sign_in(page, "not the password")
    assert page.get_by_role("alert").inner_text() == "Wrong name or password."
    sign_in(page)
    assert "/search" in page.url  # back where the editor wanted to go
    hits = page.locator("ol.hits li")
    assert hits.count() == 1 and hits.first.locator("mark").inner_text() == "СЗЧ"
    assert hits.first.locator(".mark").inner_text() == "deleted"

    follow(page, hits.first.locator("a").first)
    assert page.url.endswith(f"/message/{KYIV.id}/2")
    assert "Deleted on Telegram" in page.get_by_role("status").inner_text()
    assert page.locator("p.text mark").first.inner_text() == "СЗЧ"
    assert page.locator("a[href='https://t.me/kyiv_news/2']").count() == 1


def test_a_photo_is_shown_and_versions_are_listed(page):
    page.goto(page.base + "/search")
    sign_in(page)
    page.fill("input[name=q]", "ТРЦ")
    follow(page, "form[role=search] button")
    follow(page, page.locator("ol.hits li a").first)
    image = page.locator(".media img")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1  # the browser decoded the JPEG
    assert page.locator("p.text").first.inner_text().endswith("<script>alert(1)</script>")  # shown, not run

    page.goto(page.base + f"/message/{KYIV.id}/1")
    versions = page.locator("ol.versions li")
    assert versions.count() == 2 and "вже поїхали" in versions.nth(1).inner_text()


def test_sign_out(page):
    page.goto(page.base + "/")
    sign_in(page)
    assert page.locator("table.chats").is_visible()
    follow(page, "form.logout button")
    page.goto(page.base + "/")
    assert "/login" in page.url
