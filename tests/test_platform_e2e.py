"""Matching and publishing through the running assistant (Rasa server + action server)."""
from __future__ import annotations

import uuid

import pytest

from tests.helpers import send_rest


def _texts(replies) -> str:
    return "\n".join(m.get("text", "") for m in replies)


def _button(replies, title_part: str) -> str:
    """The payload of the offered button whose title contains ``title_part``."""
    buttons = [b for m in replies for b in (m.get("buttons") or [])]
    return next(b["payload"] for b in buttons if title_part in b.get("title", ""))


def _custom(replies, kind: str):
    return next(m["custom"] for m in replies if isinstance(m.get("custom"), dict) and m["custom"].get("type") == kind)


def test_supplier_request_then_refinement(assistant):
    replies = send_rest(assistant, "platform-e2e-1", "我们需要重庆的铝合金轮毂供应商，要有IATF 16949")
    cards = _custom(replies, "supplier_matches")["items"]
    assert len(cards) >= 5 and all(card["region"] == "重庆" for card in cards[:5])
    assert cards[0]["name"] in _texts(replies) and "IATF 16949" in _texts(replies)

    refined = send_rest(assistant, "platform-e2e-1", "只要重庆的")
    assert {card["region"] for card in _custom(refined, "supplier_matches")["items"]} == {"重庆"}


def test_unseen_phrasing_with_colloquial_words(assistant):
    replies = send_rest(assistant, "platform-e2e-2", "请问哪家厂子能供刹车卡钳？最好在四川，有16949")
    cards = _custom(replies, "supplier_matches")["items"]
    assert cards and "制动卡钳" in cards[0]["reasons"][0]


def test_expert_panel_with_conflict_avoidance_and_contact_request(assistant):
    replies = send_rest(assistant, "platform-e2e-3", "我们是重庆大学的，需要五位智能制造方向的评审专家")
    cards = _custom(replies, "expert_matches")["items"]
    assert len(cards) == 5 and "重庆大学" not in {card["organization"] for card in cards}
    assert "@" not in _texts(replies)
    asked = send_rest(assistant, "platform-e2e-3", "帮我联系第一位专家")
    assert "姓名" in _texts(asked)  # who is asking, so staff can arrange it
    contact = send_rest(assistant, "platform-e2e-3", "张伟 13800000000")
    if "联络请求" not in _texts(contact):  # the organisation, when not yet known
        contact = send_rest(assistant, "platform-e2e-3", "重庆大学")
    assert "联络请求" in _texts(contact) and cards[0]["name"] in _texts(contact)


def test_publishing_a_demand_through_the_form(assistant):
    sender = "platform-e2e-4"
    assert "什么产品" in _texts(send_rest(assistant, sender, "我要发布采购需求"))
    send_rest(assistant, sender, "制动盘")
    send_rest(assistant, sender, "2万件")
    send_rest(assistant, sender, "重庆")
    send_rest(assistant, sender, "三个月内")
    summary = send_rest(assistant, sender, "李经理 13912345678")
    assert "请确认" in _texts(summary) and "制动盘" in _texts(summary)
    replies = send_rest(assistant, sender, _button(summary, "确认"))
    assert "已发布" in _texts(replies)
    assert _custom(replies, "supplier_matches")["items"]


@pytest.mark.parametrize("opening, next_question", [
    ("我要发个采购单，买两万个刹车盘", "所在地"),
    ("帮我们登记一条求购信息：三千套汽车座椅，供应商最好在四川", "什么时候"),  # the region was given too
    ("我们想提交采购需求，8000个轮毂轴承，下个月要", "所在地"),
])
def test_an_opening_message_that_names_product_and_quantity_skips_those_questions(assistant, opening, next_question):
    replies = send_rest(assistant, f"platform-e2e-open-{uuid.uuid4().hex[:8]}", opening)
    text = _texts(replies)
    assert next_question in text, text  # a demand to publish: what it said is not asked again
    assert "家符合" not in text  # not answered as a supplier search
