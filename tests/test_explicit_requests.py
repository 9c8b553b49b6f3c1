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
