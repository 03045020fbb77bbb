"""`dozor verify BUNDLE`: check an evidence bundle made by `dozor export --evidence`.

    dozor verify szch-november                      # exit 0: intact; 1: names the first entry that is not
    dozor verify szch-november --key newsroom.pem   # and require the newsroom's published public key

Needs no archive and no settings: a journalist, a lawyer or a court can run it on a copy.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.export.evidence import EvidenceError
from bot.export.keys import SigningKeyError, load_public
from bot.export.verify import verify

HELP = "check an evidence bundle: every message version and file, the hash chain and the signature"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="the folder written by `dozor export --evidence`")
    parser.add_argument("--key", type=Path, help="the public key (PEM) the bundle must be signed with")


def main(args: argparse.Namespace) -> int:
    try:
        trusted = load_public(args.key.read_bytes(), str(args.key)) if args.key else None
        result = verify(args.bundle, trusted)
    except (SigningKeyError, OSError) as error:
        print(f"dozor verify: {error}", file=sys.stderr)
        return 2
    except EvidenceError as error:
        print(f"dozor verify: NOT INTACT: {error}", file=sys.stderr)
        return 1
    print(f"intact: {result.messages} messages, {result.files} media files, {result.entries} entries, "
          f"signed {result.signed_at} with key {result.fingerprint}")
    if args.key is None:
        print("the key is the one inside the bundle: compare its fingerprint with the one the newsroom published, "
              "or pass --key")
    return 0
