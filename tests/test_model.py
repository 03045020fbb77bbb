"""The learned second opinion: reproducible training, its place beside the rules, and a model
file that cannot be used never stops the rules."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from bot.classifier import SHIPPED_MODEL, Classifier, ModelError, second_opinion
from bot.classifier.examples import file_sha256, read_set
from bot.classifier.features import counts, prepare, vectorise
from bot.classifier.modelfile import load, save
from bot.classifier.sets import find_shared, project_sets
from bot.classifier.train import train
from bot.cli import main as dozor
from bot.matching import load_rules, match
from tests.conftest import EXAMPLE_KEYWORDS, eventually

# no rule covers these; the shipped model does (found) or is unsure (review)
MODEL_FINDS = "На Оболоні пакують чоловіків у бус, будьте обережні"
MODEL_UNSURE = "Облава на ринку, забирають усіх чоловіків"
MODEL_TOPIC = "busification"  # what the shipped model finds in both
RULES_FIND = "Біля метро Лівобережна ТЦК роздають повістки"
TOPICS = ["szch", "busification", "enlistment_centre"]
# rules that surely miss MODEL_FINDS and MODEL_UNSURE, whatever the default keywords grow into
FEW_RULES = """
[topics]
szch = "СЗЧ"
busification = "Бусифікація"
enlistment_centre = "ТЦК"

[[rule]]
id = "szch-acronym"
topic = "szch"
terms = ["СЗЧ"]

[[rule]]
id = "busification-word"
topic = "busification"
terms = ["бусифікац*"]

[[rule]]
id = "tcc-acronym"
topic = "enlistment_centre"
terms = ["ТЦК"]
"""


@pytest.fixture(scope="session")
def few_rules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keywords") / "few.toml"
    path.write_text(FEW_RULES, encoding="utf-8")
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No config.env of the developer's and no archive: each test sets what it needs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOZOR_STORAGE", str(tmp_path / "storage"))
    monkeypatch.delenv("DOZOR_MODEL", raising=False)
    return tmp_path


def test_the_features_are_scikit_learns_char_ngrams_of_the_normalised_text():
    texts = [prepare(t) for t in ["Т.Ц.К пакують біля метро, пакують!", "povistky rozdaiut", "", "ТЦК ТЦК ТЦК"]]
    ours = vectorise(texts, prepared=True).matrix().toarray()
    theirs = counts(texts).toarray()
    ngrams = theirs.sum(axis=1, keepdims=True)
    assert np.allclose(ours * np.sqrt(np.maximum(ngrams, 1)), theirs)


def test_training_is_deterministic_byte_for_byte(tmp_path):
    examples = read_set(project_sets()[0])
    for name in ("one.npz", "two.npz"):
        save(train(examples, TOPICS, lambda e: ()), tmp_path / name, sets=[])
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()


def test_the_shipped_model_was_calibrated_beside_the_shipped_rules():
    recorded = load(SHIPPED_MODEL).meta["training"]["keywords"]
    assert recorded == {"name": EXAMPLE_KEYWORDS.name, "sha256": file_sha256(EXAMPLE_KEYWORDS)}, (
        "keywords.example.toml changed since the shipped model was trained: its thresholds are set where "
        "the rules are silent, so retrain it: dozor keywords train --keywords keywords.example.toml --without-labels")


@pytest.mark.skipif(find_shared() is None, reason="the shared development set is not beside this checkout")
def test_dozor_keywords_train_reproduces_the_shipped_model(isolated, capsys):
    output = isolated / "model.npz"
    assert dozor(["keywords", "train", "--keywords", str(EXAMPLE_KEYWORDS), "--without-labels",
                  "--output", str(output)]) == 0
    assert output.read_bytes() == SHIPPED_MODEL.read_bytes()
    meta = load(output).meta
    assert [s["name"] for s in meta["training"]["sets"]] == [
        "heldout_messages.jsonl", "labelled_messages.jsonl", "patterns_messages.jsonl", "dev_messages.jsonl"]


def test_training_without_the_shared_set_says_where_it_looked(isolated, capsys):
    missing = isolated / "nowhere" / "dev_messages.jsonl"
    assert dozor(["keywords", "train", "--keywords", str(EXAMPLE_KEYWORDS), "--shared", str(missing),
                  "--output", str(isolated / "m.npz")]) == 2
    error = capsys.readouterr().err
    assert str(missing) in error and "--without-shared" in error
    assert not (isolated / "m.npz").exists()


def test_the_model_adds_what_no_rule_found_and_never_removes_a_rules_hit(few_rules):
    rules = load_rules(few_rules)
    classifier = Classifier.load(SHIPPED_MODEL)
    texts = [MODEL_FINDS, MODEL_UNSURE, RULES_FIND]
    plain = [match(rules, t) for t in texts]
    found, unsure, ruled = classifier.second_opinion(list(zip(texts, plain)))
    assert plain[0].topics == [] and found.topics == [MODEL_TOPIC]
    [hit] = found.matches
    assert hit.rule == "model" and hit.term.startswith("found by the model, like these labelled examples: «")
    assert unsure.topics == [] and unsure.review == [MODEL_TOPIC] and unsure.opinions[0].like
    assert ruled.matches[: len(plain[2].matches)] == plain[2].matches


def test_dozor_check_shows_the_model_and_its_evidence(isolated, capsys, few_rules):
    assert dozor(["check", MODEL_FINDS, "--keywords", str(few_rules)]) == 0
    out = capsys.readouterr().out
    assert "found by the model" in out and "like these labelled examples" in out
    source = isolated / "in.jsonl"
    source.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in
                                enumerate([MODEL_FINDS, MODEL_UNSURE, RULES_FIND])), encoding="utf-8")
    assert dozor(["check", "--jsonl", str(source), "--keywords", str(few_rules)]) == 0
    found, unsure, ruled = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert found["topics"] == [MODEL_TOPIC] and found["rules"] == []
    assert found["model"][0]["found"] is True and found["model"][0]["like"]
    assert unsure["topics"] == [] and unsure["review"] == [MODEL_TOPIC]
    assert ruled["rules"] and ruled["topics"] == ["enlistment_centre"]
    [evidence] = ruled["evidence"]
    assert RULES_FIND[slice(*evidence["span"])] == "ТЦК" and evidence["rule"] == ruled["rules"][0]


@pytest.mark.parametrize("content", [None, b"not a zip", b"PK\x03\x04broken"])
def test_a_missing_or_broken_model_file_is_named_and_check_goes_on_with_the_rules(isolated, monkeypatch, capsys,
                                                                                 content):
    path = isolated / "model.npz"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("DOZOR_MODEL", str(path))
    with pytest.raises(ModelError, match=str(path)):
        Classifier.load(path)
    assert dozor(["check", RULES_FIND, "--keywords", str(EXAMPLE_KEYWORDS)]) == 0
    captured = capsys.readouterr()
    assert str(path) in captured.err and "rules only" in captured.err
    assert "rule 'tcc-acronym'" in captured.out or "rule 'tcc-summons'" in captured.out


def test_a_model_file_with_a_pickle_inside_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, meta=np.array([{"format": 1}], dtype=object))
    with pytest.raises(ModelError, match=str(path)):
        Classifier.load(path)


def test_a_model_made_for_other_features_is_refused(tmp_path):
    stored = load(SHIPPED_MODEL)
    meta = dict(stored.meta, features={"analyzer": "word"})
    arrays = {"bias": stored.bias, "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for column, topic in enumerate(stored.topics):
        index = np.flatnonzero(stored.weights[:, column])
        arrays[f"index_{topic}"], arrays[f"weight_{topic}"] = index, stored.weights[index, column]
    np.savez(tmp_path / "other.npz", **arrays)
    with pytest.raises(ModelError, match="other features"):
        Classifier.load(tmp_path / "other.npz")


async def test_the_service_archives_model_hits_and_reviews(fake, run_service, few_rules):
    city = fake.add_channel(username="kyiv_city_chat", title="Київ чат", megagroup=True)
    async with run_service(chats=("@kyiv_city_chat",), keywords=few_rules) as running:
        await running.settled()
        found = fake.post(city, MODEL_FINDS)
        unsure = fake.post(city, MODEL_UNSURE)
        await eventually(lambda: running.service.coverage.checkpoint(city.marked_id) == unsure.id, "both posts")
        archive = running.service.archive
        stored = await archive.message(city.marked_id, found.id)
        assert [(m["topic"], m["rule"]) for m in stored["matches"]] == [(MODEL_TOPIC, "model")]
        assert stored["matched"] == 1
        reviewed = await archive.message(city.marked_id, unsure.id)
        assert reviewed["matched"] == 0 and reviewed["matches"] == []
        rows = await archive.rows("SELECT topic FROM model_reviews")
        assert [r.topic for r in rows] == [MODEL_TOPIC]


async def test_the_service_keeps_matching_with_the_rules_when_the_model_file_is_broken(
        fake, run_service, tmp_path, caplog):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"garbage")
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    with caplog.at_level(logging.ERROR, logger="dozor.model"):
        async with run_service(chats=("@kyiv_news",), model=str(broken)) as running:
            await running.settled()
            hit = fake.post(news, RULES_FIND)
            await eventually(lambda: running.service.archive.message(news.marked_id, hit.id), "the rules' hit")
    assert any(str(broken) in r.getMessage() and "rules only" in r.getMessage() for r in caplog.records)


def test_second_opinion_is_none_when_off(caplog):
    assert second_opinion("off") is None
