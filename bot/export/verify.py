"""Check an evidence bundle: every entry, every file, the chain and the signature.

    result = verify(Path("bundle"))                 # raises EvidenceError naming the first culprit
    result = verify(Path("bundle"), trusted=key)    # and insist on the newsroom's own public key
    result.entries, result.messages, result.fingerprint

The manifest is walked once, in order, beside messages.jsonl, so a bundle of any size is
checked in little memory; the first problem found is the one reported: a changed line of
messages.jsonl is named by its message, a changed file by its name, a changed, removed or
added manifest entry by its number. Nothing in the bundle is trusted before it is checked.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.export.bundle import MANIFEST, MEDIA, MESSAGES, PUBLIC_KEY, SIGNATURE, file_sha256
from bot.export.evidence import FORMAT, GENESIS, EvidenceError, check_link, check_signature, describe, \
    fingerprint, public_hex
from bot.export.keys import SigningKeyError, load_public



@dataclass(frozen=True, slots=True)
class Verified:
    entries: int
    messages: int
    files: int  # media files
    fingerprint: str
    signed_at: str


def verify(bundle: Path, trusted: Ed25519PublicKey | None = None) -> Verified:
    statement = _statement(bundle / SIGNATURE)
    try:
        key = load_public(_read(bundle / PUBLIC_KEY), str(bundle / PUBLIC_KEY))
    except SigningKeyError as error:
        raise EvidenceError(str(error)) from None
    if trusted is not None and public_hex(trusted) != public_hex(key):
        raise EvidenceError(f"the bundle was signed with key {fingerprint(key)}, not the trusted key "
                            f"{fingerprint(trusted)}")
    if statement.get("public_key") != public_hex(key):
        raise EvidenceError(f"{SIGNATURE} names another key than {PUBLIC_KEY}")
    if statement.get("format") != FORMAT:
        raise EvidenceError(f"{SIGNATURE}: unknown format {statement.get('format')!r} (this dozor reads {FORMAT})")
    walk = _Walk(bundle)
    with _open(bundle / MANIFEST) as manifest, _open(bundle / MESSAGES) as messages:
        walk.messages = messages
        for position, line in enumerate(manifest, 1):
            walk.entry(position, line)
        walk.finish()
    if walk.count != statement.get("entries") or walk.prev != statement.get("head"):
        raise EvidenceError(f"the manifest has {walk.count} entries but {statement.get('entries')} were signed: "
                            f"entries after {walk.count} were removed, or entries were added")
    check_signature(statement, key)
    return Verified(entries=walk.count, messages=walk.line_number, files=len(walk.media),
                    fingerprint=fingerprint(key), signed_at=str(statement.get("signed_at")))


class _Walk:
    """The manifest's entries in order, each checked against what it names as it comes."""

    def __init__(self, bundle: Path):
        self.bundle = bundle
        self.root = bundle.resolve()
        self.messages = None
        self.prev = GENESIS
        self.count = 0
        self.line_number = 0
        self.current: dict | None = None  # the message of the last "message" entry
        self.media: set[Path] = set()

    def entry(self, position: int, line: bytes) -> None:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            raise EvidenceError(f"{MANIFEST} line {position}: not a manifest entry (altered)")
        problem = check_link(entry, position, self.prev)
        if problem:
            raise EvidenceError(problem)
        label = f"entry {position} ({describe(entry)})"
        kind = entry.get("type")
        if kind == "message":
            self._message(entry, label)
        elif kind == "version":
            self._version(entry, label)
        elif kind in ("media", "file"):
            self._file(entry, label, kind)
        else:
            raise EvidenceError(f"{label}: unknown entry type {kind!r}")
        self.prev = entry["hash"]
        self.count = position

    def _message(self, entry: dict, label: str) -> None:
        line = self.messages.readline()
        if not line:
            raise EvidenceError(f"{label}: its line is missing from {MESSAGES}")
        self.line_number += 1
        line = line.rstrip(b"\n")
        where = f"{MESSAGES} line {self.line_number}"
        if hashlib.sha256(line).hexdigest() != entry.get("sha256"):
            raise EvidenceError(f"{label}: {where} does not match its SHA-256 (altered)")
        try:
            self.current = json.loads(line)
        except ValueError:
            raise EvidenceError(f"{label}: {where} is not JSON (altered)") from None
        if not isinstance(self.current, dict) or (self.current.get("chat_id"), self.current.get("message_id")) != (
                entry.get("chat_id"), entry.get("message_id")):
            raise EvidenceError(f"{label}: {where} is another message")

    def _version(self, entry: dict, label: str) -> None:
        record = self.current
        same = record is not None and (record.get("chat_id"), record.get("message_id")) == (
            entry.get("chat_id"), entry.get("message_id"))
        version = next((v for v in record.get("versions", []) if isinstance(v, dict)
                        and v.get("version") == entry.get("version")), None) if same else None
        if version is None:
            raise EvidenceError(f"{label}: not in {MESSAGES}")
        if hashlib.sha256(str(version.get("text", "")).encode("utf-8")).hexdigest() != entry.get("sha256") \
                or version.get("seen_at") != entry.get("seen_at") or version.get("edit_date") != entry.get("edit_date"):
            raise EvidenceError(f"{label}: the text or times in {MESSAGES} do not match")

    def _file(self, entry: dict, label: str, kind: str) -> None:
        path = (self.bundle / str(entry.get("file") or "")).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise EvidenceError(f"{label}: the file is missing from the bundle")
        if file_sha256(path) != entry.get("sha256") or (kind == "media" and path.stat().st_size != entry.get("size")):
            raise EvidenceError(f"{label}: the file does not match its SHA-256 (altered)")
        if kind == "media":
            self.media.add(path)

    def finish(self) -> None:
        """Nothing in the bundle that no entry names."""
        if self.messages.readline():
            raise EvidenceError(f"{MESSAGES} line {self.line_number + 1}: not in the manifest (added)")
        media = self.bundle / MEDIA
        for path in sorted(media.rglob("*")) if media.is_dir() else ():
            if path.is_file() and path.resolve() not in self.media:
                raise EvidenceError(f"{path.relative_to(self.bundle)}: not in the manifest (added)")


def _open(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise EvidenceError(f"{path}: missing; a bundle holds {MESSAGES}, {MANIFEST}, {SIGNATURE} "
                            f"and {PUBLIC_KEY}") from None


def _read(path: Path) -> bytes:
    with _open(path) as f:
        return f.read()


def _statement(path: Path) -> dict:
    try:
        found = json.loads(_read(path))
    except ValueError:
        raise EvidenceError(f"{path}: not JSON (altered)") from None
    if not isinstance(found, dict):
        raise EvidenceError(f"{path}: not a signature statement (altered)")
    return found

