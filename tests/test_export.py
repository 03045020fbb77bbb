"""`dozor export` and `dozor verify` on a real archive: a bundle that proves what it holds,
and a verify that names the first thing changed, removed or signed by someone else."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.archive import Archive
from bot.cli import main
from bot.export.bundle import ExportError, Selection, export
from bot.export.evidence import EvidenceError, canonical, signed_statement
from bot.export.keys import signing_key
from bot.export.verify import verify
from tests.archive_samples import JPEG, KYIV, LVIV, PDF, T0, fill


@pytest.fixture
async def storage(tmp_path):
    storage = tmp_path / "storage"
    await fill(storage)
    return storage


async def bundle_of(storage, out, selection=Selection(), evidence=True):
    key = signing_key(storage) if evidence else None
    async with Archive.opened(storage / "archive.sqlite3") as archive:
        return await export(archive, storage, out, selection, key)


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_an_export_has_every_version_the_deletion_and_the_files(storage, tmp_path):
    out = tmp_path / "out"
    summary = await bundle_of(storage, out, evidence=False)
    assert (summary.messages, summary.files) == (6, 3)
    found = {(m["chat_id"], m["message_id"]): m for m in lines(out / "messages.jsonl")}
    edited = found[(KYIV.id, 1)]
    assert [v["text"] for v in edited["versions"]] == ["ТЦК пакують біля метро Лук'янівська",
                                                       "ТЦК пакують біля метро Лук'янівська, вже поїхали"]
    assert edited["versions"][0]["seen_at"] <= edited["versions"][1]["seen_at"]
    assert edited["edit_date"] == (T0 + timedelta(minutes=20)).isoformat()
    assert found[(KYIV.id, 2)]["deleted_at"] == (T0 + timedelta(hours=2)).isoformat()
    photo = found[(KYIV.id, 3)]["media"]
    assert (out / photo["file"]).read_bytes() == JPEG and photo["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert found[(LVIV.id, 12)]["media"]["file"] is None and found[(LVIV.id, 12)]["media"]["status"] == "pending"
    with open(out / "messages.csv", encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table))
    assert len(rows) == 6 and rows[0]["text"].startswith("ТЦК пакують") and rows[0]["versions"] == "2"
    assert not (out / "manifest.jsonl").exists()


async def test_an_export_by_chat_topic_and_period(storage, tmp_path):
    by_chat = await bundle_of(storage, tmp_path / "a", Selection(chat_id=LVIV.id), evidence=False)
    by_topic = await bundle_of(storage, tmp_path / "b", Selection(topic="szch"), evidence=False)
    by_period = await bundle_of(storage, tmp_path / "c", Selection(since=T0 + timedelta(hours=3),
                                                                   until=T0 + timedelta(hours=5)), evidence=False)
    assert (by_chat.messages, by_topic.messages, by_period.messages) == (3, 1, 2)
    assert [m["message_id"] for m in lines(tmp_path / "c" / "messages.jsonl")] == [3, 10]


async def test_an_export_never_writes_into_a_folder_in_use(storage, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        await bundle_of(storage, tmp_path / "used")
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["notes.txt"]


async def test_a_damaged_media_store_stops_the_export_and_leaves_nothing(storage, tmp_path):
    stored = next((storage / "media").rglob("*.pdf"))
    stored.write_bytes(PDF + b"x")
    with pytest.raises(ExportError, match="no longer matches its SHA-256"):
        await bundle_of(storage, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


async def test_the_signing_key_is_the_installations_own_and_private(storage):
    first = signing_key(storage)
    again = signing_key(storage)
    assert first.public_key().public_bytes_raw() == again.public_key().public_bytes_raw()
    assert (storage / "evidence-key.pem").stat().st_mode & 0o777 == 0o600


async def test_export_then_verify(storage, tmp_path):
    summary = await bundle_of(storage, tmp_path / "bundle")
    result = verify(tmp_path / "bundle")
    # per message: its line and each version; plus the 3 files and messages.csv
    assert result.entries == summary.entries == 6 + 7 + 3 + 1
    assert (result.messages, result.files) == (6, 3)
    trusted = signing_key(storage).public_key()
    assert verify(tmp_path / "bundle", trusted).fingerprint == result.fingerprint


@pytest.fixture
async def bundle(storage, tmp_path):
    await bundle_of(storage, tmp_path / "bundle")
    return tmp_path / "bundle"


def flip_one_byte(path, needle: bytes):
    data = path.read_bytes()
    at = data.index(needle)
    path.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])


def test_verify_names_the_message_whose_text_changed(bundle):
    flip_one_byte(bundle / "messages.jsonl", "вже поїхали".encode())
    with pytest.raises(EvidenceError, match=rf"entry 1 \(message 1 of chat {KYIV.id}\): messages.jsonl line 1"):
        verify(bundle)


def test_verify_names_the_media_file_that_changed(bundle):
    media = next((bundle / "media").glob("*.pdf"))
    flip_one_byte(media, b"summons")
    with pytest.raises(EvidenceError, match=rf"file media/.*\.pdf of message 10 of chat {LVIV.id}\): the file does "
                                            "not match"):
        verify(bundle)


def test_verify_names_an_entry_removed_from_the_middle(bundle):
    manifest = (bundle / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (bundle / "manifest.jsonl").write_bytes(b"".join(manifest[:4] + manifest[5:]))
    with pytest.raises(EvidenceError, match=r"entry 5 .*numbered 6, so an entry before it was removed"):
        verify(bundle)


def test_verify_notices_the_last_entry_cut_off(bundle):
    manifest = (bundle / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (bundle / "manifest.jsonl").write_bytes(b"".join(manifest[:-1]))
    with pytest.raises(EvidenceError, match="16 entries but 17 were signed: entries after 16 were removed"):
        verify(bundle)


def test_verify_notices_a_rewritten_entry(bundle):
    manifest = (bundle / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    entry = json.loads(manifest[2])
    entry["seen_at"] = "2020-01-01T00:00:00+00:00"  # a forger moving when a version was seen
    manifest[2] = canonical(entry) + b"\n"
    (bundle / "manifest.jsonl").write_bytes(b"".join(manifest))
    with pytest.raises(EvidenceError, match=r"entry 3 \(version 2 of message 1 .*altered"):
        verify(bundle)


def test_verify_refuses_a_signature_by_another_key(bundle, storage):
    statement = json.loads((bundle / "signature.json").read_text())
    forged = signed_statement(statement["entries"], statement["head"], Ed25519PrivateKey.generate(),
                              T0)
    forged["public_key"] = statement["public_key"]  # claims the newsroom's key
    (bundle / "signature.json").write_text(json.dumps(forged))
    with pytest.raises(EvidenceError, match="the signature does not match"):
        verify(bundle)


def test_verify_with_the_newsrooms_key_refuses_a_bundle_resigned_by_someone_else(bundle, storage, tmp_path):
    from bot.export.keys import public_pem
    other = Ed25519PrivateKey.generate()
    statement = json.loads((bundle / "signature.json").read_text())
    (bundle / "signature.json").write_text(json.dumps(signed_statement(statement["entries"], statement["head"],
                                                                       other, T0)))
    (bundle / "public-key.pem").write_bytes(public_pem(other.public_key()))
    verify(bundle)  # consistent in itself …
    with pytest.raises(EvidenceError, match="not the trusted key"):
        verify(bundle, signing_key(storage).public_key())  # … but not the newsroom's


def test_verify_names_a_line_added_to_the_messages(bundle):
    with open(bundle / "messages.jsonl", "ab") as extra:
        extra.write(b'{"chat_id": 1, "message_id": 1, "text": "planted"}\n')
    with pytest.raises(EvidenceError, match="messages.jsonl line 7: not in the manifest"):
        verify(bundle)


def test_the_commands_export_and_verify(storage, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOZOR_STORAGE", str(storage))
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--out", str(tmp_path / "b"), "--topic", "enlistment_centre", "--evidence"]) == 0
    out = capsys.readouterr().out
    assert "4 messages" in out and "1 media files are not in the archive" in out
    assert main(["export", "--out", str(tmp_path / "kyiv"), "--chat", "@kyiv_news"]) == 0
    assert "3 messages" in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "none"), "--chat", "@nobody"]) == 1
    assert "no chat of that name" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "b")]) == 0
    assert "intact: 4 messages, 3 media files" in capsys.readouterr().out
    assert main(["export", "--public-key"]) == 0
    (tmp_path / "newsroom.pem").write_text(capsys.readouterr().out.split("fingerprint")[0])
    assert main(["verify", str(tmp_path / "b"), "--key", str(tmp_path / "newsroom.pem")]) == 0
    shutil.copytree(tmp_path / "b", tmp_path / "c")
    flip_one_byte(tmp_path / "c" / "messages.csv", "ТЦК".encode())
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "c")]) == 1
    assert "NOT INTACT: entry 12 (file messages.csv)" in capsys.readouterr().err
