"""No page without a signed-in user; the login form; headers that keep pages to themselves.

    Middleware(guard.middleware)       # after SessionMiddleware: every path but /login and /static
    Route("/login", login(accounts, templates), methods=["GET", "POST"])

A session is the signed cookie of Starlette's SessionMiddleware holding the user and when they
signed in. It ends after WEB_SESSION_HOURS, when the user's password changes, when the user is
removed, or on logout. The login and logout forms carry a token kept in the session (and the
cookie is SameSite=Strict), so another site cannot post them for the user.
"""
from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.archive import utcnow

OPEN_PATHS = ("/login", "/favicon.ico")
FAILED_LOGIN_PAUSE = 1.0  # seconds: slows guessing without blocking anyone else
HEADERS = {
    # pages need no script at all; media and styles come from here only
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "no-referrer",  # a link to t.me must not tell Telegram what the editor was reading
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",  # nothing about people at risk stays in a shared browser's cache
}


class Guard:
    def __init__(self, accounts, session_hours: float):
        self.accounts = accounts
        self.lifetime = timedelta(hours=session_hours)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableHeaders(scope=message)
                    for name, value in HEADERS.items():
                        headers[name] = value
                await send(message)

            path = scope["path"]
            if path in OPEN_PATHS or path.startswith("/static/") or await self.signed_in(scope["session"]):
                await app(scope, receive, with_headers)
                return
            if "user" in scope["session"]:
                # expired or revoked; a visitor's form token stays, or a background request
                # (the favicon) would invalidate the login form open in the tab
                scope["session"].clear()
            target = path + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else "")
            await RedirectResponse(f"/login?next={quote(target)}", status_code=303)(scope, receive, with_headers)

        return guarded

    async def signed_in(self, session: dict) -> bool:
        user, since = session.get("user"), session.get("since")
        if not user or not since:
            return False
        try:
            began = datetime.fromisoformat(since)
        except (TypeError, ValueError):
            return False
        if utcnow() - began > self.lifetime:
            return False
        return await self.accounts.still_valid(user, began)


def csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


def _form_is_ours(request: Request, form) -> bool:
    expected = request.session.get("csrf")
    given = form.get("csrf")
    return bool(expected) and isinstance(given, str) and secrets.compare_digest(expected, given)


def _safe_next(target: str | None) -> str:
    # only a path on this site: never //elsewhere or /\elsewhere, which browsers take as another host
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def login(accounts, templates):
    async def handle(request: Request) -> Response:
        next_page = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return templates.TemplateResponse(request, "login.html", {"user": None, "next": next_page, "error": None})
        form = await request.form()
        next_page = _safe_next(str(form.get("next", "")))  # the form carries it through failed attempts
        if not _form_is_ours(request, form):
            return templates.TemplateResponse(request, "login.html", {
                "user": None, "next": next_page, "error": "The form had expired. Please sign in again."},
                status_code=403)
        name = str(form.get("name", "")).strip()
        since = await accounts.check(name, str(form.get("password", "")))
        if since is None:
            await asyncio.sleep(FAILED_LOGIN_PAUSE)
            return templates.TemplateResponse(request, "login.html", {
                "user": None, "next": next_page, "error": "Wrong name or password."}, status_code=401)
        request.session.clear()
        # to the microsecond, so a password changed right after a sign-in still ends that session
        request.session.update(user=name, since=utcnow().isoformat(), csrf=secrets.token_urlsafe(32))
        return RedirectResponse(next_page, status_code=303)

    return handle


async def logout(request: Request) -> Response:
    form = await request.form()
    if _form_is_ours(request, form):
        request.session.clear()
    return RedirectResponse("/login", status_code=303)
