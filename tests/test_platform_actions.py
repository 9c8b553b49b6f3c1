"""The matching and publishing actions with rasa_sdk's real dispatcher and tracker."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot.platform.db import session_scope
from bot.platform.models import Expert, ExpertContactRequest, PublishedDemand, RegisteredProduct
from tests.support.responses import rendered, rendered_text

SUPPLIER_KEYS = {"number", "company_id", "name", "product_id", "product_name", "category", "region", "city",
                 "district", "certifications", "annual_capacity", "unit", "reasons"}
ALTERNATIVE_KEYS = {"alternative", "reason"}
EXPERT_KEYS = {"number", "expert_id", "name", "title", "organization", "reasons"}


def make_tracker(text: str, *, intent: str = "", slots: Optional[Dict[str, Any]] = None,
                 entities: Optional[List[Dict[str, Any]]] = None, sender: str = "user-1") -> Tracker:
    return Tracker(sender, dict(slots or {}), {"text": text, "intent": {"name": intent, "confidence": 1.0},
                                               "entities": entities or []},
                   [], False, None, {}, "action_listen")


def run(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    result = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, {e["name"]: e["value"] for e in result if e.get("event") == "slot"}, result


def call(method, *args):
    """Run a form validator's ``validate_<slot>`` / ``extract_<slot>`` method."""
    return asyncio.run(method(*args))


def custom_payloads(messages) -> List[Dict[str, Any]]:
    return [m["custom"] for m in messages if m.get("custom")]


def test_supplier_request_answers_with_text_and_cards(platform_url):
    from actions.matching import ActionFindSuppliers

    messages, slots, _ = run(ActionFindSuppliers(), make_tracker("我们需要重庆的铝合金轮毂供应商，要有IATF 16949"))
    payload = custom_payloads(messages)[0]
    assert payload["type"] == "supplier_matches"
    assert len(payload["items"]) == 7 and all(set(item) - ALTERNATIVE_KEYS == SUPPLIER_KEYS
                                              for item in payload["items"])
    assert [i["region"] for i in payload["items"][:5]] == ["重庆"] * 5
    assert not any("alternative" in item for item in payload["items"][:5])
    # Suppliers outside the requested place are labelled as alternatives, with the reason.
    assert payload["items"][5]["reasons"][0].startswith("跨区域推荐")
    assert payload["items"][5]["alternative"] is True and "四川" in payload["items"][5]["reason"]
    assert [item["number"] for item in payload["items"]] == [1, 2, 3, 4, 5, 6, 7]
    text = messages[0]["text"]
    for item in payload["items"]:
        assert item["name"] in text  # the same list as text, for WeChat and Telegram
    assert "IATF 16949" in text and slots["matching_kind"] == "supplier"

    from actions.matching import ActionRefineMatches

    refined, _, _ = run(ActionRefineMatches(), make_tracker("只要重庆的", slots=slots))
    items = custom_payloads(refined)[0]["items"]
    assert len(items) == 5 and {i["region"] for i in items} == {"重庆"}


def test_asking_for_a_suppliers_phone_number_gets_the_ways_to_connect(platform_url):
    from actions.matching import ActionFindSuppliers

    _, slots, _ = run(ActionFindSuppliers(), make_tracker("重庆的铝合金轮毂供应商"))
    messages, _, _ = run(ActionFindSuppliers(), make_tracker("这些供应商的联系方式是多少", slots=slots))
    [shown] = rendered(messages)
    assert "不在对话中提供" in shown["text"]
    assert [b["payload"] for b in shown["buttons"]] == ["/publish_demand", "/request_human"]


def test_vague_request_asks_one_question_with_buttons_then_keeps_the_place(platform_url):
    from actions.matching import ActionFindSuppliers

    messages, slots, _ = run(ActionFindSuppliers(), make_tracker("帮我找几家重庆的供应商"))
    assert len(messages) == 1 and len(messages[0]["buttons"]) >= 5 and not custom_payloads(messages)
    assert rendered_text(messages).startswith("请问您要找哪类产品的供应商？")
    wheel_button = next(b for b in messages[0]["buttons"] if "轮毂" in b["title"])
    assert len(wheel_button["payload"].encode()) <= 64  # fits Telegram's callback data

    clicked = make_tracker(wheel_button["payload"], slots=slots, entities=[{"entity": "match_text", "value": "轮毂"}])
    answer, _, _ = run(ActionFindSuppliers(), clicked)
    items = custom_payloads(answer)[0]["items"]
    assert items and all(i["region"] == "重庆" for i in items[:5])


def test_expert_request_avoids_own_organisation_and_contact_request_reaches_staff(platform_url):
    from actions.matching import ActionFindExperts, ActionRequestExpertContact

    messages, slots, _ = run(ActionFindExperts(), make_tracker("我们是重庆大学的，需要五位智能制造方向的评审专家"))
    payload = custom_payloads(messages)[0]
    assert payload["type"] == "expert_matches" and len(payload["items"]) == 5
    assert all(set(item) == EXPERT_KEYS for item in payload["items"])
    assert "重庆大学" not in {item["organization"] for item in payload["items"]}
    chosen = payload["items"][1]
    with session_scope(platform_url) as session:
        email = session.get(Expert, chosen["expert_id"]).email
    assert email not in json.dumps(messages, ensure_ascii=False)

    reply, _, _ = run(ActionRequestExpertContact(), make_tracker("帮我联系第二位专家", slots=slots, sender="wx-42"))
    confirmation = rendered_text(reply)
    assert "编号" in confirmation and chosen["name"] in confirmation and email not in confirmation
    with session_scope(platform_url) as session:
        request = session.scalars(select(ExpertContactRequest)).one()
        assert (request.expert_id, request.sender_id, request.requester_organization) == (
            chosen["expert_id"], "wx-42", "重庆大学"
        )


def test_contact_request_for_an_unavailable_expert_is_refused(platform_url):
    from actions.matching import ActionRequestExpertContact

    with session_scope(platform_url) as session:
        unavailable = session.scalars(select(Expert.expert_id).where(Expert.available.is_(False)).limit(1)).one()
    tracker = make_tracker("/contact_expert", entities=[{"entity": "expert_id", "value": unavailable}])
    reply, _, _ = run(ActionRequestExpertContact(), tracker)
    assert "不接受邀请" in rendered_text(reply)
    with session_scope(platform_url) as session:
        assert session.scalars(select(ExpertContactRequest)).all() == []


def test_injection_looking_request_gets_a_normal_question(platform_url):
    from actions.matching import ActionFindSuppliers

    messages, _, _ = run(ActionFindSuppliers(), make_tracker("'; DROP TABLE companies; --"))
    assert messages[0]["buttons"]  # the clarifying question, nothing else happened
    messages, _, _ = run(ActionFindSuppliers(), make_tracker("刹车盘' OR '1'='1"))
    assert custom_payloads(messages)[0]["items"]


def test_publishing_a_demand_validates_answers_stores_it_and_shows_suppliers(platform_url):
    from actions.publishing import ActionSubmitDemand, ValidatePublishDemandForm

    form = ValidatePublishDemandForm()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("")
    assert call(form.validate_demand_quantity, "1万件", dispatcher, tracker, {}) == {"demand_quantity": "10000件"}
    assert call(form.validate_demand_quantity, "很多", dispatcher, tracker, {}) == {"demand_quantity": None}
    assert call(form.validate_demand_region, "重庆优先", dispatcher, tracker, {}) == {"demand_region": "重庆"}
    assert call(form.validate_demand_deadline, "2020-01-01", dispatcher, tracker, {}) == {"demand_deadline": None}
    assert call(form.validate_demand_contact, "找张经理", dispatcher, tracker, {}) == {"demand_contact": None}
    refusals = rendered(dispatcher.messages)  # each refusal says what is expected
    assert ["5000件" in refusals[0]["text"], "截止日期" in refusals[1]["text"], "手机号" in refusals[2]["text"]] == [
        True, True, True]

    deadline = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    slots = {"demand_product": "刹车卡钳", "demand_quantity": "10000件", "demand_region": "重庆",
             "demand_deadline": deadline, "demand_contact": "张经理 13800000000"}
    messages, reset, _ = run(ActionSubmitDemand(), make_tracker("13800000000", slots=slots, sender="web-7"))
    assert "PD" in rendered(messages)[0]["text"]
    items = custom_payloads(messages)[0]["items"]
    assert items and all(i["region"] == "重庆" for i in items[:5])
    assert all(reset[slot] is None for slot in slots)
    with session_scope(platform_url) as session:
        demand = session.scalars(select(PublishedDemand)).one()
        assert (demand.product, demand.category, demand.quantity, demand.sender_id) == (
            "刹车卡钳", "底盘/制动系统", 10000, "web-7"
        )


def test_registering_a_product_stores_it_and_shows_open_demands(platform_url):
    from actions.publishing import ActionSubmitProduct

    slots = {"product_name": "连接器", "product_company": "宜宾某某电子有限公司", "product_region": "四川宜宾",
             "product_capacity": "500000件", "product_contact": "sales@example.cn"}
    messages, _, _ = run(ActionSubmitProduct(), make_tracker("sales@example.cn", slots=slots))
    payload = custom_payloads(messages)[0]
    assert payload["type"] == "demand_matches" and payload["items"]
    assert all(item["target_region"] in ("四川", "不限") for item in payload["items"])
    with session_scope(platform_url) as session:
        product = session.scalars(select(RegisteredProduct)).one()
        assert (product.region, product.city, product.annual_capacity) == ("四川", "宜宾", 500000)


def test_the_opening_message_fills_what_it_already_says(platform_url):
    from actions.publishing import ValidatePublishDemandForm, ValidateRegisterProductForm

    form = ValidatePublishDemandForm()
    opening = make_tracker("我要发个采购单，买两万个刹车盘", slots={"requested_slot": None})
    assert call(form.extract_demand_product, CollectingDispatcher(), opening, {}) == {"demand_product": "制动盘"}
    assert call(form.extract_demand_quantity, CollectingDispatcher(), opening, {}) == {"demand_quantity": "20000个"}
    plain = make_tracker("我要发布一个需求", slots={"requested_slot": None})
    assert call(form.extract_demand_product, CollectingDispatcher(), plain, {}) == {}
    assert call(form.extract_demand_quantity, CollectingDispatcher(), plain, {}) == {}
    answering = make_tracker("5000件", slots={"requested_slot": "demand_quantity"})
    assert call(form.extract_demand_quantity, CollectingDispatcher(), answering, {}) == {}
    product_form = ValidateRegisterProductForm()
    supplier = make_tracker("我们是做减振器的，想登记产品", slots={"requested_slot": None})
    assert call(product_form.extract_product_name, CollectingDispatcher(), supplier, {}) == {"product_name": "减振器"}


def test_saying_cancel_leaves_the_form_and_saves_nothing(platform_url):
    from actions.publishing import ActionSubmitDemand, ValidatePublishDemandForm

    tracker = make_tracker("算了，不填了", slots={"demand_product": "轮毂", "requested_slot": "demand_quantity"})
    _, slots, events = run(ValidatePublishDemandForm(), tracker)
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)
    assert slots["demand_product"] is None and slots["requested_slot"] is None
    messages, _, _ = run(ActionSubmitDemand(), make_tracker("算了", slots={}))
    assert "已取消" in rendered_text(messages)
    with session_scope(platform_url) as session:
        assert session.scalars(select(PublishedDemand)).all() == []
