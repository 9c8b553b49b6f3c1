"""English conversations through the context, honesty and form logic: a user who writes
English gets the same follow-ups, plain "not in the data" answers, did-you-mean and
summary confirmation as a Chinese user, in English.

The actions run with rasa_sdk's real dispatcher and a tracker whose ``language`` slot
is English, as the NLU language component sets it.
"""
from __future__ import annotations

import re

from bot.knowledge.base import KnowledgeBase, format_answer
from bot.language import ENGLISH
from tests.support.responses import rendered, rendered_text
from tests.test_conversation_context import ask_policy, find_suppliers, items_of, text_of
from tests.test_english import KB_PATH, latin_share
from tests.test_platform_actions import demand_form, responses

EN = {"language": ENGLISH}
HAN = re.compile(r"[\u3400-\u9fff]")


def test_an_english_policy_answer_sets_the_topic_for_follow_ups():
    answer, slots, _ = ask_policy("How big is the Chengdu-Chongqing development fund?", EN)
    assert "30 billion yuan" in answer and "Source: Chongqing Daily" in answer
    assert latin_share(answer) >= 0.95
    assert slots["topic"] == "policy" and slots["policy_topic"]["id"] == "chengyu-development-fund"


def test_a_focused_follow_up_shows_the_english_of_just_the_chosen_facts():
    _, slots, _ = ask_policy("成渝双城经济圈发展基金总规模")
    sectors, _, _ = ask_policy("主要往哪些行业投", {**slots, **EN})
    assert "integrated circuits" in sectors and "new infrastructure" in sectors
    assert "30 billion" not in sectors  # the sectors, not the whole entry again
    assert latin_share(sectors) >= 0.95


def test_chosen_facts_are_shown_in_the_language_asked_for():
    entry = KnowledgeBase.load(KB_PATH).by_id["chengyu-development-fund"]
    chosen = [entry.facts[-1]]
    english = format_answer(entry, ENGLISH, chosen, lead="Yes, it is included:")
    assert entry.facts_en[-1] in english and "Yes, it is included:" in english
    assert not any(fact in english for fact in entry.facts_en[:-1])
    assert entry.facts[-1] in format_answer(entry, facts=chosen)


def test_a_typo_gets_did_you_mean_in_english(platform_url):
    messages, _ = find_suppliers("Do you have suppliers of 轮谷?", EN)
    text = text_of(messages)
    assert text.startswith("Did you mean") and "Wheel hubs" in text
    titles = [b["title"] for m in messages for b in m.get("buttons") or []]
    assert len(titles) == 2 and not any(HAN.search(t) for t in titles)
    assert not items_of(messages)


def test_a_product_not_in_the_data_is_said_plainly_in_english(platform_url):
    messages, slots = find_suppliers("Are there any makers of 车载激光雷达?", EN)
    first_line = text_of(messages).splitlines()[0]
    assert first_line.startswith("The platform data has no supplier of")
    assert slots["unanswered"] == "not_found"


def test_an_english_demand_summary_is_confirmed_and_changed_with_its_english_buttons(platform_url):
    deadline = "2027-03-31"
    filled = {"demand_product": "刹车卡钳", "demand_quantity": "5000件", "demand_region": "重庆",
              "demand_deadline": deadline, "demand_contact": "Zhang 13800000000",
              "requested_slot": "demand_confirmed", **EN}
    seen, slots, _ = demand_form("change", slots=filled)
    assert responses(seen) == ["utter_ask_demand_change"]
    buttons = rendered(seen, slots)[0]["buttons"]
    assert [b["title"] for b in buttons][:2] == ["Product", "Quantity"]
    seen, slots, _ = demand_form(buttons[3]["payload"], "2027-06-30", slots=filled)
    assert responses(seen) == ["utter_ask_demand_deadline", "utter_demand_summary"]
    summary = rendered(seen[-1:], slots)[0]
    assert "Please confirm your purchasing demand" in rendered_text(seen[-1:], slots)
    confirm = summary["buttons"][0]
    assert confirm["title"] == "Confirm and publish"
    _, slots, _ = demand_form(confirm["payload"], slots={**slots, "requested_slot": "demand_confirmed"})
    assert slots["demand_confirmed"] == "yes" and slots["demand_deadline"] == "2027-06-30"
