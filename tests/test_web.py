"""The web viewer over HTTP, on a real archive file: login, sessions, pages, files, refusals."""
from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import unquote

import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.web.accounts import Accounts
from bot.web.app import create_app
from tests.archive_samples import JPEG, KYIV, LVIV, OGG, PDF, T0, fill
from tests.conftest import EXAMPLE_KEYWORDS

PASSWORD = "correct horse battery"


@pytest.fixture
async def settings(tmp_path):
    storage = tmp_path / "storage"
    await fill(storage)
    Accounts(storage).add("olena", PASSWORD)
    return Settings(storage=storage, keywords=EXAMPLE_KEYWORDS)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), base_url="http://127.0.0.1", follow_redirects=False) as client:
        yield client


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(client, name="olena", password=PASSWORD, next_page="/"):
    form = client.get("/login")
    return client.post("/login", data={"csrf": csrf(form.text), "name": name, "password": password,
                                       "next": next_page})


@pytest.mark.parametrize("path", ["/", "/feed", "/search?q=ТЦК", f"/message/{KYIV.id}/1",
                                  "/media/" + "0" * 64])
def test_no_page_without_login(client, path):
    response = client.get(path)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    assert "ТЦК" not in response.text


def test_login_then_pages_and_the_way_back(client):
    response = sign_in(client, next_page="/search?q=СЗЧ")
    assert response.status_code == 303 and unquote(response.headers["location"]) == "/search?q=СЗЧ"
    chats = client.get("/")
    assert chats.status_code == 200 and "Київ новини" in chats.text
    assert "Львів &lt;чат&gt;" in chats.text and "<чат>" not in chats.text  # escaped
    assert chats.headers["content-security-policy"].startswith("default-src 'none'")
    assert chats.headers["cache-control"] == "no-store"


def test_a_wrong_password_or_unknown_name_is_refused_alike(client):
    assert sign_in(client, password="wrong password!").status_code == 401
    assert sign_in(client, name="nobody").status_code == 401
    assert client.get("/").status_code == 303


def test_a_login_posted_from_another_site_is_refused(client):
    response = client.post("/login", data={"csrf": "forged", "name": "olena", "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/").status_code == 303


def test_next_never_leads_to_another_site(client):
    assert sign_in(client, next_page="//evil.example/").headers["location"] == "/"


def test_search_shows_matches_and_the_deletion(client):
    sign_in(client)
    page = client.get("/search", params={"q": "СЗЧ"}).text
    assert "<mark>СЗЧ</mark>" in page and "deleted" in page and f"/message/{KYIV.id}/2" in page


def test_the_topic_feed_of_a_day(client):
    sign_in(client)
    page = client.get("/feed", params={"topic": "enlistment_centre", "day": T0.astimezone(
        Settings().digest_tz).date().isoformat()}).text
    assert "Повістка з ТЦК" in page and "Пакують" not in page and "4 messages" in page


def test_a_deleted_message_with_its_versions_and_why_it_matched(client):
    sign_in(client)
    page = client.get(f"/message/{KYIV.id}/2").text
    assert "Deleted on Telegram" in page and "Мій брат пішов у" in page
    assert '<mark title="СЗЧ і дезертирство: rule szch-rule, term СЗЧ">СЗЧ</mark>' in page
    edited = client.get(f"/message/{KYIV.id}/1").text
    assert "Version 1" in edited and "Version 2 (current)" in edited and "https://t.me/kyiv_news/1" in edited


def test_script_in_a_message_stays_text(client):
    sign_in(client)
    page = client.get(f"/message/{KYIV.id}/3").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page


def test_files_are_served_with_their_type_only_when_archived(client):
    sign_in(client)
    page = client.get(f"/message/{KYIV.id}/3").text
    photo = re.search(r'<img src="(/media/[0-9a-f]{64})"', page).group(1)
    response = client.get(photo)
    assert response.content == JPEG and response.headers["content-type"] == "image/jpeg"
    summons = re.search(r'href="(/media/[0-9a-f]{64})" download', client.get(f"/message/{LVIV.id}/10").text).group(1)
    response = client.get(summons)
    assert response.content == PDF and response.headers["content-type"] == "application/octet-stream"
    assert 'attachment; filename="povistka.pdf"' in response.headers["content-disposition"]
    voice = client.get(f"/message/{LVIV.id}/11").text
    played = re.search(r'<audio controls preload="metadata" src="(/media/[0-9a-f]{64})">', voice).group(1)
    response = client.get(played)
    assert response.headers["content-type"] == "audio/ogg" and response.content == OGG
    assert response.headers["content-disposition"].startswith("inline")
    assert "video: pending" in client.get(f"/message/{LVIV.id}/12").text
    assert client.get("/media/" + "ab" * 32).status_code == 404
    assert client.get("/media/..%2F..%2Farchive.sqlite3").status_code == 404


def test_a_message_not_in_the_archive_is_a_404(client):
    sign_in(client)
    assert client.get(f"/message/{KYIV.id}/999").status_code == 404


def test_logout_ends_the_session(client):
    sign_in(client)
    page = client.get("/").text
    assert client.post("/logout", data={"csrf": csrf(page)}).status_code == 303
    assert client.get("/").status_code == 303


def test_a_session_ends_when_the_password_changes_or_expires(settings):
    with TestClient(create_app(settings), base_url="http://127.0.0.1", follow_redirects=False) as client:
        sign_in(client)
        assert client.get("/").status_code == 200
        Accounts(settings.storage).add("olena", "another long password")
        assert client.get("/").status_code == 303
    short = replace(settings, web_session_hours=-1 / 3600)
    with TestClient(create_app(short), base_url="http://127.0.0.1", follow_redirects=False) as client:
        sign_in(client, password="another long password")
        assert client.get("/").status_code == 303


def test_the_viewer_never_creates_an_archive(tmp_path):
    settings = Settings(storage=tmp_path / "empty", keywords=EXAMPLE_KEYWORDS)
    with pytest.raises(Exception, match="no archive"):
        with TestClient(create_app(settings)):
            pass
    assert not (tmp_path / "empty" / "archive.sqlite3").exists()


def test_add_user_reads_the_password_from_stdin_and_keeps_it_hashed(tmp_path, monkeypatch, capsys):
    import io
    import stat

    from bot.cli import main
    storage = tmp_path / "storage"
    monkeypatch.setenv("DOZOR_STORAGE", str(storage))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["web", "add-user", "olena"]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["web", "add-user", "olena"]) == 0
    users = storage / "web-users.sqlite3"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert PASSWORD.encode() not in users.read_bytes()
    assert main(["web", "users"]) == 0 and capsys.readouterr().out.endswith("olena\n")
    assert main(["web", "remove-user", "olena"]) == 0
    assert main(["web", "remove-user", "olena"]) == 2


def test_web_refuses_to_serve_without_users_or_archive(tmp_path, monkeypatch, capsys, settings):
    from bot.cli import main
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOZOR_STORAGE", str(tmp_path / "nothing"))
    assert main(["web"]) == 1 and "no archive" in capsys.readouterr().err
    Accounts(settings.storage).remove("olena")
    monkeypatch.setenv("DOZOR_STORAGE", str(settings.storage))
    assert main(["web"]) == 2 and "dozor web add-user NAME" in capsys.readouterr().err


@pytest.mark.parametrize("variable, value, expected", [
    ("WEB_PORT", "80000", "at most 65535"), ("WEB_PORT", "http", "whole number"),
    ("WEB_SESSION_HOURS", "0", "above 0"), ("WEB_HTTPS", "maybe", "yes/no"), ("WEB_HOST", " ", None)])
def test_a_bad_web_setting_is_named(monkeypatch, variable, value, expected):
    from bot.config import ConfigError, load_settings
    monkeypatch.setenv(variable, value)
    if expected is None:  # empty: the default
        assert load_settings().web_host == "127.0.0.1"
        return
    with pytest.raises(ConfigError, match=rf"{variable}: .*{expected}"):
        load_settings()
