"""Users who write English get English: language detection, English responses, English
policy facts with the same figures as the Chinese, English supplier and expert replies."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from bot.channels.common import rejection_for_user_text
from bot.knowledge.base import KnowledgeBase, format_answer
from bot.language import CHINESE, ENGLISH, detect_language, payload_with_language
from bot.messages import placeholders
from bot.platform.english import english_label, english_place, with_chinese_terms
from bot.platform.publishing import parse_region_preference
from bot.platform.replies import expert_reply, supplier_category_buttons, supplier_reply
from bot.settings import get_settings
from tests.platform_fixtures import read_export

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
KB_PATH = ROOT / "knowledge" / "policies.yml"
LATIN = re.compile(r"[A-Za-z]")
HAN = re.compile(r"[\u3400-\u9fff]")


def latin_share(text: str) -> float:
    """Latin letters among letters and Chinese characters (what reads as English)."""
    latin, han = len(LATIN.findall(text)), len(HAN.findall(text))
    return latin / (latin + han) if latin + han else 0.0


def is_english_variation(variation: Dict[str, Any]) -> bool:
    return any(c.get("type") == "slot" and c.get("name") == "language" and c.get("value") == ENGLISH
               for c in variation.get("condition") or [])


# --------------------------------------------------------------------------- detection

@pytest.mark.parametrize("text", [
    "What can you do?", "I need suppliers of aluminium wheels in Chongqing", "hello", "Thanks!",
    "I need 铝合金轮毂 suppliers in Chongqing with IATF 16949",
])
def test_english_messages_are_read_as_english(text):
    assert detect_language(text) == ENGLISH


@pytest.mark.parametrize("text", [
    "川渝联合研发项目支持哪些方向", "要有IATF 16949认证的", "找PCB板厂家", "那四川呢", "我们需要5G通信模组，ok吗",
])
def test_chinese_messages_are_read_as_chinese(text):
    assert detect_language(text) == CHINESE


@pytest.mark.parametrize("text", ["16949", "IATF 16949", "OK", "ok", "/greet", "", "13800000000", "👍",
                                  "asdkjh qwe zxcvb", "qwxz plmk vbnr", "fdsa rewq", "jjjjjjjj"])
def test_messages_that_show_no_language_keep_the_current_one(text):
    """Numbers, acronyms, payloads, and letters typed at random."""
    assert detect_language(text) is None


@pytest.mark.parametrize("text", ["What's the weather like tomorrow?", "Tell me a joke", "Bosch brake calipers"])
def test_english_words_the_assistant_never_saw_are_still_english(text):
    assert detect_language(text) == ENGLISH


def test_an_opening_payload_can_carry_the_language():
    assert payload_with_language("/greet", ENGLISH) == '/greet{"language":"en"}'
    assert payload_with_language("/greet", CHINESE) == "/greet"


# --------------------------------------------------------------------------- responses

def test_every_response_has_an_english_variation_matching_the_chinese():
    problems = []
    for name, variations in DOMAIN["responses"].items():
        chinese = [v for v in variations if not v.get("condition")]
        english = [v for v in variations if is_english_variation(v)]
        if len(chinese) != 1 or len(english) != 1:
            problems.append(f"{name}: {len(chinese)} default and {len(english)} English variations")
            continue
        zh, en = chinese[0], english[0]
        if placeholders(zh["text"]) != placeholders(en["text"]):
            problems.append(f"{name}: English fills {placeholders(en['text'])}, Chinese {placeholders(zh['text'])}")
        zh_buttons, en_buttons = zh.get("buttons") or [], en.get("buttons") or []
        if [b["payload"] for b in zh_buttons if b["payload"].startswith("/")] != [
                b["payload"] for b in en_buttons if b["payload"].startswith("/")] or len(zh_buttons) != len(en_buttons):
            problems.append(f"{name}: the English buttons do not do what the Chinese ones do")
        if latin_share(en["text"]) < 0.95 or any(HAN.search(b["title"]) for b in en_buttons):
            problems.append(f"{name}: the English variation is not English")
    assert not problems, "\n".join(problems)


def test_english_answer_buttons_do_not_switch_the_conversation_back_to_chinese():
    # A button's payload is sent as the user's message: in English it must read as English
    # (or as an intent payload), or pressing it would switch the language.
    for name, variations in DOMAIN["responses"].items():
        for variation in filter(is_english_variation, variations):
            for button in variation.get("buttons") or []:
                assert detect_language(button["payload"]) != CHINESE, (name, button)


def test_the_language_slot_is_filled_from_the_language_entity_and_steers_nothing_else():
    slot = DOMAIN["slots"]["language"]
    assert {"language": {"influence_conversation": False}} in DOMAIN["entities"]
    assert slot["influence_conversation"] is False
    assert slot["mappings"] == [{"type": "from_entity", "entity": "language"}]
    pipeline = [c["name"] for c in yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]]
    assert "bot.nlu.language.LanguageDetector" in pipeline


def test_every_skill_has_english_training_examples():
    chinese = {p.name for p in (ROOT / "data" / "nlu").glob("*.yml")} - {"entities.yml"}
    english = {p.name for p in (ROOT / "data" / "nlu" / "en").glob("*.yml")}
    assert chinese == english
    intents = set(DOMAIN["intents"])
    covered = set()
    for path in (ROOT / "data" / "nlu" / "en").glob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            examples = [line[2:] for line in block["examples"].splitlines() if line.startswith("- ")]
            assert len(examples) >= 7, block["intent"]
            assert all(detect_language(e) == ENGLISH for e in examples), block["intent"]
            covered.add(block["intent"])
    assert covered == intents


# --------------------------------------------------------------------------- policy facts

_CHINESE_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(万亿|亿|万)?")
_ENGLISH_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)(?:\s*(trillion|billion|million))?")
_MULTIPLIER = {"万": 1e4, "亿": 1e8, "万亿": 1e12, "million": 1e6, "billion": 1e9, "trillion": 1e12, None: 1, "": 1}
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]


def chinese_figures(text: str) -> Counter:
    return Counter(round(float(n) * _MULTIPLIER[unit], 3) for n, unit in _CHINESE_NUMBER.findall(text))


def english_figures(text: str) -> Counter:
    figures = Counter(round(float(n.replace(",", "")) * _MULTIPLIER[unit], 3)
                      for n, unit in _ENGLISH_NUMBER.findall(text))
    for word in re.findall(r"[A-Za-z]+", text):  # "29 June 2020" ↔ 2020年6月29日
        if word.lower() in _MONTHS and word[0].isupper():
            figures[float(_MONTHS.index(word.lower()) + 1)] += 1
    return figures


def test_figure_readers_understand_both_notations():
    assert chinese_figures("共同出资2000万元，基金总规模300亿元，产值近3000亿元") == Counter({2e7: 1, 3e10: 1, 3e11: 1})
    assert english_figures("20 million yuan, 30 billion yuan, nearly 300 billion yuan") == Counter(
        {2e7: 1, 3e10: 1, 3e11: 1})
    assert english_figures("On 29 June 2020, more than 30,000 experts") == chinese_figures(
        "2020年6月29日，3万余名专家")


def test_every_english_title_and_fact_carries_exactly_the_figures_of_the_chinese():
    knowledge_base = KnowledgeBase.load(KB_PATH)
    problems = []
    for entry in knowledge_base.entries:
        assert entry.title_en and len(entry.facts_en) == len(entry.facts), entry.id
        pairs = [(entry.title, entry.title_en), *zip(entry.facts, entry.facts_en, strict=True)]
        for chinese, english in pairs:
            if chinese_figures(chinese) != english_figures(english):
                problems.append(f"{entry.id}: {chinese_figures(chinese)} ≠ {english_figures(english)}\n  {english}")
            if latin_share(english) < 0.95:
                problems.append(f"{entry.id}: not English: {english}")
    assert not problems, "\n".join(problems)


def test_a_translation_with_a_wrong_figure_is_caught():
    assert chinese_figures("共同出资2000万元对项目进行支持") != english_figures("jointly provide 200 million yuan")


@pytest.mark.parametrize("question, entry_id, figure", [
    ("How big is the twin-city development fund?", "chengyu-development-fund", "30 billion yuan"),
    ("Which fields does the Sichuan-Chongqing joint R&D programme support?", "joint-rd-programme",
     "20 million yuan"),
    ("How many cars did Chongqing produce in 2019?", "auto-industry-figures-2019", "1.38 million vehicles"),
    ("When was the summit in Yibin held and what was agreed?", "electronics-corridor", "29 October 2020"),
    ("How many experts are shared between the expert databases?", "expert-database-sharing", "30,000"),
    ("Does the development fund invest in new infrastructure?", "chengyu-development-fund", "new infrastructure"),
])
def test_english_policy_questions_get_the_english_facts(question, entry_id, figure):
    matches = KnowledgeBase.load(KB_PATH).search(question)
    assert matches and matches[0].entry.id == entry_id
    answer = format_answer(matches[0].entry, ENGLISH)
    assert figure in answer and "Source: Chongqing Daily" in answer
    assert latin_share(answer) >= 0.95


def test_english_questions_the_knowledge_base_does_not_cover_find_nothing():
    knowledge_base = KnowledgeBase.load(KB_PATH)
    for question in ("What's the weather like in Chengdu today?", "What can you do?", "Tell me a joke"):
        assert knowledge_base.search(question) == [], question


def test_chinese_answers_stay_chinese():
    entry = KnowledgeBase.load(KB_PATH).by_id["joint-rd-programme"]
    assert "2000万元" in format_answer(entry) and "来源：重庆日报" in format_answer(entry)


# --------------------------------------------------------------------------- matching

def test_english_names_of_data_terms_are_read_as_the_chinese_terms():
    assert with_chinese_terms("aluminium wheels in Chongqing") == "铝合金轮毂 in 重庆"
    assert with_chinese_terms("Aluminum-Wheels near CHENGDU") == "铝合金轮毂 near 成都"
    assert with_chinese_terms("brake calipers only in Bishan") == "制动卡钳 只要 璧山区"
    # whole words only: "seats" is a product, "seatsXYZ" and "overseats" are not
    assert with_chinese_terms("overseats seatsXYZ") == "overseats seatsXYZ"
    # one of a kind as well as several: the glossary's plural names read in the singular too
    assert with_chinese_terms("brake caliper suppliers in Sichuan") == "制动卡钳 供应商 in 四川"
    assert with_chinese_terms("a seat maker, a battery vendor") == "a 汽车座椅 供应商, a 动力电池 供应商"
    assert with_chinese_terms("when was the fund set up") == "when was the fund set up"  # "sets" is a unit
    assert parse_region_preference("Sichuan") == "四川" and parse_region_preference("anywhere") == "不限"


def test_every_place_category_and_product_of_the_demo_data_has_an_english_label():
    rows = read_export()
    terms = {r["category"] for r in rows["products"]} | {r["name"] for r in rows["products"]}
    terms |= {f for r in rows["experts"] for f in r["fields"].split(";") if f}
    terms |= {a for r in rows["experts"] for a in r["research_areas"].split(";") if a}
    terms |= {r["title"] for r in rows["experts"]}
    missing = sorted(t for t in terms if HAN.search(english_label(t)))
    assert not missing
    places = {r["city"] for r in rows["companies"]} | {r["district"] for r in rows["companies"]}
    assert not [p for p in places if HAN.search(english_place(p))]
    assert english_place("巴南区") == "Banan District"


def test_an_english_supplier_search_finds_the_chinese_data_and_answers_in_english(demo_index):
    result = demo_index.find_suppliers("I need suppliers of aluminium wheels in Chongqing", None, ENGLISH)
    assert result.matches and all(m.product_name == "铝合金轮毂" and m.region == "重庆" for m in result.matches)
    reply = supplier_reply(result, ENGLISH)
    assert reply.text.startswith("Found ") and "aluminium alloy wheels, Chongqing" in reply.text
    reasons = reply.custom["items"][0]["reasons"]
    assert any(reason.startswith("Location:") and "Chongqing" in reason for reason in reasons)
    assert latin_share(reply.text) >= 0.6
    assert all(not HAN.search(button["title"]) for button in reply.buttons)
    # the same request in Chinese is answered in Chinese
    chinese = supplier_reply(demo_index.find_suppliers("我们需要重庆的铝合金轮毂供应商"))
    assert chinese.text.startswith("为您找到") and latin_share(chinese.text) < 0.3


def test_an_english_expert_search_answers_in_english(demo_index):
    result = demo_index.find_experts("Find 3 experts in computer vision", None, ENGLISH)
    assert len(result.matches) == 3
    reply = expert_reply(result, ENGLISH)
    assert "Research areas: Computer vision" in reply.text and "Contact " in reply.buttons[0]["title"]


def test_english_clarification_buttons_are_english_and_search_the_chinese_data():
    buttons = supplier_category_buttons(ENGLISH)
    assert buttons[0]["title"] == "Wheel hubs" and "轮毂" in buttons[0]["payload"]


def test_a_channel_refuses_an_english_message_in_english():
    limit = get_settings().max_user_message_chars
    assert rejection_for_user_text("word " * limit).startswith("Your message is too long")
    assert "消息过长" in rejection_for_user_text("字" * (limit + 1))
