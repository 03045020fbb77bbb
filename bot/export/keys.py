"""The installation's Ed25519 signing key for evidence bundles: `<storage>/evidence-key.pem`.

    key = signing_key(settings.storage)       # created on first use, owner-only (0600)
    public_pem(key.public_key())              # goes into every bundle

Whoever holds this file can sign bundles in the newsroom's name: it never leaves the machine,
only its public half does.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "evidence-key.pem"


class SigningKeyError(Exception):
    pass


def signing_key(storage: Path) -> Ed25519PrivateKey:
    path = storage / KEY_FILE
    if not path.exists():
        _create(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise SigningKeyError(f"{path} is not an Ed25519 private key in PEM: restore it from a backup "
                        "(bundles signed with it are verified against its public key)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a key of another kind than Ed25519")
    return key


def _create(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two exports starting at once must not each make a key and overwrite the other's
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public(data: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise SigningKeyError(f"{source} is not a public key in PEM") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{source} holds a key of another kind than Ed25519")
    return key
