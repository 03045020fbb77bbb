"""The keywords file: mistakes reported with their line, live reload, `dozor check`, `dozor keywords test`."""
import asyncio
import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from bot.cli import main as dozor
from bot.matching import RulesError, load_rules, parse_rules, run_examples
from bot.rules_reload import RulesHolder

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "keywords.example.toml"

GOOD = '''[topics]
szch = "СЗЧ"

[[rule]]
id = "szch-core"
topic = "szch"
terms = ["СЗЧ"]
must_match = ["пішов у СЗЧ"]
'''


def error_of(text: str) -> RulesError:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "keywords.toml")
    return caught.value


def test_the_example_file_loads_and_its_examples_pass():
    rules = load_rules(EXAMPLE)
    assert set(rules.topics) >= {"szch", "busification", "enlistment_centre"}
    ran, failures = run_examples(rules)
    assert ran > 40 and not failures, "\n".join(map(str, failures))
    assert all(any(e.rule == r.id for e in rules.examples) for r in rules.rules)


def test_unknown_key_names_line_rule_and_the_keys_expected():
    error = error_of(GOOD.replace('terms = ["СЗЧ"]', 'terms = ["СЗЧ"]\nrequries = ["ТЦК"]'))
    assert str(error).startswith("keywords.toml:8: unknown key 'requries' in rule 'szch-core' (did you mean 'requires'?")
    assert "expected one of" in str(error)


def test_bad_pattern_names_its_line():
    error = error_of(GOOD.replace('terms = ["СЗЧ"]', 'terms = [\n  "СЗЧ",\n  "п*",\n]'))
    assert error.line == 9 and "'п*'" in error.problem and "at least 3 letters" in error.problem
    error = error_of(GOOD.replace('"СЗЧ"]\nmust', '"втік ~x з частини"]\nmust'))
    assert error.line == 7 and "~N" in error.problem


def test_duplicate_id_unknown_group_wrong_type_and_syntax():
    twice = GOOD + '\n[[rule]]\nid = "szch-core"\ntopic = "szch"\nterms = ["дезертир"]\n'
    assert str(error_of(twice)).startswith("keywords.toml:11: duplicate rule id 'szch-core'")
    group = GOOD.replace('terms = ["СЗЧ"]', 'terms = ["СЗЧ"]\nchats = ["locl"]') + ""
    group = group.replace("[[rule]]", '[groups]\nlocal = ["@kyiv_chat"]\n\n[[rule]]')
    error = error_of(group)
    assert error.line == 11 and "unknown group 'locl'" in error.problem and "'local'" in error.problem
    assert error_of(GOOD.replace('terms = ["СЗЧ"]', 'terms = ["СЗЧ"]\nenabled = "no"')).line == 8
    assert error_of(GOOD.replace('topic = "szch"', 'topic = "szhc"')).line == 6
    syntax = error_of(GOOD.replace('terms = ["СЗЧ"]', 'terms = ["СЗЧ"'))
    assert syntax.line is not None and str(syntax).startswith(f"keywords.toml:{syntax.line}: not valid TOML")


async def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def save(path: Path, text: str) -> None:
    # Bump the mtime explicitly: two saves within one clock tick must still look different.
    path.write_text(text, encoding="utf-8")
    stamp = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


async def test_holder_picks_up_a_saved_change_and_keeps_old_rules_on_a_broken_file(tmp_path, caplog):
    path = tmp_path / "keywords.toml"
    path.write_text(GOOD, encoding="utf-8")
    holder = RulesHolder.load(path)
    first = holder.current
    async with asyncio.TaskGroup() as tasks:
        watcher = tasks.create_task(holder.watch(interval=0.05))
        save(path, GOOD.replace('terms = ["СЗЧ"]', 'terms = ["СЗЧ", "дезертир"]'))
        await wait_for(lambda: holder.current is not first)
        assert len(holder.current.rule("szch-core").terms) == 2

        good = holder.current
        with caplog.at_level(logging.ERROR, logger="dozor.keywords"):
            save(path, GOOD.replace("terms", "termz"))
            await wait_for(lambda: any("keywords.toml:7" in r.getMessage() for r in caplog.records))
        assert holder.current is good
        watcher.cancel()


def test_holder_load_raises_on_a_broken_file(tmp_path):
    path = tmp_path / "keywords.toml"
    path.write_text(GOOD.replace("[topics]", "[topics"), encoding="utf-8")
    with pytest.raises(RulesError):
        RulesHolder.load(path)


def test_dozor_check_prints_topic_rule_and_highlight(capsys):
    assert dozor(["check", "Увага, Т.Ц.К пакують біля метро", "--keywords", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "enlistment_centre" in out and "'tcc-acronym'" in out
    assert "Увага, [[Т.Ц.К]] пакують біля метро" in out
    assert "busification" in out and "[[пакують]]" in out


def test_dozor_check_with_a_chat(capsys):
    text = "пікселі на Оболонській набережній"
    assert dozor(["check", text, "--keywords", str(EXAMPLE)]) == 0
    assert "no match" in capsys.readouterr().out
    assert dozor(["check", text, "--keywords", str(EXAMPLE), "--chat", "@kyiv_obolon_chat"]) == 0
    assert "'tcc-slang-local'" in capsys.readouterr().out


def test_dozor_check_jsonl(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "повiстки роздають біля ТРЦ"}\n{"id": "b", "text": "повістка дня"}\n',
                      encoding="utf-8")
    assert dozor(["check", "--jsonl", str(source), "--keywords", str(EXAMPLE)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # the model's fields are tested with the model (test_model.py)
    assert [{k: line[k] for k in ("id", "topics", "rules")} for line in lines] == [
        {"id": 1, "topics": ["enlistment_centre"], "rules": ["tcc-summons"]},
        {"id": "b", "topics": [], "rules": []}]


def test_dozor_check_jsonl_names_the_lines_it_could_not_check(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "СЗЧ"}\nnot json\n{"id": 3}\n', encoding="utf-8")
    assert dozor(["check", "--jsonl", str(source), "--keywords", str(EXAMPLE)]) == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == [1]
    assert f"{source}:2:" in captured.err and f"{source}:3:" in captured.err
    assert dozor(["check", "--jsonl", str(tmp_path / "missing.jsonl"), "--keywords", str(EXAMPLE)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_dozor_check_reports_a_broken_keywords_file(tmp_path, capsys):
    path = tmp_path / "keywords.toml"
    path.write_text(GOOD.replace('topic = "szch"', 'topic = "szch"\ntopik = 1'), encoding="utf-8")
    assert dozor(["check", "СЗЧ", "--keywords", str(path)]) == 2
    assert f"{path}:7: unknown key 'topik'" in capsys.readouterr().err


def test_dozor_keywords_test(tmp_path, capsys):
    assert dozor(["keywords", "test", "--keywords", str(EXAMPLE)]) == 0
    assert "examples pass" in capsys.readouterr().out

    path = tmp_path / "keywords.toml"
    path.write_text(GOOD.replace('must_match = ["пішов у СЗЧ"]',
                                 'must_match = ["пішов у СЗЧ", "став на лижі"]\nmust_not_match = ["СЗЧ знову"]'),
                    encoding="utf-8")
    assert dozor(["keywords", "test", "--keywords", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:8: rule 'szch-core' should match «став на лижі» but did not (nothing fired)" in out
    assert "«СЗЧ знову» should not match topic 'szch', got rule 'szch-core'" in out
    assert "2 of 3 examples failed" in out


def test_dozor_keywords_uses_the_configured_file(tmp_path, monkeypatch, capsys):
    shutil.copy(EXAMPLE, tmp_path / "kw.toml")
    monkeypatch.setenv("DOZOR_KEYWORDS", str(tmp_path / "kw.toml"))
    monkeypatch.chdir(tmp_path)
    assert dozor(["keywords", "test"]) == 0
    assert "kw.toml" in capsys.readouterr().out


def test_kinds_and_settings_mistakes_name_their_line():
    kinds = GOOD.replace("[[rule]]", '[kinds]\ncity = ["@kyiv_chat"]\n\n[[rule]]')
    error = error_of(kinds.replace('terms = ["СЗЧ"]', 'terms = ["СЗЧ"]\nkinds = ["ctiy"]'))
    assert error.line == 11 and "unknown kind 'ctiy'" in error.problem and "did you mean 'city'" in error.problem
    error = error_of(kinds.replace('city = ["@kyiv_chat"]', 'city = ["kyiv chat"]'))
    assert error.line == 5 and "'kyiv chat' is not a chat" in error.problem
    error = error_of('[settings]\ntypo_min_length = "seven"\n\n' + GOOD)
    assert error.line == 2 and "typo_min_length must be a whole number" in error.problem
    error = error_of('[settings]\nunknown_chat = "cty"\n\n' + GOOD)
    assert error.line == 2 and "unknown kind 'cty'" in error.problem
    error = error_of('[settings]\ntypo_length = 7\n\n' + GOOD)
    assert error.line == 2 and "did you mean 'typo_min_length'" in error.problem
    # A file written before kinds existed, with [groups] and chats = [group], still loads.
    assert parse_rules(GOOD.replace("[[rule]]", '[groups]\nlocal = ["@kyiv_chat"]\n\n[[rule]]')
                       .replace('terms = ["СЗЧ"]', 'terms = ["СЗЧ"]\nchats = ["local"]'))


def test_dozor_check_jsonl_reads_the_chat_of_each_line(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    lines = [{"id": 1, "text": "На Привозі знову пакують", "chat": "city"},
             {"id": 2, "text": "Зелені біля ТРЦ Караван, з боку зупинки", "chat": "news"},
             {"id": 3, "text": "Зелені біля ТРЦ Караван, з боку зупинки", "chat": "@kyiv_obolon_chat"},
             {"id": 4, "text": "Зелені біля ТРЦ Караван, з боку зупинки"}]
    source.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    assert dozor(["check", "--jsonl", str(source), "--keywords", str(EXAMPLE)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["topics"] for o in out] == [["busification"], [], ["busification", "enlistment_centre"], []]


def test_dozor_check_on_a_fresh_clone_uses_the_shipped_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no config.env, no keywords.toml here
    monkeypatch.delenv("DOZOR_KEYWORDS", raising=False)
    assert dozor(["check", "Т.Ц.К біля метро"]) == 0
    captured = capsys.readouterr()
    assert "enlistment_centre" in captured.out
    assert "keywords.example.toml" in captured.err and "DOZOR_KEYWORDS" in captured.err
