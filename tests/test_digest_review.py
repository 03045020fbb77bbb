"""The digest and the model: confident model hits are listed under their topic with the labelled
examples they resemble; unsure ones wait in a separate "to review" section and count nowhere."""
from __future__ import annotations

from pathlib import Path

from bot.classifier import SHIPPED_MODEL, Classifier
from bot.digest.compose import visible
from bot.matching import load_rules, match
from tests.test_digest_compose import CITY, NEWS, digest_of, post, with_chats
from tests.test_model import FEW_RULES, MODEL_FINDS, MODEL_UNSURE, RULES_FIND
NOTHING = "Сьогодні в Києві сонячно, до вечора +12"


async def test_model_hits_are_found_and_unsure_ones_wait_for_review(tmp_path: Path, archive):
    (tmp_path / "few.toml").write_text(FEW_RULES, encoding="utf-8")
    rules, classifier = load_rules(tmp_path / "few.toml"), Classifier.load(SHIPPED_MODEL)
    await with_chats(archive)
    for chat, message_id, text in ((NEWS, 1, RULES_FIND), (CITY, 2, MODEL_FINDS), (CITY, 3, MODEL_UNSURE),
                                   (CITY, 4, NOTHING)):
        [result] = classifier.second_opinion([(text, match(rules, text, chat))])
        await archive.ingest(chat, [(post(chat, message_id, text, "2026-03-19T12:00"), result)])
    parts = await digest_of(archive)
    text = visible("\n\n".join(parts))
    head, rest = text.split("━━", 1)
    assert "Усього: 2" in head  # the rules' hit and the model's, not the unsure one
    found, review = rest.split("━━ На перевірку ━━")
    assert MODEL_FINDS[:20] in found and "знайдено моделлю, схоже на позначені приклади: «" in found
    assert MODEL_UNSURE[:20] in review and "модель не впевнена: Бусифікація" in review
    assert MODEL_UNSURE[:20] not in found and "сонячно" not in text
