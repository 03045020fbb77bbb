"""Keyword matching: the keywords file → rules; a message → the topics it matches.

    from bot.matching import load_rules, match
    rules = load_rules(Path("keywords.toml"))
    result = match(rules, "ТЦК пакують біля метро", chat)
    result.topics, result.matches[0].rule, result.language
    match(rules, "пакують", kind="city")   # the kind of chat, when the caller knows it ([kinds] tells otherwise)

Everything here is pure: no I/O except load_rules reading the one file.
"""
from bot.matching.examples import ExampleFailure, run_examples
from bot.matching.matcher import match
from bot.matching.normalise import normalise
from bot.matching.rules import Rules, RulesError, load_rules, parse_rules

__all__ = ["ExampleFailure", "Rules", "RulesError", "load_rules", "match", "normalise", "parse_rules",
           "run_examples"]
