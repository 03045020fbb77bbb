"""Fetch an archived message again and stream its file: the only Telethon code of the media stage.

    source = TelegramMedia(client)
    fetched = await source.fetch(chat_id, message_id, album=True)   # the message and its album
    fetched.media                                                  # MediaRef: what it carries now
    size = await source.download(fetched, incoming.write)          # chunk by chunk, never whole

A message is fetched fresh before downloading because the file reference stored with a
message expires (hours to days). When it expires in the middle of a download, the
message is fetched again and the download continues from the bytes already written.
Flood waits are waited out by the client's request budget, which holds only downloads;
a dropped connection is re-established by Telethon and the request sent again.

Nothing Telethon-shaped leaves this module: album siblings are plain `Post`s, and
Telegram's refusals become the exceptions below, each saying what an operator can read.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from telethon import errors
from telethon.tl import types

from bot.model import MediaRef, Post
from bot.telegram.convert import media_ref, to_post
from bot.telegram.errors import rpc_error_name

log = logging.getLogger("dozor.media")

CHUNK = 512 * 1024  # Telegram's largest part: fewest round trips
ALBUM_REACH = 10  # an album has at most 10 items, so its siblings are within ±10 ids
REFRESHES = 3  # file-reference refreshes within one attempt before it counts as failed


class DownloadError(Exception):
    """Telegram did not hand over the file; str() is the reason recorded for the operator."""


class MessageGone(DownloadError):
    """The message (or its file) is no longer on Telegram: retrying will not bring it back."""


class ReferenceExpired(DownloadError):
    """The file reference kept expiring however often the message was fetched again."""


class FloodWait(DownloadError):
    """Telegram asked us to wait longer than the client sleeps through by itself."""

    def __init__(self, seconds: int):
        super().__init__(f"flood wait of {seconds} s")
        self.seconds = seconds


class TelegramRefused(DownloadError):
    """Any other refusal, named the way Telegram names it (FILE_ID_INVALID …)."""


class MediaReplaced(DownloadError):
    """An edit put another file in the message while its old file was streaming."""

    def __init__(self, fetched: "Fetched"):
        super().__init__("message was edited to carry a different file")
        self.fetched = fetched


@dataclass(slots=True)
class Fetched:
    chat_id: int
    message_id: int
    message: types.Message  # opaque outside this module: hand it back to `download`
    album: list[Post] = field(default_factory=list)  # the other items of its album

    @property
    def media(self) -> MediaRef | None:
        """What the message carries now, which an edit may have changed since it was archived."""
        return media_ref(self.message.media)


class TelegramMedia:
    def __init__(self, client, chunk: int = CHUNK):
        self.client = client
        self.chunk = chunk

    async def fetch(self, chat_id: int, message_id: int, album: bool = False) -> Fetched:
        """The message as Telegram has it now; with `album`, also the rest of its album."""
        with _translated():
            if not album:
                return Fetched(chat_id, message_id, await self._message(chat_id, message_id))
            ids = list(range(max(1, message_id - ALBUM_REACH), message_id + ALBUM_REACH + 1))
            found = [m for m in await self.client.get_messages(chat_id, ids=ids) if isinstance(m, types.Message)]
        message = next((m for m in found if m.id == message_id), None)
        if message is None:
            raise MessageGone("message deleted on Telegram before its media was saved")
        siblings = [to_post(m) for m in found if m.id != message_id and message.grouped_id is not None
                    and m.grouped_id == message.grouped_id]
        return Fetched(chat_id, message_id, message, siblings)

    async def _message(self, chat_id: int, message_id: int) -> types.Message:
        message = await self.client.get_messages(chat_id, ids=message_id)
        if not isinstance(message, types.Message):
            raise MessageGone("message deleted on Telegram before its media was saved")
        return message

    async def download(self, fetched: Fetched, write: Callable[[bytes], Awaitable[None]]) -> int:
        """Stream the message's file into `write`; returns the number of bytes written.

        Raises MediaReplaced (carrying the message as it is now) when a refresh shows that
        an edit swapped the file: the bytes written so far belong to the old one.
        """
        with _translated():
            return await self._download(fetched, write)

    async def _download(self, fetched: Fetched, write: Callable[[bytes], Awaitable[None]]) -> int:
        message = fetched.message
        expected = _file_id(message.media)
        written = 0
        refreshes = 0
        while True:
            target = _location(message.media)
            if target is None:
                raise MessageGone("message no longer carries a downloadable file")
            location, dc_id, size, inline = target
            if inline is not None:
                await write(inline)
                return len(inline)
            try:
                # resuming after a refresh: the offset is a multiple of the chunk size,
                # which Telegram requires of every offset
                async with self.client.iter_download(
                    location, offset=written, request_size=self.chunk, dc_id=dc_id,
                    file_size=size if written == 0 else None,
                ) as stream:
                    async for chunk in stream:
                        await write(chunk)
                        written += len(chunk)
                return written
            except (errors.FileReferenceExpiredError, errors.FilerefUpgradeNeededError) as error:
                refreshes += 1
                if refreshes > REFRESHES:
                    raise ReferenceExpired(f"file reference kept expiring ({describe(error)}, "
                                           f"{REFRESHES} refreshes)") from error
                log.info("file reference of %s/%s expired after %d bytes; fetching the message again",
                         fetched.chat_id, fetched.message_id, written)
                message = await self._message(fetched.chat_id, fetched.message_id)
                if _file_id(message.media) != expected:
                    raise MediaReplaced(Fetched(fetched.chat_id, fetched.message_id, message)) from None
                fetched.message = message


@contextlib.contextmanager
def _translated():
    """Telethon's errors as this module's, so the media stage never needs to know Telethon."""
    try:
        yield
    except (errors.FloodWaitError, errors.FloodPremiumWaitError) as error:
        raise FloodWait(error.seconds) from error
    except errors.RPCError as error:
        raise TelegramRefused(describe(error)) from error


def describe(error: BaseException) -> str:
    """An error as one line for the operator; for Telegram's, the name it can be looked up by."""
    if isinstance(error, DownloadError):
        return str(error)
    if isinstance(error, errors.RPCError):
        return f"Telegram error {rpc_error_name(error)}"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _file_id(media) -> int | None:
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        return media.photo.id
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        return media.document.id
    return None


def _location(media):
    """(input location, dc id, size, inline bytes) of the file itself (the largest photo)."""
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        document = media.document
        location = types.InputDocumentFileLocation(
            id=document.id, access_hash=document.access_hash,
            file_reference=document.file_reference, thumb_size="")
        return location, document.dc_id, document.size, None
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        photo = media.photo
        best, best_size = None, -1
        for size in photo.sizes:
            if isinstance(size, types.PhotoSize):
                length = size.size
            elif isinstance(size, types.PhotoSizeProgressive):
                length = max(size.sizes)
            elif isinstance(size, types.PhotoCachedSize):
                length = len(size.bytes)
            else:  # stripped previews and empty sizes are not the photo
                continue
            if length > best_size:
                best, best_size = size, length
        if best is None:
            return None
        if isinstance(best, types.PhotoCachedSize):
            return None, photo.dc_id, best_size, best.bytes
        location = types.InputPhotoFileLocation(
            id=photo.id, access_hash=photo.access_hash, file_reference=photo.file_reference,
            thumb_size=best.type)
        return location, photo.dc_id, best_size, None
    return None
