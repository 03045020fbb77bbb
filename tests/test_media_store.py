"""The content-addressed store on a real directory, and the skip policy (pure)."""
from __future__ import annotations

import asyncio
import hashlib
import os
import stat

import pytest

from bot.media.policy import MB, extension, skip_reason
from bot.media.store import MediaStore

ALL = ("photo", "video", "round", "voice", "audio", "document", "gif", "sticker")


def files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def store_bytes(store: MediaStore, data: bytes, ext: str = ".jpg", chunk: int = 4096):
    async with store.incoming(ext) as incoming:
        for start in range(0, len(data), chunk):
            await incoming.write(data[start:start + chunk])
        return await incoming.commit()


async def test_a_file_is_stored_under_its_hash_with_its_bytes(tmp_path):
    store = MediaStore(tmp_path / "media")
    data = os.urandom(100_000)
    stored = await store_bytes(store, data)
    digest = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == digest and stored.size == len(data)
    assert stored.path == f"media/{digest[:2]}/{digest[2:4]}/{digest}.jpg"
    assert (tmp_path / stored.path).read_bytes() == data
    assert stat.S_IMODE((tmp_path / stored.path).stat().st_mode) == 0o600
    assert store.partials() == []


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_every_media_folder_and_file_is_owner_only_whatever_the_umask(tmp_path):
    root = tmp_path / "storage" / "media"
    store = MediaStore(root)
    previous = os.umask(0o022)  # the usual umask, which leaves new folders readable by everyone
    try:
        stored = [await store_bytes(store, os.urandom(1000)) for _ in range(3)]
    finally:
        os.umask(previous)
    folders = [tmp_path / "storage", root, *(p for p in root.rglob("*") if p.is_dir())]
    assert len(folders) >= 2 + 1 + 3  # storage, media, .partial, and an ab/ folder per file at least
    assert {p.relative_to(tmp_path).as_posix(): oct(mode(p)) for p in folders if mode(p) != 0o700} == {}
    assert {oct(mode(store.absolute(s.path))) for s in stored} == {"0o600"}


async def test_folders_left_open_by_an_earlier_version_are_closed_at_start(tmp_path):
    root = tmp_path / "media"
    (root / "ab" / "cd").mkdir(parents=True)
    for folder in (root, root / "ab", root / "ab" / "cd"):
        folder.chmod(0o755)
    MediaStore(root).prepare()
    assert [oct(mode(p)) for p in (root, root / "ab", root / "ab" / "cd")] == ["0o700"] * 3


async def test_the_same_bytes_twice_are_one_file_whatever_the_extension(tmp_path):
    store = MediaStore(tmp_path / "media")
    data = b"the same leaflet photographed once" * 1000
    first = await store_bytes(store, data, ".jpg")
    second = await store_bytes(store, data, ".bin", chunk=777)
    assert first == second
    assert files_under(tmp_path / "media") == [first.path.removeprefix("media/")]


async def test_nothing_is_visible_until_the_file_is_complete(tmp_path):
    store = MediaStore(tmp_path / "media")
    async with store.incoming(".mp4") as incoming:
        await incoming.write(b"x" * 10_000)
        # only the temporary name exists while the file streams
        assert [p.parent.name for p in (tmp_path / "media").rglob("*") if p.is_file()] == [".partial"]
        stored = await incoming.commit()
    assert (tmp_path / stored.path).stat().st_size == 10_000


async def test_an_error_mid_stream_leaves_no_file_at_all(tmp_path):
    store = MediaStore(tmp_path / "media")
    with pytest.raises(ConnectionError):
        async with store.incoming(".mp4") as incoming:
            await incoming.write(b"half a video")
            raise ConnectionError("connection lost")
    assert files_under(tmp_path) == []


async def test_cancelling_a_write_leaves_no_file(tmp_path):
    store = MediaStore(tmp_path / "media")
    started = asyncio.Event()

    async def endless():
        async with store.incoming(".mp4") as incoming:
            while True:
                await incoming.write(os.urandom(256 * 1024))
                started.set()

    task = asyncio.create_task(endless())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(tmp_path) == []


async def test_half_files_of_a_killed_run_are_removed_at_start(tmp_path):
    store = MediaStore(tmp_path / "media")
    (tmp_path / "media" / ".partial").mkdir(parents=True)
    (tmp_path / "media" / ".partial" / "dead.mp4.part").write_bytes(b"half")
    kept = await store_bytes(store, b"complete")
    assert store.remove_partials() == 1
    assert files_under(tmp_path) == [kept.path]


def test_skip_policy_says_why():
    assert skip_reason("video", 80 * MB, max_mb=50, kinds=ALL) == "too large: 80.0 MB > 50 MB"
    assert skip_reason("video", 10 * MB, max_mb=50, kinds=("photo",)) == "type video is switched off"
    assert skip_reason("photo", 50 * MB, max_mb=50, kinds=ALL) is None  # the limit itself is allowed
    assert skip_reason("photo", None, max_mb=50, kinds=ALL) is None  # unknown size: checked while streaming
    assert skip_reason("other", 1, max_mb=50, kinds=("photo",)) == "type document is switched off"
    assert skip_reason("voice", 2 * MB, max_mb=1.5, kinds=ALL) == "too large: 2.0 MB > 1.5 MB"


def test_extension_comes_from_name_then_type_and_is_never_a_path():
    assert extension("photo", "image/jpeg", None) == ".jpg"
    assert extension("document", "application/pdf", "Наказ №12.PDF") == ".pdf"
    assert extension("voice", "audio/ogg", None) == ".ogg"
    assert extension("sticker", "application/x-tgsticker", None) == ".tgs"
    assert extension("document", None, "../../etc/passwd") == ".bin"
    assert extension("document", "application/x-unknown-thing", "no extension") == ".bin"
