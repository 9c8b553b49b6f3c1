"""The matching and publishing actions with rasa_sdk's real dispatcher and tracker."""
from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import inspect
import json
import pkgutil
import re
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

import actions
from bot.platform.db import session_scope
from bot.platform.models import Expert, ExpertContactRequest, PublishedDemand, RegisteredProduct
from bot.settings import PROJECT_ROOT
from tests.support.responses import rendered, rendered_text

HAN = re.compile(r"[\u4e00-\u9fff]")
DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


def all_action_classes() -> List[type]:
    """Every action and form validator the action server registers."""
    classes = []
    for module in pkgutil.iter_modules(actions.__path__):
        loaded = importlib.import_module(f"actions.{module.name}")
        classes += [member for _, member in inspect.getmembers(loaded, inspect.isclass)
                    if issubclass(member, Action) and member.__module__ == loaded.__name__]
    return classes


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


def test_a_whole_request_read_as_a_refinement_with_nothing_to_refine_is_searched(platform_url):
    from actions.matching import ActionRefineMatches

    request = make_tracker("要绵阳的轮毂厂，带IATF 16949认证", intent="refine_matches")
    messages, slots, _ = run(ActionRefineMatches(), request)
    items = custom_payloads(messages)[0]["items"]
    assert slots["matching_kind"] == "supplier" and items
    assert all("IATF 16949" in item["certifications"] for item in items if not item.get("alternative"))
    # A bare refinement with nothing to refine still asks what to look for.
    asked, _, _ = run(ActionRefineMatches(), make_tracker("只要绵阳的", intent="refine_matches"))
    assert [m.get("response") for m in asked] == ["utter_nothing_to_refine"]


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


def drive_form(validator, form: str, opening: str, answers, *, slots=None, ask_actions=None, sender: str = "wx-42"):
    """Run ``form`` as Rasa does: activation on ``opening``, then each answer (the
    from_text mapping fills the requested slot, the validator runs, the form asks for
    the first empty required slot). Returns what the user saw, the slots, and whether
    the user stopped the form."""
    required = DOMAIN["forms"][form]["required_slots"]
    slots = {"requested_slot": None, **(slots or {})}
    seen: List[Dict[str, Any]] = []
    for text in (opening, *answers):
        events: List[Dict[str, Any]] = [{"event": "user", "text": text}]
        requested = slots["requested_slot"]
        if requested:
            slots[requested] = text
            events.append({"event": "slot", "name": requested, "value": text})
        tracker = Tracker(sender, dict(slots), {"text": text, "intent": {"name": "", "confidence": 1.0},
                                                 "entities": []}, events, False, None,
                          {"name": form}, "action_listen")
        dispatcher = CollectingDispatcher()
        result = asyncio.run(validator.run(dispatcher, tracker, DOMAIN))
        seen += dispatcher.messages
        slots.update({e["name"]: e["value"] for e in result if e.get("event") == "slot"})
        if any(e.get("event") == "active_loop" and e.get("name") is None for e in result):
            return seen, slots, True
        slots["requested_slot"] = next((s for s in required if not slots.get(s)), None)
        if slots["requested_slot"] is None:
            break
        ask = (ask_actions or {}).get(slots["requested_slot"])
        if ask is not None:
            asked, _, _ = run(ask, make_tracker(text, slots=slots, sender=sender))
            seen += asked
        else:
            seen.append({"response": f"utter_ask_{slots['requested_slot']}"})
    return seen, slots, False


def contact_flow(tracker_text: str, slots: Dict[str, Any], *answers: str, entities=None, sender: str = "wx-42"):
    """Run 「联系…」 and then the contact form with ``answers``, as Rasa would; return
    every message the user got, the slots, and whether the form was started."""
    from actions.expert_contact import ActionRequestExpertContact, ActionSubmitExpertContact, ValidateExpertContactForm

    messages, chosen, events = run(ActionRequestExpertContact(),
                                   make_tracker(tracker_text, slots=slots, entities=entities, sender=sender))
    started = any(e.get("event") == "followup" and e.get("name") == "expert_contact_form" for e in events)
    slots = {**slots, **chosen}
    if not started:
        return messages, slots, False
    seen, slots, _ = drive_form(ValidateExpertContactForm(), "expert_contact_form", tracker_text, answers,
                                slots=slots, sender=sender)
    submitted, reset, _ = run(ActionSubmitExpertContact(), make_tracker(answers[-1] if answers else "",
                                                                         slots=slots, sender=sender))
    return messages + seen + submitted, {**slots, **reset}, True


def stored_requests(url: str) -> List[ExpertContactRequest]:
    with session_scope(url) as session:
        requests = session.scalars(select(ExpertContactRequest)).all()
        session.expunge_all()
        return list(requests)


def test_expert_contact_asks_who_is_asking_and_staff_get_a_request_they_can_act_on(platform_url):
    from actions.matching import ActionFindExperts

    messages, slots, _ = run(ActionFindExperts(), make_tracker("我们是重庆大学的，需要五位智能制造方向的评审专家"))
    payload = custom_payloads(messages)[0]
    assert payload["type"] == "expert_matches" and len(payload["items"]) == 5
    assert all(set(item) == EXPERT_KEYS for item in payload["items"])
    assert "重庆大学" not in {item["organization"] for item in payload["items"]}
    chosen = payload["items"][1]
    with session_scope(platform_url) as session:
        email = session.get(Expert, chosen["expert_id"]).email
    assert email not in json.dumps(messages, ensure_ascii=False)

    reply, slots, started = contact_flow("帮我联系第二位专家", slots, "张伟 13800000000")
    assert started
    shown = rendered_text(reply)
    assert "姓名和手机号" in shown  # asked once, for who is asking
    assert "单位名称" not in shown  # the organisation was already said
    assert "编号" in shown and chosen["name"] in shown and email not in shown
    [request] = stored_requests(platform_url)
    assert (request.expert_id, request.sender_id, request.requester_organization, request.requester_contact) == (
        chosen["expert_id"], "wx-42", "重庆大学", "张伟 13800000000")
    assert slots["requester_contact"] == "张伟 13800000000"  # kept for a second request

    again, _, started = contact_flow("联系第三位", slots)
    assert started and "姓名和手机号" not in rendered_text(again) and len(stored_requests(platform_url)) == 2


def test_the_form_asks_for_the_organisation_when_not_known_and_reads_it_from_the_contact(platform_url):
    from actions.matching import ActionFindExperts

    _, slots, _ = run(ActionFindExperts(), make_tracker("找几位工业机器人方向的专家"))
    reply, _, _ = contact_flow("联系第一位", slots, "李娜 13900000000", "重庆某某汽车零部件有限公司")
    assert "单位名称" in rendered_text(reply)
    reply, _, _ = contact_flow("联系第二位", slots, "王强，重庆某某电子有限公司，wang@example.com")
    assert "单位名称" not in rendered_text(reply)
    assert [r.requester_organization for r in stored_requests(platform_url)] == [
        "重庆某某汽车零部件有限公司", "重庆某某电子有限公司"]


def test_only_experts_offered_in_this_conversation_can_be_contacted(platform_url):
    from actions.matching import ActionFindExperts

    _, slots, _ = run(ActionFindExperts(), make_tracker("找几位工业机器人方向的专家"))
    shown_ids = {e["expert_id"] for e in slots["shown_experts"]}
    with session_scope(platform_url) as session:
        other = session.scalars(select(Expert).where(Expert.available.is_(True), Expert.expert_id.not_in(shown_ids))
                                .limit(1)).one()
        other_id, other_name = other.expert_id, other.name
    for previous in (slots, {}):  # a forged id after a list, or with no list at all
        reply, _, started = contact_flow("/contact_expert", previous, entities=[{"entity": "expert_id",
                                                                                 "value": other_id}])
        assert not started and other_name not in json.dumps(rendered(reply), ensure_ascii=False)
    assert stored_requests(platform_url) == []


def test_unavailable_or_own_organisation_experts_are_refused_without_their_name(platform_url):
    from actions.matching import ActionFindExperts

    _, slots, _ = run(ActionFindExperts(), make_tracker("找几位工业机器人方向的专家"))
    first, second = slots["shown_experts"][:2]
    with session_scope(platform_url) as session:
        session.get(Expert, first["expert_id"]).available = False  # changed after the list was shown
        organization = session.get(Expert, second["expert_id"]).organization

    reply, _, started = contact_flow("联系第一位", slots)
    text = rendered_text(reply)
    assert not started and "不接受邀请" in text and first["name"] not in text

    # The user's organisation, said only in the form: 回避 applies before anything is stored.
    reply, _, started = contact_flow("联系第二位", slots, "赵敏 13700000000", organization)
    text = rendered_text(reply)
    assert started and "回避" in text and second["name"] not in text
    assert stored_requests(platform_url) == []


@pytest.mark.parametrize("value", [5, 2.5, True, None, [], ["E1000000"], {"a": 1}, "", "x" * 5000])
def test_no_action_crashes_on_an_entity_of_another_type(platform_url, value, caplog):
    """Payloads such as ``/find_suppliers{"match_text":5}`` are typed by users."""
    entities = [{"entity": name, "value": value} for name in ("match_text", "expert_id", "policy_id", "place",
                                                                "certification")]
    slots = {"shown_experts": [{"expert_id": "E1000000", "name": 5}, "x", 3], "expert_query": [1],
             "supplier_query": "x", "matching_kind": "expert", "requester_company": 7}
    for action_class in all_action_classes():
        if action_class.__name__ in ("ActionHandoffRequest", "ActionRestart"):
            continue
        tracker = make_tracker("/contact_expert", slots=slots, entities=entities)
        dispatcher = CollectingDispatcher()
        asyncio.run(action_class().run(dispatcher, tracker, DOMAIN))
        assert "handing over to staff" not in caplog.text, action_class.__name__
    assert stored_requests(platform_url) == []


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
             "demand_deadline": deadline, "demand_contact": "张经理 13800000000", "demand_confirmed": "yes"}
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
             "product_capacity": "500000件", "product_contact": "sales@example.cn", "product_confirmed": "yes"}
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


def demand_form(opening: str, *answers: str, slots=None):
    from actions.publishing import ActionAskDemandConfirmed, ValidatePublishDemandForm

    return drive_form(ValidatePublishDemandForm(), "publish_demand_form", opening, answers, slots=slots,
                      ask_actions={"demand_confirmed": ActionAskDemandConfirmed()})


def responses(seen) -> List[str]:
    return [m.get("response") or "" for m in seen]


def test_demand_details_given_out_of_order_are_kept_and_a_summary_is_confirmed_before_publishing(platform_url):
    from actions.publishing import ActionSubmitDemand

    seen, slots, stopped = demand_form("我要发布采购需求，买刹车卡钳", "5000件，三个月内要", "需要IATF 16949认证",
                                       "重庆", "张经理 13800000000")
    asked = responses(seen)
    assert not stopped and "utter_ask_demand_deadline" not in asked  # given with the quantity
    assert "utter_invalid_demand_region" not in asked and "utter_details_noted" in asked  # kept, not refused
    summary = rendered_text(seen[-1:])
    for shown in ("制动卡钳", "5000件", "重庆", "IATF 16949", "张经理 13800000000",
                  (dt.date.today() + dt.timedelta(days=90)).isoformat()):
        assert shown in summary
    assert [b["title"] for b in rendered(seen[-1:])[0]["buttons"]] == ["确认发布", "修改", "取消"]
    with session_scope(platform_url) as session:
        assert session.scalars(select(PublishedDemand)).all() == []  # nothing before confirming

    seen, slots, _ = demand_form("数量改为7000件", "还要求有量产经验", "确认发布",
                                 slots={**slots, "requested_slot": "demand_confirmed"})
    assert "7000件" in rendered_text(seen[:1]) and "量产经验" in rendered_text(seen[1:2])
    assert slots["demand_confirmed"] == "yes"
    messages, _, _ = run(ActionSubmitDemand(), make_tracker("确认发布", slots=slots, sender="web-7"))
    assert "PD" in rendered(messages)[0]["text"]
    items = custom_payloads(messages)[0]["items"]
    assert items and all(any("IATF 16949" in reason for reason in item["reasons"]) for item in items)
    with session_scope(platform_url) as session:
        demand = session.scalars(select(PublishedDemand)).one()
        assert demand.quantity == 7000 and "IATF 16949" in demand.requirements and "量产经验" in demand.requirements


def test_summary_changes_ask_only_for_what_is_changed(platform_url):
    deadline = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    filled = {"demand_product": "刹车卡钳", "demand_quantity": "5000件", "demand_region": "重庆",
              "demand_deadline": deadline, "demand_contact": "张经理 13800000000", "requested_slot": "demand_confirmed"}
    seen, slots, _ = demand_form("修改", slots=filled)
    assert responses(seen) == ["utter_ask_demand_change"]  # which item, not the summary again
    seen, slots, _ = demand_form("修改截止日期", "年底前", slots=filled)
    assert responses(seen) == ["utter_ask_demand_deadline", "utter_demand_summary"]
    assert slots["demand_deadline"] == dt.date(dt.date.today().year, 12, 31).isoformat()
    seen, slots, stopped = demand_form("取消", slots=filled)
    assert stopped and slots["demand_product"] is None


def test_a_prompt_is_not_repeated_after_an_unusable_answer_that_said_something_else(platform_url):
    seen, slots, _ = demand_form("我要发布采购需求", "轮毂", "要重庆的供应商，5000件")
    asked = responses(seen)
    assert asked.count("utter_ask_demand_quantity") == 1 and "utter_ask_demand_region" not in asked
    assert (slots["demand_quantity"], slots["demand_region"]) == ("5000件", "重庆")


def test_product_listing_is_confirmed_from_a_summary_and_can_be_corrected(platform_url):
    from actions.publishing import ActionAskProductConfirmed, ActionSubmitProduct, ValidateRegisterProductForm

    def product_form(opening, *answers, slots=None):
        return drive_form(ValidateRegisterProductForm(), "register_product_form", opening, answers, slots=slots,
                          ask_actions={"product_confirmed": ActionAskProductConfirmed()})

    seen, slots, _ = product_form("我要登记产品", "连接器", "宜宾某某电子有限公司", "四川宜宾", "50万件",
                                  "sales@example.cn")
    summary = rendered_text(seen[-1:])
    assert "宜宾某某电子有限公司" in summary and "500000件" in summary
    seen, slots, _ = product_form("产能改为80万件", "确认登记", slots={**slots, "requested_slot": "product_confirmed"})
    assert "800000件" in rendered_text(seen[:1]) and slots["product_confirmed"] == "yes"
    run(ActionSubmitProduct(), make_tracker("确认登记", slots=slots))
    with session_scope(platform_url) as session:
        assert session.scalars(select(RegisteredProduct)).one().annual_capacity == 800000



def test_a_bare_constraint_after_a_list_refines_it_even_when_the_policies_share_its_words(platform_url):
    from actions.matching import ActionFindExperts, ActionFindSuppliers
    from actions.policy import ActionAnswerPolicy

    _, slots, _ = run(ActionFindExperts(), make_tracker("找功率半导体方向的专家"))
    # 「电子科技大学」 is in the policy material too: NLU may read the exclusion as a policy question.
    exclusion = make_tracker("不要电子科技大学的", intent="ask_policy", slots=slots)
    messages, slots2, _ = run(ActionAnswerPolicy(), exclusion)
    items = custom_payloads(messages)[0]["items"]
    assert items and all("电子科技大学" not in item["organization"] for item in items)
    # the exclusion stays for the next constraint
    messages, _, _ = run(ActionAnswerPolicy(), make_tracker("要成都的", intent="ask_policy", slots={**slots, **slots2}))
    items = custom_payloads(messages)[0]["items"]
    assert items and all("电子科技大学" not in item["organization"] for item in items)
    assert all("成都" in " ".join(item["reasons"]) for item in items)

    _, slots, _ = run(ActionFindSuppliers(), make_tracker("帮我找电池管理系统供应商"))
    messages, _, _ = run(ActionAnswerPolicy(), make_tracker("四川的", intent="ask_policy", slots=slots))
    items = custom_payloads(messages)[0]["items"]
    assert items and all(item["region"] == "四川" for item in items if not item.get("alternative"))
    # a question is still a question, whatever places it names
    messages, _, _ = run(ActionAnswerPolicy(), make_tracker("成都的汽车产量是多少", intent="ask_policy", slots=slots))
    assert not custom_payloads(messages)


def test_an_english_request_for_a_product_the_platform_lacks_says_so_in_english(platform_url):
    from actions.matching import ActionFindSuppliers

    messages, _, _ = run(ActionFindSuppliers(), make_tracker("Do you have any exoskeleton suppliers?",
                                                             slots={"language": "en"}))
    assert rendered_text(messages).startswith('The platform data has no supplier of "exoskeleton"')
    messages, _, _ = run(ActionFindSuppliers(), make_tracker("I am looking for brake caliper suppliers in Sichuan",
                                                             slots={"language": "en"}))
    items = custom_payloads(messages)[0]["items"]
    assert items and all(item["product_name"] == "制动卡钳" and item["region"] == "四川"
                         for item in items if not item.get("alternative"))


def test_an_english_product_registration_gets_its_matching_demands_in_english(platform_url):
    from actions.publishing import ActionSubmitProduct

    slots = {"product_name": "connectors", "product_company": "Yibin Example Electronics", "product_region": "Sichuan",
             "product_capacity": "500000 pieces", "product_contact": "sales@example.cn", "product_confirmed": "yes",
             "language": "en"}
    messages, _, _ = run(ActionSubmitProduct(), make_tracker("sales@example.cn", slots=slots))
    payload = custom_payloads(messages)[0]
    assert payload["type"] == "demand_matches" and payload["items"]
    reasons = [reason for item in payload["items"] for reason in item["reasons"]]
    assert reasons and not [reason for reason in reasons if HAN.search(reason.split(":")[0])]
    assert any(reason.startswith("Region: ") for reason in reasons)


def test_asking_about_an_expert_of_the_list_answers_instead_of_starting_a_contact_request(platform_url):
    from actions.expert_contact import ActionRequestExpertContact
    from actions.matching import ActionFindExperts

    messages, slots, _ = run(ActionFindExperts(), make_tracker("找集成电路封装方向的专家"))
    first = custom_payloads(messages)[0]["items"][0]
    slots = {**slots, "topic": "expert"}
    reply, _, events = run(ActionRequestExpertContact(), make_tracker("第一位是哪个单位的", intent="contact_expert",
                                                                      slots=slots))
    assert first["organization"] in rendered_text(reply)
    assert not any(event.get("event") == "followup" for event in events)  # no contact form
    _, _, events = run(ActionRequestExpertContact(), make_tracker("帮我联系第一位", intent="contact_expert",
                                                                  slots=slots))
    assert any(event.get("event") == "followup" for event in events)


def test_who_is_answering_is_said_unless_the_question_is_about_the_topic(platform_url):
    from actions.conversation import ActionBotChallenge
    from actions.policy import ActionAnswerPolicy

    reply, _, _ = run(ActionBotChallenge(), make_tracker("你是机器人还是真人", intent="bot_challenge"))
    assert "智能助手" in rendered_text(reply)
    reply, _, _ = run(ActionBotChallenge(), make_tracker("Are you a bot?", intent="bot_challenge",
                                                         slots={"language": "en"}))
    assert "virtual assistant" in rendered_text(reply, {"language": "en"})
    _, slots, _ = run(ActionAnswerPolicy(), make_tracker("联合研发项目聚焦哪些领域", intent="ask_policy"))
    reply, _, _ = run(ActionBotChallenge(), make_tracker("这是谁发起的", intent="bot_challenge", slots=slots))
    assert "科技" in rendered_text(reply) and "智能助手" not in rendered_text(reply)


def test_help_is_given_unless_the_message_follows_up_the_topic(platform_url):
    from actions.conversation import ActionHelp
    from actions.policy import ActionAnswerPolicy

    reply, _, _ = run(ActionHelp(), make_tracker("你能做什么", intent="help"))
    assert "您可以这样问我" in rendered_text(reply)
    _, slots, _ = run(ActionAnswerPolicy(), make_tracker("双城经济圈发展基金有多少钱", intent="ask_policy"))
    reply, _, _ = run(ActionHelp(), make_tracker("基金投不投新材料", intent="help", slots=slots))
    assert "新材料" in rendered_text(reply) and "您可以这样问我" not in rendered_text(reply)
    reply, _, _ = run(ActionHelp(), make_tracker("你能帮我做什么", intent="help", slots=slots))
    assert "您可以这样问我" in rendered_text(reply)


def test_a_form_answer_read_as_a_policy_question_continues_the_form(platform_url):
    from actions.policy import ActionAnswerPolicy
    from actions.publishing import ValidatePublishDemandForm

    slots = {"demand_product": "控制臂", "demand_quantity": "2万件", "requested_slot": "demand_region"}

    def asked(text: str) -> Tracker:
        return Tracker("wx-42", dict(slots), {"text": text, "intent": {"name": "ask_policy", "confidence": 0.9},
                                              "entities": []}, [{"event": "user", "text": text}], False, None,
                       {"name": "publish_demand_form"}, "action_listen")

    messages, _, events = run(ActionAnswerPolicy(), asked("重庆四川都可以"))
    assert not messages and events == [{"event": "slot", "timestamp": None, "name": "demand_region",
                                        "value": "重庆四川都可以"}]
    # the form, run next, takes the answer
    latest = asked("重庆四川都可以")
    answered = Tracker("wx-42", {**slots, "demand_region": "重庆四川都可以"}, latest.latest_message,
                       [*latest.events, *events], False, None, {"name": "publish_demand_form"}, "action_answer_policy")
    validated = asyncio.run(ValidatePublishDemandForm().run(CollectingDispatcher(), answered, DOMAIN))
    assert {"event": "slot", "timestamp": None, "name": "demand_region", "value": "不限"} in validated
    # a question during the form is still answered
    messages, _, _ = run(ActionAnswerPolicy(), asked("重庆汽车产量是多少"))
    assert "138" in rendered_text(messages)


def test_a_no_that_excludes_part_of_the_list_refines_it_and_a_plain_no_is_acknowledged(platform_url):
    from actions.conversation import ActionDeny
    from actions.matching import ActionFindSuppliers

    _, slots, _ = run(ActionFindSuppliers(), make_tracker("找四川的汽车座椅供应商"))
    slots = {**slots, "topic": "supplier"}
    refined, _, _ = run(ActionDeny(), make_tracker("不要成都的", intent="deny", slots=slots))
    items = custom_payloads(refined)[0]["items"]
    assert items and not any(item["city"] == "成都" for item in items)
    acknowledged, _, _ = run(ActionDeny(), make_tracker("不用了，谢谢", intent="deny", slots=slots))
    assert [m.get("response") for m in acknowledged] == ["utter_deny_ack"]


@pytest.mark.parametrize("request_text, position", [
    ("联系最后那位专家", -1), ("倒数第二位能帮我约一下吗", -2), ("Please contact the second expert", 2),
    ("I'd like to invite the last one", -1),
])
def test_an_expert_named_by_position_from_either_end_or_in_english_is_the_one_contacted(platform_url, request_text,
                                                                                       position):
    from actions.expert_contact import ActionRequestExpertContact
    from actions.matching import ActionFindExperts

    messages, slots, _ = run(ActionFindExperts(), make_tracker("找新材料方向的专家"))
    items = custom_payloads(messages)[0]["items"]
    expected = items[position - 1 if position > 0 else position]
    reply, chosen, events = run(ActionRequestExpertContact(), make_tracker(request_text, intent="contact_expert",
                                                                           slots={**slots, "topic": "expert"}))
    assert any(event.get("event") == "followup" for event in events), rendered_text(reply)
    assert chosen["contact_expert_id"] == expected["expert_id"]


def test_a_question_about_the_last_supplier_of_the_list_is_answered_about_that_one(platform_url):
    from actions.matching import ActionFindSuppliers, matching_follow_up

    messages, slots, _ = run(ActionFindSuppliers(), make_tracker("找重庆的铝合金轮毂供应商"))
    last = custom_payloads(messages)[0]["items"][-1]
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("最后一家在哪", slots={**slots, "topic": "supplier"})
    events = asyncio.run(matching_follow_up(dispatcher, tracker, "最后一家在哪"))
    assert events is not None and last["name"] in rendered_text(dispatcher.messages)


def test_a_question_about_the_expert_database_read_as_an_expert_search_is_answered(platform_url):
    from actions.matching import ActionFindExperts

    messages, _, _ = run(ActionFindExperts(), make_tracker("专家库里有多少专家，我们单位要怎样申请成为会员单位"))
    assert "3万" in rendered_text(messages)


def test_a_message_without_a_word_after_an_answer_is_not_understood_not_a_follow_up(platform_url):
    from actions.conversation import ActionFallback
    from actions.policy import ActionAnswerPolicy

    _, slots, _ = run(ActionAnswerPolicy(), make_tracker("双城经济圈发展基金有多少钱", intent="ask_policy"))
    for text in ("hjkl asdf", "qwpo zxmv"):  # typed at random; letters that only could be English
        reply, _, _ = run(ActionFallback(), make_tracker(text, intent="nlu_fallback", slots=slots))
        assert "没有理解" in rendered_text(reply) and "300亿" not in rendered_text(reply)
