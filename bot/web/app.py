"""The web viewer: Starlette pages rendered on the server from the archive, read-only.

    app = create_app(settings)                      # an ASGI app; `dozor web` serves it with uvicorn
    uvicorn.run(app, host="127.0.0.1", port=8080)

Every page but the login form needs a signed-in user (see `guard.py`). The archive is opened
once for the app's lifetime and only read; files are served only when the archive vouches
for them, with their recorded type. Times are shown in DIGEST_TZ, with UTC on a message's page.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.archive import Archive
from bot.archive.browse import coverage, topic_counts
from bot.archive.records import record, referenced_file
from bot.archive.search import search
from bot.config import Settings
from bot.matching import RulesError, load_rules
from bot.web.accounts import Accounts
from bot.web.guard import Guard, csrf_token, login, logout
from bot.web.highlight import pieces

log = logging.getLogger("dozor.web")

HERE = Path(__file__).parent
SHA256 = re.compile(r"[0-9a-f]{64}")
# shown in the page, played or downloaded: nothing a browser could run as the viewer's own page
INLINE = {"photo": "image/jpeg", "video": "video/mp4", "round": "video/mp4", "gif": "video/mp4",
          "voice": "audio/ogg", "audio": "audio/mpeg", "sticker": "image/webp"}
SAFE_INLINE_TYPES = re.compile(r"(image/(jpeg|png|gif|webp)|video/[\w.+-]+|audio/[\w.+-]+)")
SEARCH_LIMIT = 200


def create_app(settings: Settings, accounts: Accounts | None = None) -> Starlette:
    accounts = accounts or Accounts(settings.storage)
    zone = settings.digest_tz
    try:
        topic_names = load_rules(settings.keywords).topics
    except RulesError as error:
        # the viewer shows the archive even while the keywords file is broken
        log.warning("keywords file: %s; topics are shown by their ids", error)
        topic_names = {}

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["local"] = lambda moment: moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""
    env.filters["utc"] = lambda moment: moment.isoformat(timespec="seconds") if moment else ""
    env.globals.update(topic_name=lambda t: topic_names.get(t, t), zone=str(zone), csrf_token=csrf_token,
                       pieces=pieces)
    templates = Jinja2Templates(env=env)

    def page(request: Request, name: str, status: int = 200, **context) -> Response:
        return templates.TemplateResponse(request, name, {"user": request.session.get("user"), **context},
                                          status_code=status)

    def archive(request: Request) -> Archive:
        return request.app.state.archive

    async def chats(request: Request) -> Response:
        return page(request, "chats.html", chats=await coverage(archive(request)),
                    topics=await topic_counts(archive(request)))

    async def feed(request: Request) -> Response:
        topics = await topic_counts(archive(request))
        topic = request.query_params.get("topic") or (topics[0][0] if topics else "")
        day = _day(request.query_params.get("day")) or datetime.now(zone).date()
        start = datetime.combine(day, time(0), zone)
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
        hits = await search(archive(request), "", topic=topic, since=start, until=end, limit=1000) if topic else []
        return page(request, "feed.html", topics=topics, topic=topic, day=day, hits=hits,
                    previous=day - timedelta(days=1), next=day + timedelta(days=1))

    async def find(request: Request) -> Response:
        query = request.query_params
        words = query.get("q", "").strip()
        topic = query.get("topic") or None
        chat_id = _int(query.get("chat"))
        since, until = _day(query.get("since")), _day(query.get("until"))
        hits = []
        if words or topic or chat_id or since or until:
            hits = await search(archive(request), words, topic=topic, chat_id=chat_id,
                                since=datetime.combine(since, time(0), zone) if since else None,
                                until=datetime.combine(until + timedelta(days=1), time(0), zone) if until else None,
                                limit=SEARCH_LIMIT)
        return page(request, "search.html", q=words, topic=topic or "", chat=chat_id, since=since, until=until,
                    hits=hits, limit=SEARCH_LIMIT, topics=await topic_counts(archive(request)),
                    chats=await archive(request).chats(), searched=bool(words or topic or chat_id or since or until))

    async def message(request: Request) -> Response:
        chat_id = _int(request.path_params["chat_id"])  # marked ids are negative: no :int converter
        found = await record(archive(request), chat_id, request.path_params["message_id"]) if chat_id else None
        if found is None:
            raise HTTPException(404, "This message is not in the archive.")
        return page(request, "message.html", m=found)

    async def media(request: Request) -> Response:
        sha256 = request.path_params["sha256"]
        found = await referenced_file(archive(request), sha256) if SHA256.fullmatch(sha256) else None
        if found is None:
            raise HTTPException(404, "No such file in the archive.")
        path = await asyncio.to_thread(_stored_file, settings.storage, settings.media_dir, found.path)
        if path is None:
            raise HTTPException(404, "The file is recorded but missing from the media store.")
        kind = found.mime_type or INLINE.get(found.kind) or "application/octet-stream"
        inline = found.kind in INLINE and SAFE_INLINE_TYPES.fullmatch(kind) is not None
        name = found.file_name or f"{sha256}{path.suffix}"
        return FileResponse(path, media_type=kind if inline else "application/octet-stream", filename=name,
                            content_disposition_type="inline" if inline else "attachment")

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return page(request, "error.html", status=exc.status_code, message=exc.detail)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        # the viewer never writes the archive: opened read-only, never created or migrated
        async with Archive.opened_read_only(settings.archive_location) as opened:
            app.state.archive = opened
            yield

    guard = Guard(accounts, settings.web_session_hours)
    routes = [
        Route("/", chats, name="chats"),
        Route("/feed", feed, name="feed"),
        Route("/search", find, name="search"),
        Route("/message/{chat_id}/{message_id:int}", message, name="message"),
        Route("/media/{sha256}", media, name="media"),
        Route("/login", login(accounts, templates), methods=["GET", "POST"], name="login"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SessionMiddleware, secret_key=accounts.session_key(), session_cookie="dozor_session",
                   max_age=int(settings.web_session_hours * 3600), same_site="strict",
                   https_only=settings.web_https),
        Middleware(guard.middleware),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={HTTPException: not_found})


def _stored_file(storage: Path, media_dir: Path, relative: str) -> Path | None:
    """The file under the media folder, or None: a recorded path never leads outside it."""
    path = (storage / relative).resolve()
    return path if path.is_relative_to(media_dir.resolve()) and path.is_file() else None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
