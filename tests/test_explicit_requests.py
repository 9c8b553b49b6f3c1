"""Asking to publish a demand is told apart from asking for suppliers, in either language,
however the request names the product."""
from __future__ import annotations

import pytest

from bot.explicit_requests import asks_to_publish_demand, explicit_intent


@pytest.mark.parametrize("text", [
    "我要发布采购需求", "发个采购单，买一万套线束", "帮我挂个求购，减震器两万支", "登记一条采购需求，车灯五千套",
    "我们想提交需求：IATF认证的制动卡钳八千件", "发一条求购信息", "我想发采购需求",
    "Post a purchase order for 3000 battery packs", "We would like to publish a demand for wheel hubs",
    "Can I submit a sourcing request?",
])
def test_requests_to_publish_a_demand(text):
    assert asks_to_publish_demand(text)


@pytest.mark.parametrize("text", [
    "找重庆的铝合金轮毂供应商", "找做研发配套的企业", "批发采购渠道有哪些", "开发采购系统的公司", "发动机供应商有哪些",
    "我们需要2万套座椅，成都或者德阳都行", "我们的需求是五千件", "川渝联合研发项目支持哪些方向",
    "I need suppliers of aluminium wheels in Chongqing", "Which demands are open for brake discs?",
])
def test_searches_and_questions_are_not(text):
    assert not asks_to_publish_demand(text)


def test_a_button_payload_keeps_its_own_intent():
    assert explicit_intent('/find_suppliers{"product":"采购单"}') is None
    assert explicit_intent("我要发布采购需求") == "publish_demand"


@pytest.mark.parametrize("text", [
    "有没有做氢燃料电池的企业", "哪家企业生产汽车线束", "找几家减震器厂家，宜宾泸州都行", "毫米波雷达哪里有卖的",
    "哪里能买到车规级芯片", "绵阳有做电机控制器的公司吗", "我们要采购3万套座椅", "Who makes wiring harnesses?",
    "suppliers of brake discs in Deyang", "Where can we buy LiDAR sensors?", "找做车门把手的企业",
    "Do you have any hydrogen tank makers?",
])
def test_requests_for_suppliers_whatever_else_they_say(text):
    assert explicit_intent(text) == "find_suppliers"


@pytest.mark.parametrize("text", [
    "喂你好，想找一位做智能电网方向的专家", "推荐三位新材料领域的教授", "专家库里有没有做数字孪生的专家",
    "We need two experts in hydrogen energy",
])
def test_requests_for_experts_whatever_else_they_say(text):
    assert explicit_intent(text) == "find_experts"


@pytest.mark.parametrize("text", [
    "我们厂是做轮毂的，想登记产品", "我们有做座椅的工厂", "还有做别的吗", "帮我联系第二位专家", "专家库有多少专家",
    "我想找工作人员问问供应商的事", "What does the supply-demand platform do?", "重庆2019年汽车产量多少",
    "We want to cooperate with the first professor",
])
def test_offers_contacts_and_questions_are_no_search(text):
    assert explicit_intent(text) is None
