"""Which media the archive keeps, decided from what the message says about its file.

    reason = skip_reason("video", 80 * MB, max_mb=50, kinds=("photo", "video"))
    # "too large: 80.0 MB > 50 MB"

Pure: no I/O, so the operator's limits are tested without Telegram or a disk.
A skipped file is recorded with the reason returned here, never silently dropped.
"""
from __future__ import annotations

import mimetypes
import re

MB = 1024 * 1024

# Telegram's own types, which the system MIME table maps badly or not at all
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "application/x-tgsticker": ".tgs",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
}
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


def policy_kind(kind: str) -> str:
    """MEDIA_TYPES knows no 'other': an unclassified file is a document to the operator."""
    return "document" if kind == "other" else kind


def skip_reason(kind: str, size: int | None, *, max_mb: float, kinds: tuple[str, ...]) -> str | None:
    """Why a file of this kind and size is not downloaded, or None to download it."""
    if policy_kind(kind) not in kinds:
        return f"type {policy_kind(kind)} is switched off"
    if size is not None and size > max_mb * MB:
        return too_large(size, max_mb)
    return None


def too_large(size: int, max_mb: float) -> str:
    return f"too large: {size / MB:.1f} MB > {max_mb:g} MB"


def extension(kind: str, mime_type: str | None, file_name: str | None) -> str:
    """The file name extension for the stored copy: only a viewer's convenience, never trusted."""
    if kind == "photo":
        return ".jpg"
    if file_name:
        suffix = "." + file_name.rsplit(".", 1)[-1] if "." in file_name else ""
        if _SAFE_SUFFIX.match(suffix):
            return suffix.lower()
    if mime_type:
        known = _EXTENSIONS.get(mime_type.lower()) or mimetypes.guess_extension(mime_type, strict=False)
        if known and _SAFE_SUFFIX.match(known):
            return known
    return ".bin"
