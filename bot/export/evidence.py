"""The evidence manifest: a hash chain of every message version and file, signed with Ed25519.

    entries = chain([{"type": "message", …, "sha256": …}, …])   # adds n, prev and hash
    statement = signed_statement(len(entries), entries[-1]["hash"], key, at)   # covers count and head
    problem = check_chain(entries)                                # None, or the first broken entry
    check_signature(statement, public_key)                        # raises EvidenceError

Each entry names one thing in the bundle (a line of messages.jsonl, the text of one version,
a media file, messages.csv) with its SHA-256. Its `hash` is the SHA-256 of the entry itself,
which includes `prev`, the hash of the entry before it: changing or removing any entry breaks
every link after it, and the signature covers the last hash and the number of entries, so
not even the tail can be cut off unnoticed. Pure: no files, no archive.
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "dozor-evidence/1"
GENESIS = "0" * 64


class EvidenceError(Exception):
    """The bundle does not prove what it claims; the message names the first culprit."""


def canonical(value: dict) -> bytes:
    """One spelling per value: sorted keys, no spaces, UTF-8, so a hash means the same to anyone."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_hash(entry: dict) -> str:
    return sha256(canonical({k: v for k, v in entry.items() if k != "hash"}))


def link(entry: dict, n: int, prev: str) -> dict:
    """The entry numbered and chained to the one before it."""
    linked = {**entry, "n": n, "prev": prev}
    linked["hash"] = entry_hash(linked)
    return linked


def chain(entries: list[dict]) -> list[dict]:
    linked, prev = [], GENESIS
    for n, entry in enumerate(entries, 1):
        linked.append(link(entry, n, prev))
        prev = linked[-1]["hash"]
    return linked


def describe(entry: dict) -> str:
    """How a person would name what the entry stands for."""
    kind = entry.get("type")
    where = f"message {entry.get('message_id')} of chat {entry.get('chat_id')}"
    if kind == "version":
        return f"version {entry.get('version')} of {where}"
    if kind == "message":
        return where
    if kind == "media":
        return f"file {entry.get('file')} of {where}"
    return f"file {entry.get('file')}"


def check_link(entry: dict, position: int, prev: str) -> str | None:
    """What is wrong with the entry at `position` (1-based) after an entry hashed `prev`, in words."""
    label = f"entry {position} ({describe(entry)})"
    if entry.get("n") != position:
        return f"{label}: numbered {entry.get('n')}, so an entry before it was removed or added"
    if entry.get("prev") != prev:
        return f"{label}: does not follow from entry {position - 1}, which was changed, removed or added"
    if entry.get("hash") != entry_hash(entry):
        return f"{label}: altered (its hash does not match its content)"
    return None


def check_chain(entries: list[dict]) -> str | None:
    """The first entry whose own hash or link to its predecessor is wrong, said in words."""
    prev = GENESIS
    for position, entry in enumerate(entries, 1):
        problem = check_link(entry, position, prev)
        if problem:
            return problem
        prev = entry["hash"]
    return None


def signed_statement(entries: int, head: str, key: Ed25519PrivateKey, at: datetime) -> dict:
    """What the key vouches for: this many entries, ending in this hash."""
    statement = {"format": FORMAT, "entries": entries, "head": head, "signed_at": at.isoformat(timespec="seconds")}
    signature = key.sign(canonical(statement))
    return {**statement, "public_key": public_hex(key.public_key()),
            "signature": base64.b64encode(signature).decode("ascii")}


def check_signature(statement: dict, key: Ed25519PublicKey) -> None:
    signed = {k: statement.get(k) for k in ("format", "entries", "head", "signed_at")}
    try:
        signature = base64.b64decode(statement.get("signature", ""), validate=True)
        key.verify(signature, canonical(signed))
    except (InvalidSignature, ValueError, TypeError):
        raise EvidenceError(f"the signature does not match the manifest's {statement.get('entries')} entries "
                            f"under key {fingerprint(key)}: the bundle was altered or signed by another key") from None


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def fingerprint(key: Ed25519PublicKey) -> str:
    """Short enough to read out on the phone: the first 16 bytes of the key's SHA-256, grouped."""
    digest = sha256(bytes.fromhex(public_hex(key)))[:32]
    return ":".join(digest[i:i + 4] for i in range(0, 32, 4))
