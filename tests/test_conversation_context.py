"""Conversations as companies hold them: follow-ups, constraints, honest answers.

The actions run with rasa_sdk's real dispatcher and a tracker carrying the slots the
previous turn set, as the action server sees them. The sentences here are not in the
training data or the knowledge base.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple

import pytest
from rasa_sdk.executor import CollectingDispatcher

from tests.support.responses import rendered
from tests.test_platform_actions import custom_payloads, make_tracker

Slots = Dict[str, Any]


def turn(action, text: str, slots: Optional[Slots] = None, *, intent: str = "",
         channel: str = "rest") -> Tuple[List[Dict[str, Any]], Slots]:
    """Run ``action`` on ``text``; return the messages as shown and the slots after the turn."""
    tracker = make_tracker(text, intent=intent, slots=slots)
    tracker.latest_message["input_channel"] = channel
    tracker.events.append({"event": "user", "text": text, "input_channel": channel})
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    after = dict(slots or {})
    after.update({e["name"]: e["value"] for e in events if e.get("event") == "slot"})
    return rendered(dispatcher.messages, after), after


def text_of(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages if m.get("text"))


def ask_policy(text: str, slots: Optional[Slots] = None) -> Tuple[str, Slots, List[Dict[str, Any]]]:
    from actions.policy import ActionAnswerPolicy

    messages, after = turn(ActionAnswerPolicy(), text, slots, intent="ask_policy")
    return text_of(messages), after, messages


# --------------------------------------------------------------------------- policy


def test_a_follow_up_without_the_programme_is_answered_from_the_last_entry():
    first, slots, _ = ask_policy("川渝两地联合实施的研发项目都聚焦什么")
    assert "川渝联合实施重点研发项目" in first
    second, slots, _ = ask_policy("总共拿出来多少", slots)
    assert "2000万元" in second and "知识库中没有找到" not in second
    assert slots["unanswered"] is None


def test_a_chain_of_follow_ups_about_the_fund_and_a_listed_sector():
    _, slots, _ = ask_policy("成渝双城经济圈发展基金总规模")
    sectors, slots, _ = ask_policy("主要往哪些行业投", slots)
    assert "集成电路" in sectors and "300亿元" not in sectors  # the sectors, not the whole entry again
    listed, slots, _ = ask_policy("那智慧城市算不算", slots)
    assert listed.splitlines()[1].startswith("是的") and "智慧城市" in listed
    absent, slots, _ = ask_policy("那房地产算不算", slots)
    assert "没有提到「房地产」" in absent and slots["unanswered"] == "partial"


def test_a_comparison_swaps_the_place_of_the_previous_question():
    chongqing, slots, _ = ask_policy("2019年重庆一年造了多少辆车")
    assert "138万辆" in chongqing
    sichuan, slots, _ = ask_policy("那四川呢", slots)
    assert "111.7万辆" in sichuan and "138万辆" not in sichuan


def test_a_new_explicit_topic_replaces_the_last_one():
    _, slots, _ = ask_policy("发展基金多大规模")
    other, slots, _ = ask_policy("科技专家库共享了多少名专家", slots)
    assert "川渝科技专家库开放共享合作协议" in other and slots["policy_topic"]["id"] == "expert-database-sharing"


def test_a_partly_answerable_question_says_what_the_material_does_not_cover_and_offers_staff():
    reply, slots, messages = ask_policy("这个发展基金民营的小公司能拿到投资吗，去哪里申请")
    assert "300亿元" in reply  # the part that can be answered
    assert "没有说明" in reply and "申请方式" in reply
    buttons = [b for m in messages for b in m.get("buttons") or []]
    assert any(b["payload"] == "/request_human" for b in buttons)
    assert slots["unanswered"] == "partial"


def test_a_colloquial_question_about_an_event_finds_it():
    reply, _, _ = ask_policy("宜宾开的那个峰会是哪天，都谈了些啥")
    assert reply.startswith("【成渝电子信息产业经济走廊（宜宾峰会）】") and "2020年10月29日" in reply


def test_an_unknown_policy_question_is_marked_not_found():
    reply, slots, _ = ask_policy("公积金贷款额度怎么算")
    assert "没有找到" in reply and slots["unanswered"] == "not_found"


def test_a_source_link_is_shown_when_the_knowledge_base_has_one(tmp_path):
    from bot.knowledge.base import KnowledgeBase, format_answer

    path = tmp_path / "kb.yml"
    path.write_text(
        "sources:\n  s:\n    name: 某报\n    authors: 记者\n    date: 2020-12\n"
        "    source_url: https://example.org/article\n"
        "entries:\n  - id: a\n    title: 某项目\n    facts: [某项目投资10亿元。]\n    source: s\n",
        encoding="utf-8")
    reply = format_answer(KnowledgeBase.load(path).by_id["a"])
    assert "https://example.org/article" in reply


# --------------------------------------------------------------------------- suppliers


def find_suppliers(text: str, slots: Optional[Slots] = None, channel: str = "rest"):
    from actions.matching import ActionFindSuppliers

    return turn(ActionFindSuppliers(), text, slots, intent="find_suppliers", channel=channel)


def refine(text: str, slots: Slots, channel: str = "rest"):
    from actions.matching import ActionRefineMatches

    return turn(ActionRefineMatches(), text, slots, intent="refine_matches", channel=channel)


def items_of(messages) -> List[Dict[str, Any]]:
    payloads = custom_payloads(messages)
    return payloads[0]["items"] if payloads else []


def test_places_joined_by_or_and_a_quantity_are_all_used_and_shown_back(platform_url):
    messages, slots = find_suppliers("我们要3万套汽车座椅，德阳或者成都的厂都可以")
    first_line = text_of(messages).splitlines()[0]
    assert "德阳或成都" in first_line and "年产能≥3万套" in first_line
    matches = [i for i in items_of(messages) if not i.get("alternative")]
    assert matches and {i["city"] for i in matches} <= {"成都", "德阳"}
    assert all(i["annual_capacity"] >= 30_000 for i in matches)


def test_a_place_ruled_out_stays_out(platform_url):
    messages, _ = find_suppliers("成都的先不考虑，四川别的城市有做轮毂的吗")
    items = items_of(messages)
    assert items and all(i["city"] != "成都" for i in items)
    assert all(i["region"] == "四川" for i in items if not i.get("alternative"))
    assert "不含成都" in text_of(messages).splitlines()[0]


def test_a_deadline_is_shown_back_with_what_the_data_cannot_say(platform_url):
    messages, _ = find_suppliers("找重庆的制动卡钳厂，月底前要货")
    text = text_of(messages)
    assert "月底前交货" in text.splitlines()[0] and "不含交货周期" in text


def test_a_product_not_in_the_data_is_said_plainly_and_alternatives_are_labelled(platform_url):
    messages, slots = find_suppliers("想问问有没有生产车载激光雷达的厂家")
    first_line = text_of(messages).splitlines()[0]
    assert "没有" in first_line and "激光雷达" in first_line
    items = items_of(messages)
    assert all(i["alternative"] is True and "激光雷达" in i["reason"] for i in items)
    assert slots["unanswered"] == "not_found"


def test_a_typo_gets_did_you_mean_not_a_category_menu(platform_url):
    messages, slots = find_suppliers("你们这有没有做轮谷的厂子")
    assert "您是不是要找「轮毂」" in text_of(messages)
    buttons = [b for m in messages for b in m.get("buttons") or []]
    assert buttons[0]["title"] == "轮毂" and len(buttons) == 2
    assert not items_of(messages)


def test_a_compound_product_lists_makers_of_the_head_product(platform_url):
    messages, _ = find_suppliers("帮我找新能源汽车动力电池包的供应商")
    items = items_of(messages)
    assert items and all(i["category"].startswith("新能源/动力电池") for i in items)


def test_numbering_runs_on_across_pages_and_the_end_is_said(platform_url):
    messages, slots = find_suppliers("重庆的铝合金轮毂供应商")
    first_page = [i["number"] for i in items_of(messages)]
    assert first_page == list(range(1, len(first_page) + 1)) and len(first_page) == 7  # 5 + 2 cross-region
    assert text_of(messages).count("家符合") == 1
    messages, slots = refine("更多", slots)
    assert [i["number"] for i in items_of(messages)][0] == 8
    assert "找到" not in text_of(messages)  # the count is given once
    for _ in range(30):
        messages, slots = refine("更多", slots)
        if not items_of(messages):
            break
    assert "没有更多" in text_of(messages) and not custom_payloads(messages)


def test_a_detail_of_an_item_of_the_last_list(platform_url):
    messages, slots = find_suppliers("重庆的铝合金轮毂供应商")
    second = items_of(messages)[1]
    messages, _ = refine("第二家的产能呢", slots)
    reply = text_of(messages)
    assert second["name"] in reply and "年产能" in reply and "认证" not in reply


def test_gibberish_after_a_list_is_not_read_as_a_refinement(platform_url):
    _, slots = find_suppliers("重庆的铝合金轮毂供应商")
    messages, after = refine("qwpoe zxmn", slots)
    assert "没有理解" in text_of(messages) and not custom_payloads(messages)
    assert after["unanswered"] == "fallback" and after["supplier_query"] == slots["supplier_query"]


def test_the_widget_gets_cards_and_text_channels_a_numbered_list_never_both(platform_url):
    widget, _ = find_suppliers("重庆的铝合金轮毂供应商", channel="socketio")
    texts = [m["text"] for m in widget if m.get("text")]
    names = [i["name"] for i in items_of(widget)]
    assert not any(name in text for text in texts for name in names)  # the list only as cards
    assert widget[-1].get("buttons")  # refinement buttons come after the cards
    text_channel, _ = find_suppliers("重庆的铝合金轮毂供应商", channel="telegram")
    assert all(name in text_channel[0]["text"] for name in names)


def test_a_policy_comparison_after_a_supplier_list_changes_the_place(platform_url):
    _, slots = find_suppliers("成都的汽车座椅厂")
    from actions.policy import ActionAnswerPolicy

    messages, after = turn(ActionAnswerPolicy(), "那德阳呢", slots, intent="ask_policy")
    assert items_of(messages) and {i["city"] for i in items_of(messages) if not i.get("alternative")} == {"德阳"}


@pytest.mark.parametrize("text", ["asdkjh qwe", "！！！"])
def test_fallback_marks_the_turn_unanswered(text):
    from actions.conversation import ActionFallback

    messages, slots = turn(ActionFallback(), text, {})
    assert "没有理解" in text_of(messages) and slots["unanswered"] == "fallback"


def test_out_of_scope_marks_the_turn_and_a_follow_up_in_its_clothes_is_answered():
    from actions.conversation import ActionOutOfScope

    messages, slots = turn(ActionOutOfScope(), "帮我订个酒店", {})
    assert "超出了我的服务范围" in text_of(messages) and slots["unanswered"] == "out_of_scope"
    _, slots, _ = ask_policy("成渝双城经济圈发展基金总规模")
    messages, slots = turn(ActionOutOfScope(), "那新能源算吗", slots)
    assert "是的" in text_of(messages) and slots["unanswered"] is None


def test_an_expert_field_not_in_the_data_is_said_plainly(platform_url):
    from actions.matching import ActionFindExperts

    messages, slots = turn(ActionFindExperts(), "想请几位搞区块链溯源的老师来评审", {}, intent="find_experts")
    first_line = text_of(messages).splitlines()[0]
    assert "没有找到" in first_line and "区块链" in first_line and slots["unanswered"] == "not_found"
