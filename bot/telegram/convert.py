"""Telethon objects → plain `bot.model` values. Pure: no requests are made here.

    post = to_post(message)        # a telethon Message (from an event or iter_messages)
    chat = to_chat(entity)         # a telethon Channel / Chat / User
"""
from __future__ import annotations

from datetime import timezone

from telethon import utils
from telethon.tl import types

from bot.model import Chat, MediaRef, Post


def to_chat(entity, keep_all: bool = False) -> Chat:
    if isinstance(entity, types.Channel):
        kind = "group" if entity.megagroup or entity.gigagroup else "channel"
    elif isinstance(entity, (types.Chat, types.ChatForbidden)):
        kind = "group"
    else:
        kind = "user"
    return Chat(
        id=utils.get_peer_id(entity),
        title=utils.get_display_name(entity) or str(utils.get_peer_id(entity)),
        username=getattr(entity, "username", None),
        kind=kind,
        keep_all=keep_all,
    )


def to_post(message: types.Message) -> Post:
    """A Telethon message as a Post; the text is the plain text without formatting."""
    return Post(
        chat_id=message.chat_id,
        message_id=message.id,
        date=message.date.astimezone(timezone.utc),
        text=message.message or "",
        author_id=message.sender_id if message.sender_id != message.chat_id else None,
        author_name=_author_name(message),
        views=message.views,
        forwards=message.forwards,
        reply_to=message.reply_to.reply_to_msg_id if message.reply_to else None,
        forward_from=_forward_origin(message),
        grouped_id=message.grouped_id,
        media=media_ref(message.media),
        edit_date=message.edit_date.astimezone(timezone.utc) if message.edit_date else None,
    )


def _author_name(message: types.Message) -> str | None:
    if message.post_author:  # a channel's signature
        return message.post_author
    sender = message.sender  # set from the update's own entities; no request
    if sender is not None and utils.get_peer_id(sender) != message.chat_id:
        return utils.get_display_name(sender) or None
    return None


def _forward_origin(message: types.Message) -> str | None:
    header = message.fwd_from
    if header is None:
        return None
    if header.from_name:
        return header.from_name
    forward = message.forward
    origin = (forward.chat or forward.sender) if forward is not None else None
    if origin is not None:
        return utils.get_display_name(origin) or None
    if header.from_id is not None:
        return f"id {utils.get_peer_id(header.from_id)}"
    return "hidden"


def media_ref(media) -> MediaRef | None:
    """What a message carries; None for media that is not a file (web page, poll, location)."""
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        photo = media.photo
        width, height, size = _largest_photo_size(photo)
        return MediaRef(kind="photo", telegram_id=photo.id, mime_type="image/jpeg", size=size,
                        width=width, height=height)
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        return _document_ref(media.document)
    return None


def _document_ref(document: types.Document) -> MediaRef:
    file_name = width = height = duration = None
    flags: set[str] = set()
    for attribute in document.attributes:
        if isinstance(attribute, types.DocumentAttributeFilename):
            file_name = attribute.file_name
        elif isinstance(attribute, types.DocumentAttributeVideo):
            flags.add("round" if attribute.round_message else "video")
            width, height, duration = attribute.w, attribute.h, float(attribute.duration)
        elif isinstance(attribute, types.DocumentAttributeAudio):
            flags.add("voice" if attribute.voice else "audio")
            duration = float(attribute.duration)
        elif isinstance(attribute, types.DocumentAttributeAnimated):
            flags.add("gif")
        elif isinstance(attribute, types.DocumentAttributeSticker):
            flags.add("sticker")
        elif isinstance(attribute, types.DocumentAttributeImageSize):
            width, height = attribute.w, attribute.h
    # attribute order varies: a GIF is also a video, a video sticker also a sticker
    kind = next((k for k in ("sticker", "gif", "round", "video", "voice", "audio") if k in flags), "document")
    return MediaRef(kind=kind, telegram_id=document.id, mime_type=document.mime_type, size=document.size,
                    file_name=file_name, width=width, height=height, duration=duration)


def _largest_photo_size(photo: types.Photo) -> tuple[int | None, int | None, int | None]:
    best = (None, None, None)
    for size in photo.sizes:
        if isinstance(size, types.PhotoSize):
            candidate = (size.w, size.h, size.size)
        elif isinstance(size, types.PhotoSizeProgressive):
            candidate = (size.w, size.h, max(size.sizes))
        elif isinstance(size, types.PhotoCachedSize):
            candidate = (size.w, size.h, len(size.bytes))
        else:
            continue
        if best[2] is None or (candidate[2] or 0) > best[2]:
            best = candidate
    return best
