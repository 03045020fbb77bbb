"""Check an evidence bundle: every entry, every file, the chain and the signature.

    result = verify(Path("bundle"))                 # raises EvidenceError naming the first culprit
    result = verify(Path("bundle"), trusted=key)    # and insist on the newsroom's own public key
    result.entries, result.messages, result.fingerprint

The first problem found is the one reported, in the bundle's own order: a changed line of
messages.jsonl is named by its message, a changed version text by its version, a changed or
removed manifest entry by its number. Nothing in the bundle is trusted before it is checked.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.export.bundle import MANIFEST, MEDIA, MESSAGES, PUBLIC_KEY, SIGNATURE
from bot.export.evidence import FORMAT, EvidenceError, check_chain, check_signature, describe, fingerprint, \
    public_hex
from bot.export.keys import SigningKeyError, load_public

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Verified:
    entries: int
    messages: int
    files: int
    fingerprint: str
    signed_at: str


def verify(bundle: Path, trusted: Ed25519PublicKey | None = None) -> Verified:
    statement = _json(bundle / SIGNATURE)
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

    entries = []
    for number, line in enumerate(_read(bundle / MANIFEST).splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            raise EvidenceError(f"{MANIFEST} line {number}: not a manifest entry (altered)")
        entries.append(entry)
    problem = check_chain(entries)
    if problem:
        raise EvidenceError(problem)
    lines = _read(bundle / MESSAGES).splitlines()
    messages, files = _check_contents(bundle, entries, lines)
    if len(entries) != statement.get("entries") or (entries and entries[-1]["hash"] != statement.get("head")):
        raise EvidenceError(f"the manifest has {len(entries)} entries but {statement.get('entries')} were signed: "
                            f"entries after {len(entries)} were removed, or entries were added")
    check_signature(statement, key)
    return Verified(entries=len(entries), messages=messages, files=files, fingerprint=fingerprint(key),
                    signed_at=str(statement.get("signed_at")))


def _check_contents(bundle: Path, entries: list[dict], lines: list[bytes]) -> tuple[int, int]:
    """Each entry against what it names; then nothing in the bundle that no entry names."""
    line_number, current, files = 0, None, set()
    for position, entry in enumerate(entries, 1):
        label = f"entry {position} ({describe(entry)})"
        kind = entry.get("type")
        if kind == "message":
            if line_number >= len(lines):
                raise EvidenceError(f"{label}: its line is missing from {MESSAGES}")
            line = lines[line_number]
            line_number += 1
            if hashlib.sha256(line).hexdigest() != entry.get("sha256"):
                raise EvidenceError(f"{label}: {MESSAGES} line {line_number} does not match its SHA-256 (altered)")
            try:
                current = json.loads(line)
            except ValueError:
                raise EvidenceError(f"{label}: {MESSAGES} line {line_number} is not JSON (altered)") from None
            if (current.get("chat_id"), current.get("message_id")) != (entry.get("chat_id"), entry.get("message_id")):
                raise EvidenceError(f"{label}: {MESSAGES} line {line_number} is another message")
        elif kind == "version":
            version = _version_of(current, entry)
            if version is None:
                raise EvidenceError(f"{label}: not in {MESSAGES}")
            if hashlib.sha256(str(version.get("text", "")).encode("utf-8")).hexdigest() != entry.get("sha256") \
                    or version.get("seen_at") != entry.get("seen_at") or version.get("edit_date") != entry.get("edit_date"):
                raise EvidenceError(f"{label}: the text or time in {MESSAGES} does not match its SHA-256")
        elif kind in ("media", "file"):
            name = entry.get("file") or ""
            path = (bundle / name).resolve()
            if not path.is_relative_to(bundle.resolve()) or not path.is_file():
                raise EvidenceError(f"{label}: the file is missing from the bundle")
            if _file_sha256(path) != entry.get("sha256") or (kind == "media" and path.stat().st_size != entry.get("size")):
                raise EvidenceError(f"{label}: the file does not match its SHA-256 (altered)")
            files.add(path)
        else:
            raise EvidenceError(f"{label}: unknown entry type {kind!r}")
    if line_number < len(lines):
        raise EvidenceError(f"{MESSAGES} line {line_number + 1}: not in the manifest (added)")
    media = bundle / MEDIA
    for path in sorted(media.rglob("*")) if media.is_dir() else ():
        if path.is_file() and path.resolve() not in files:
            raise EvidenceError(f"{path.relative_to(bundle)}: not in the manifest (added)")
    return line_number, sum(1 for e in entries if e.get("type") == "media")


def _version_of(record: dict | None, entry: dict) -> dict | None:
    if record is None or (record.get("chat_id"), record.get("message_id")) != (entry.get("chat_id"),
                                                                               entry.get("message_id")):
        return None
    return next((v for v in record.get("versions", []) if v.get("version") == entry.get("version")), None)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EvidenceError(f"{path}: missing; a bundle holds {MESSAGES}, {MANIFEST}, {SIGNATURE} "
                            f"and {PUBLIC_KEY}") from None


def _json(path: Path) -> dict:
    try:
        found = json.loads(_read(path))
    except ValueError:
        raise EvidenceError(f"{path}: not JSON (altered)") from None
    if not isinstance(found, dict):
        raise EvidenceError(f"{path}: not a signature statement (altered)")
    return found


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as reading:
        while chunk := reading.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
