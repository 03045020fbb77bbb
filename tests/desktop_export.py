"""Writes small Telegram Desktop exports (result.json and files) the way Desktop lays them out."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

# a real (tiny) JPEG: 1×1 pixel
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e"
    "1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100ffc4001f000001"
    "0501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105"
    "122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a43444546"
    "4748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aa"
    "b2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100"
    "003f00fbd3ffd9")


def when(moment: datetime) -> dict:
    local = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    return {"date": local, "date_unixtime": str(int(moment.timestamp()))}


def message(message_id: int, moment: datetime, text, **extra) -> dict:
    return {"id": message_id, "type": "message", **when(moment), "from": "Київ новини",
            "from_id": "channel1234567890", "text": text, "text_entities": [], **extra}


def service(message_id: int, moment: datetime, action: str = "pin_message") -> dict:
    return {"id": message_id, "type": "service", **when(moment), "actor": "Київ новини",
            "actor_id": "channel1234567890", "action": action, "text": "", "text_entities": []}


def write_export(folder: Path, messages: list[dict], name: str = "Київ новини", chat_type: str = "public_channel",
                 chat_id: int = 1234567890, files: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for relative, data in (files or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    path = folder / "result.json"
    path.write_text(json.dumps({"name": name, "type": chat_type, "id": chat_id, "messages": messages},
                               ensure_ascii=False, indent=1), encoding="utf-8")
    return path
