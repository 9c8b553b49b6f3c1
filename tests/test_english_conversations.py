"""English conversations through the REST webhook of the running assistant: a user who
writes English gets English (help, policy facts, supplier search, "not understood"),
and one who switches back to Chinese gets Chinese again."""
from __future__ import annotations

import re
from typing import Any, Dict, List

from tests.helpers import send_rest

LATIN = re.compile(r"[A-Za-z]")
HAN = re.compile(r"[\u3400-\u9fff]")


def text_of(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in replies)


def latin_share(text: str) -> float:
    latin, han = len(LATIN.findall(text)), len(HAN.findall(text))
    return latin / (latin + han) if latin + han else 0.0


def assert_english(replies: List[Dict[str, Any]]) -> str:
    text = text_of(replies)
    assert text and latin_share(text) >= 0.6, text
    titles = [b["title"] for m in replies for b in m.get("buttons") or []]
    assert not [t for t in titles if HAN.search(t)], titles
    return text


def test_what_can_you_do_gets_the_english_capability_summary(assistant):
    text = assert_english(send_rest(assistant, "english-help", "What can you do?"))
    assert "suppliers" in text and "policies" in text.lower()


def test_an_english_policy_question_gets_the_english_facts_with_their_source(assistant):
    text = assert_english(send_rest(assistant, "english-policy",
                                    "How much money do Sichuan and Chongqing put into the joint R&D projects?"))
    assert "20 million yuan" in text and "Source: Chongqing Daily" in text


def test_an_english_supplier_search_gets_english_results_from_the_chinese_data(assistant):
    replies = send_rest(assistant, "english-suppliers", "I need suppliers of aluminium wheels in Chongqing")
    text = assert_english(replies)
    assert "aluminium alloy wheels" in text and "Chongqing" in text
    cards = next(m["custom"] for m in replies if isinstance(m.get("custom"), dict))
    assert cards["type"] == "supplier_matches" and cards["items"]
    assert all(card["region"] == "重庆" for card in cards["items"][:5])
    assert all(reason and not HAN.search(reason.split(":")[0]) for reason in cards["items"][0]["reasons"])


def test_gibberish_from_an_english_user_is_not_understood_in_english(assistant):
    send_rest(assistant, "english-gibberish", "Hello there")
    text = assert_english(send_rest(assistant, "english-gibberish", "asdkjh qwe zxcvb"))
    assert "did not understand" in text or "Sorry" in text


def test_the_language_follows_the_user_both_ways(assistant):
    sender = "english-switch"
    assert_english(send_rest(assistant, sender, "Hi, I have a question"))
    chinese = text_of(send_rest(assistant, sender, "川渝联合研发项目支持哪些领域"))
    assert "2000万元" in chinese and latin_share(chinese) < 0.2
    english = text_of(send_rest(assistant, sender, "How big is the development fund?"))
    assert "30 billion yuan" in english
