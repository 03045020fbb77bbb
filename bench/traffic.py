"""Realistic, reproducible traffic for the benchmarks: what 500 Ukrainian city chats and news
channels post in a day, as plain `Post` values, as Telethon messages built in memory, or
published in the offline Telegram.

    traffic = Traffic(seed=7)
    chats = traffic.chats(500)                       # ChatSpec: title, username, channel or city chat
    posts = traffic.posts(chats[0], 100)             # list[Post], ids 1..100
    messages = traffic.messages(chats[0], 100)       # list[telethon Message], for convert
    traffic.publish(fake, channel, chats[0], 200, deliver=False)   # into FakeTelegram

Texts are Ukrainian (about 55%), Russian (35%) and English (10%): short city-chat lines and
long channel posts, with emoji, links, hashtags and the odd Latin look-alike. About
`hit_rate` of them (3% by default) carry one of the keywords file's own `must_match`
examples, and another 2% one of its `must_not_match` hard negatives, so the matcher does its
real work on both. Some posts carry media (photos, videos, voice, documents), some photos
come as albums with the caption on the first item only.

The same seed always gives the same chats, texts, media and ids. Also here: the raw-SQLite
reference every figure is compared with, and the process's CPU and memory.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from telethon.tl import types

from bot.model import Post

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = ROOT / "keywords.example.toml"
UTC = dt.timezone.utc

UK_CHAT = [
    "Світло дали о 18:00, у кого ще нема?", "Хтось знає, чи працює сьогодні ЦНАП на Оболоні?",
    "На Позняках відключили воду до вечора", "Продам дитячий візок, стан ідеальний, фото в особисті",
    "Біля метро Лісова пробка, аварія на перехресті", "Ціни на яйця знову зросли, 70 грн десяток",
    "Шукаю репетитора з англійської для дитини 10 років", "Маршрутку 407 скасували чи просто запізнюється?",
    "Тривога, всі в укриття! Над областю дрони", "Сьогодні в парку концерт, вхід вільний 🎶",
    "Хто їде завтра до Львова машиною, візьміть посилку", "Загубився паспорт на ім'я Іваненко",
    "Вибухи чути на лівому березі, ППО працює", "Дякуємо ЗСУ за ще одну спокійну ніч 🇺🇦",
    "У кого є номер сантехніка? Терміново", "Біля АТБ роздають безкоштовно каву ☕",
    "Хто бачив рудого пса біля школи? Втік з двору", "Новий паркінг біля ТРЦ, перші дві години безкоштовно",
    "+", "Дякую!", "а в нас ще немає", "Підтверджую, на Троєщині теж", "Хто знає, коли буде гаряча вода?",
    "Лікарня на Русанівці приймає без запису?", "Ліфт знову не працює, третій день", "👍",
]
RU_CHAT = [
    "Кто знает хорошего стоматолога в центре?", "Отключения света по графику, очередь 3",
    "Где купить генератор подешевле?", "Свет дали? У нас на Таирова ещё нет", "Продам велосипед, почти новый",
    "Сегодня на Привозе рыба дешевле, чем вчера", "Кто-нибудь знает, ходит ли 28 трамвай?",
    "Пробка на Пересыпском мосту, объезжайте", "Ищу няню на пару часов вечером",
    "Воду дали, но ржавая, не пейте", "Спасибо всем, кто помог найти кота 🐈", "Да, у нас тоже",
    "Тревога, все в укрытие", "Магазин на углу закрыли навсегда?", "Кто сдаёт квартиру на Черёмушках?",
    "Интернет пропал после отключения, у кого так же?", "Мусор не вывозят вторую неделю",
    "В аптеке на Фонтанской есть инсулин", "ок", "🙏", "Подскажите, где сделать ключи?",
]
EN_CHAT = [
    "Is the pharmacy on Khreshchatyk open tonight?", "Any English-speaking dentist in Lviv?",
    "Power is back in Podil, at least on our street", "Looking for a room to rent near the station",
    "Thanks everyone for the help!", "Does anyone know if the border at Shehyni is busy today?",
    "Air raid alert again, stay safe", "Selling a laptop, barely used, DM me", "same here",
]
UK_NEWS = [
    "Міська рада ухвалила бюджет на наступний рік: більше коштів на укриття та ремонт шкіл.",
    "У столиці через атаку пошкоджено енергетичну інфраструктуру, можливі стабілізаційні відключення.",
    "Рятувальники ліквідували пожежу на складі в Дарницькому районі, постраждалих немає.",
    "Укрзалізниця призначила додаткові поїзди до Перемишля на вихідні.",
    "Мер повідомив, що роботи з відновлення мосту завершать до кінця місяця.",
    "У школах області з понеділка навчання знову в очному форматі, якщо дозволяє безпекова ситуація.",
    "Поліція розшукує водія, який збив пішохода на перехресті та поїхав з місця ДТП.",
    "Синоптики попереджають про ожеледицю та пориви вітру до 20 метрів на секунду.",
    "На ринку подорожчали овочі: картопля за місяць додала майже третину ціни.",
    "Волонтери збирають на пікапи для бригади, вже зібрано 60% суми.",
    "Графіки відключень на завтра опубліковано: перевірте свою чергу на сайті обленерго.",
    "Транспорт у місті працюватиме за зміненим розкладом через ремонт колій.",
]
RU_NEWS = [
    "В городе ввели новые графики отключений, подробности на сайте облэнерго.",
    "Спасатели потушили пожар в жилом доме на Молдаванке, эвакуированы 12 человек.",
    "Горсовет выделил средства на ремонт укрытий в школах и детских садах.",
    "Полиция задержала мошенников, которые продавали несуществующие генераторы.",
    "Синоптики обещают похолодание и мокрый снег до конца недели.",
    "На выходных в порту пройдёт благотворительная ярмарка в поддержку военных.",
    "Из-за аварии на водоводе без воды остались несколько микрорайонов.",
    "Цены на топливо снова выросли: дизель подорожал на две гривны.",
]
EN_NEWS = [
    "The city council approved next year's budget, with more money for shelters and school repairs.",
    "Rescuers put out a fire at a warehouse; nobody was hurt, officials said.",
    "Ukrzaliznytsia added extra trains to Przemyśl for the weekend.",
    "Forecasters warn of ice on the roads and gusts of up to 20 metres per second.",
]
EXTRAS = [" 🔥", " ❗️", " 👇", " #новини", " #Київ", " #Одеса", " https://t.me/kyiv_news/1234",
          " Підписатися: @kyiv_news", " (фото)", " 📷", " — джерело в коментарях"]
CITIES = ["Київ", "Одеса", "Львів", "Харків", "Дніпро", "Житомир", "Полтава", "Черкаси", "Вінниця", "Рівне",
          "Суми", "Чернігів", "Ужгород", "Луцьк", "Ізмаїл", "Кременчук"]
KINDS = ["новини", "чат", "live", "інфо", "онлайн", "район", "оперативно", "24"]
LANGUAGES = (("uk", 0.55, UK_CHAT, UK_NEWS), ("ru", 0.35, RU_CHAT, RU_NEWS), ("en", 0.10, EN_CHAT, EN_NEWS))


@dataclass(frozen=True, slots=True)
class ChatSpec:
    """A chat of the generated world: a news channel or a city chat (a megagroup)."""

    number: int
    title: str
    username: str
    megagroup: bool  # a city chat: short lines from many people; otherwise a channel's long posts

    @property
    def channel_id(self) -> int:
        return 1_800_000_000 + self.number

    @property
    def marked_id(self) -> int:
        return -1_000_000_000_000 - self.channel_id


@dataclass(frozen=True, slots=True)
class Draft:
    """One message before it has an id: what the generator decided it says and carries."""

    text: str
    media: str | None = None  # photo | video | voice | document
    grouped_id: int | None = None
    views: int | None = None
    forwards: int | None = None
    reply_back: int | None = None  # reply to the message this many ids earlier
    author: int | None = None  # user id in city chats
    forwarded: bool = False
    topical: bool = False  # carries a keywords-file example meant to match


def keyword_examples(path: Path = KEYWORDS) -> tuple[list[str], list[str]]:
    """The keywords file's own must_match and must_not_match examples."""
    rules = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", [])
    hits = [x for r in rules if r.get("enabled", True) for x in r.get("must_match", [])]
    misses = [x for r in rules for x in r.get("must_not_match", [])]
    return hits, misses


class Traffic:
    def __init__(self, seed: int = 20261125, hit_rate: float = 0.03, negative_rate: float = 0.02,
                 keywords: Path = KEYWORDS):
        self.seed = seed
        self.rnd = random.Random(seed)
        self.hit_rate = hit_rate
        self.negative_rate = negative_rate
        self.hits, self.negatives = keyword_examples(keywords)
        self._album = 0

    def chats(self, count: int, city_share: float = 0.5) -> list[ChatSpec]:
        rnd = random.Random(self.seed ^ 0x5EED)
        out = []
        for number in range(count):
            city = rnd.choice(CITIES)
            megagroup = rnd.random() < city_share
            kind = "чат" if megagroup else rnd.choice(KINDS)
            out.append(ChatSpec(number, f"{city} {kind} {number}", f"bench_{'chat' if megagroup else 'news'}_{number:05d}",
                                megagroup))
        return out

    # ---- texts --------------------------------------------------------------------------

    def _language(self):
        roll = self.rnd.random()
        for language in LANGUAGES:
            roll -= language[1]
            if roll < 0:
                return language
        return LANGUAGES[0]

    def text(self, megagroup: bool) -> tuple[str, bool]:
        """A message text, and whether a matching example was put in it."""
        rnd = self.rnd
        _, _, chat_lines, news_lines = self._language()
        if megagroup:
            # city chats: mostly one short line, sometimes a few, rarely a long rant
            target = rnd.choice((0, 0, 0, 60, 120, 300)) or 1
            pool = chat_lines
        else:
            target = int(rnd.lognormvariate(6.2, 0.6))  # median ~490 characters, a tail past 2,000
            pool = news_lines
        parts = [rnd.choice(pool)]
        while sum(len(p) + 1 for p in parts) < target:
            parts.append(rnd.choice(pool))
        topical = rnd.random() < self.hit_rate
        if topical:
            parts.insert(rnd.randrange(len(parts) + 1), rnd.choice(self.hits))
        elif rnd.random() < self.negative_rate / max(1e-9, 1 - self.hit_rate):
            parts.insert(rnd.randrange(len(parts) + 1), rnd.choice(self.negatives))
        if rnd.random() < 0.25:
            parts[-1] += rnd.choice(EXTRAS)
        text = (" " if megagroup else "\n\n" if rnd.random() < 0.3 else " ").join(parts)
        if rnd.random() < 0.03:
            text = text.replace("о", "o", 1)  # a Latin look-alike, as people type
        return text, topical

    def drafts(self, chat: ChatSpec, count: int) -> list[Draft]:
        """`count` messages of one chat, oldest first (album items count one each)."""
        rnd = self.rnd
        out: list[Draft] = []
        while len(out) < count:
            text, topical = self.text(chat.megagroup)
            views = None if chat.megagroup else rnd.randint(200, 60_000)
            forwards = None if chat.megagroup else rnd.randint(0, 300)
            author = 5_000_000 + rnd.randrange(20_000) if chat.megagroup else None
            roll = rnd.random()
            if not chat.megagroup and roll < 0.04 and count - len(out) >= 2:
                self._album += 1
                size = min(rnd.randint(2, 6), count - len(out))
                grouped = (self.seed << 24) + self._album
                for i in range(size):
                    out.append(Draft(text if i == 0 else "", "photo" if rnd.random() < 0.8 else "video",
                                     grouped, views, forwards, author=author, topical=topical and i == 0))
                continue
            media = (None if roll < 0.78 else "photo" if roll < 0.90 else "video" if roll < 0.95
                     else "voice" if chat.megagroup and roll < 0.98 else "document")
            if media and chat.megagroup and rnd.random() < 0.5:
                text = ""  # a picture with no words, as city chats are full of
                topical = False
            reply = rnd.randint(1, 20) if chat.megagroup and rnd.random() < 0.3 and out else None
            out.append(Draft(text, media, None, views, forwards, reply, author,
                             forwarded=rnd.random() < 0.05, topical=topical))
        return out

    # ---- as plain Posts -----------------------------------------------------------------

    def posts(self, chat: ChatSpec, count: int, first_id: int = 1,
              start: dt.datetime | None = None) -> list[Post]:
        return [to_plain_post(m) for m in self.messages(chat, count, first_id, start)]

    # ---- as Telethon messages built in memory -------------------------------------------

    def messages(self, chat: ChatSpec, count: int, first_id: int = 1,
                 start: dt.datetime | None = None) -> list[types.Message]:
        start = start or dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=1)
        peer = types.PeerChannel(chat.channel_id)
        out = []
        for offset, draft in enumerate(self.drafts(chat, count)):
            msg_id = first_id + offset
            reply = (types.MessageReplyHeader(reply_to_msg_id=msg_id - draft.reply_back)
                     if draft.reply_back and msg_id - draft.reply_back > 0 else None)
            forward = (types.MessageFwdHeader(date=start, from_id=types.PeerChannel(1_700_000_000 + msg_id % 50),
                                              channel_post=msg_id) if draft.forwarded else None)
            out.append(types.Message(
                id=msg_id, peer_id=peer, date=start + dt.timedelta(seconds=offset * 7), message=draft.text,
                from_id=types.PeerUser(draft.author) if draft.author else None, post=not chat.megagroup,
                views=draft.views, forwards=draft.forwards, grouped_id=draft.grouped_id, reply_to=reply,
                fwd_from=forward, media=self._media(draft.media, msg_id + chat.channel_id * 100_000, start)))
        return out

    def _media(self, kind: str | None, file_id: int, date: dt.datetime):
        if kind is None:
            return None
        if kind == "photo":
            sizes = [types.PhotoSize("m", 320, 240, 14_000), types.PhotoSize("y", 1280, 960, 180_000)]
            return types.MessageMediaPhoto(photo=types.Photo(
                id=file_id, access_hash=file_id * 7, file_reference=b"\x01" * 12, date=date, sizes=sizes, dc_id=2))
        attributes = {
            "video": [types.DocumentAttributeVideo(duration=42, w=720, h=1280, supports_streaming=True),
                      types.DocumentAttributeFilename("video.mp4")],
            "voice": [types.DocumentAttributeAudio(duration=17, voice=True)],
            "document": [types.DocumentAttributeFilename("постанова.pdf")],
        }[kind]
        mime = {"video": "video/mp4", "voice": "audio/ogg", "document": "application/pdf"}[kind]
        return types.MessageMediaDocument(document=types.Document(
            id=file_id, access_hash=file_id * 7, file_reference=b"\x01" * 12, date=date, mime_type=mime,
            size=self.rnd.randint(20_000, 20_000_000), dc_id=2, attributes=attributes))

    # ---- into the offline Telegram -------------------------------------------------------

    def publish(self, fake, channel, chat: ChatSpec, count: int, deliver: bool = True) -> list[types.Message]:
        """Post `count` generated messages in a FakeTelegram channel (deliver=False: a gap)."""
        return [self.publish_draft(fake, channel, draft, deliver) for draft in self.drafts(chat, count)]

    def publish_draft(self, fake, channel, draft: Draft, deliver: bool = True) -> types.Message:
        media = None
        if draft.media == "photo":
            media = fake.photo(b"\xff\xd8 bench photo")
        elif draft.media is not None:
            media = fake.document(b"bench " + draft.media.encode(), video=draft.media == "video",
                                  voice=draft.media == "voice", duration=17 if draft.media != "document" else None)
        return fake.post(channel, draft.text, media=media, grouped_id=draft.grouped_id, views=draft.views,
                         forwards=draft.forwards, deliver=deliver)


def to_plain_post(message: types.Message) -> Post:
    from bot.telegram.convert import to_post
    return to_post(message)


# ---- the physical reference: raw executemany into the same schema ----------------------------

def build_schema(url: str) -> None:
    """The archive's real schema, through its own migrations, at a SQLAlchemy URL (sync)."""
    import sqlalchemy as sa
    from alembic import command

    from bot.archive.database import _config

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")
    engine.dispose()


def _message_rows(posts: list[Post]) -> list[tuple]:
    now = dt.datetime.now(UTC).isoformat(timespec="seconds")
    return [(n, p.chat_id, p.message_id, p.date.isoformat(timespec="seconds"), p.text, p.author_id, p.author_name,
             p.views, p.forwards, p.reply_to, p.forward_from, p.grouped_id, p.media.kind if p.media else None,
             None, 0, None, now) for n, p in enumerate(posts, start=1)]


def _term_rows(posts: list[Post]) -> list[list[tuple]]:
    """Each message's rows of the search index, as the archive writes them (found before timing)."""
    from bot.archive.terms import terms_of

    return [[(term, n) for term in sorted(terms_of(p.text))] for n, p in enumerate(posts, start=1)]


MESSAGE_COLUMNS = ("id, chat_id, message_id, date, text, author_id, author_name, views, forwards, reply_to, "
                   "forward_from, grouped_id, media_kind, language, matched, edit_date, archived_at")


def raw_insert_rate(path: Path, posts: list[Post], batch: int = 500) -> float:
    """Rows per second for plain `executemany` of these posts' message rows (and their search
    terms, as the FTS triggers once indexed them) into a fresh
    archive with the real schema (built by its migrations), WAL, synchronous=NORMAL, one
    transaction per `batch` rows: what the disk and SQLite can do, without dozor."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    build_schema(f"sqlite:///{Path(path).resolve()}")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    chats = sorted({p.chat_id for p in posts})
    db.executemany("INSERT INTO chats (id, title, kind, added_at) VALUES (?, 'c', 'channel', '')",
                   [(c,) for c in chats])
    rows, terms = _message_rows(posts), _term_rows(posts)
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 17)})", rows[i:i + batch])
        db.executemany("INSERT INTO message_terms (term, message) VALUES (?, ?)",
                       [t for message in terms[i:i + batch] for t in message])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return len(rows) / elapsed


def raw_postgres_rates(url: str, posts: list[Post], batch: int = 500) -> dict[str, float]:
    """Rows per second for these posts' message rows (and their search terms) written straight into the archive's
    schema on PostgreSQL (in a scratch schema of the database at `url`, dropped after), one
    transaction per `batch` rows: `COPY … FROM STDIN` and psycopg's `executemany`."""
    import psycopg
    import sqlalchemy as sa

    schema = f"bench_raw_{os.getpid()}"
    rates = {}
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        scoped = sa.make_url(url).set(drivername="postgresql+psycopg").update_query_dict(
            {"options": f"-csearch_path={schema}"})
        build_schema(scoped.render_as_string(hide_password=False))
        rows, terms = _message_rows(posts), _term_rows(posts)
        with psycopg.connect(url, options=f"-csearch_path={schema}") as db:
            db.execute("INSERT INTO chats (id, title, kind, added_at) SELECT unnest(%s::bigint[]), 'c', 'channel', "
                       "now()", (sorted({p.chat_id for p in posts}),))
            db.commit()
            for how in ("copy", "executemany"):
                db.execute("TRUNCATE messages CASCADE")
                db.commit()
                started = time.perf_counter()
                for i in range(0, len(rows), batch):
                    with db.cursor() as cursor:
                        if how == "copy":
                            with cursor.copy(f"COPY messages ({MESSAGE_COLUMNS}) FROM STDIN") as copy:
                                for row in rows[i:i + batch]:
                                    copy.write_row(row)
                            with cursor.copy("COPY message_terms (term, message) FROM STDIN") as copy:
                                for message in terms[i:i + batch]:
                                    for row in message:
                                        copy.write_row(row)
                        else:
                            cursor.executemany(f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES "
                                               f"({', '.join(['%s'] * 17)})", rows[i:i + batch])
                            cursor.executemany("INSERT INTO message_terms (term, message) VALUES (%s, %s)",
                                               [t for message in terms[i:i + batch] for t in message])
                    db.commit()
                rates[how] = len(rows) / (time.perf_counter() - started)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
    return rates


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds() -> float:
    """User + system time of this process, every thread included (the archive's too)."""
    times = os.times()
    return times.user + times.system


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
