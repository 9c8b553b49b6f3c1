"""Requests that users state in so many words, whatever else the message says.

「我们要发布一个采购需求：5000件保险杠，供应商要在重庆」 names a product, a place and a
date like a supplier search does, and the classifier may read it as one (or as nothing it
knows). The words 「发布…采购需求」「发个采购单」「挂个求购」 "post a purchase order" leave no
doubt: the user wants to publish a demand. In the same way 「有没有做激光雷达的公司」
「涡轮增压器哪里有卖」 "who makes brake calipers" ask for suppliers and 「想找一位做智能电网的
专家」 for experts, whatever else the message says (「喂你好」 before it, places or numbers
that other intents share, a product the platform does not have: the search then says so).
:class:`bot.nlu.explicit_requests.ExplicitRequestClassifier` sets such a message's intent;
the demand form or the search then takes the product, quantity and the rest from the same
message.
"""
from __future__ import annotations

import re
from typing import Optional

from bot.textnorm import normalize_for_nlu

#: The intent of a request to publish a purchasing demand (data/nlu/publishing.yml).
PUBLISH_DEMAND_INTENT = "publish_demand"
#: The intents of a supplier and an expert search (data/nlu/matching.yml).
FIND_SUPPLIERS_INTENT = "find_suppliers"
FIND_EXPERTS_INTENT = "find_experts"

#: 「发布一个采购需求」「发个采购单」「挂个求购」「登记需求」 (a bare 发 only as a verb: not
#: 研发/开发/批发/收发).
_PUBLISH_DEMAND = re.compile(
    r"(?:发布|(?<![研开出批分激引爆突收])发|挂|登记|提交|录入)\s*(?:一?[个条份张])?\s*"
    r"(?:(?:采购|求购)(?:需求|单|信息)?|需求)"
)
_PUBLISH_DEMAND_EN = re.compile(
    r"\b(?:publish|post|submit|put up|place)\b.{0,40}?\b(?:demand|purchase order|purchasing request|"
    r"sourcing request|buying request|request for quotation|rfq|procurement need)s?\b",
    re.IGNORECASE,
)


#: 「有没有做激光雷达的公司」「哪家企业生产线束」「找稳定杆厂家」「涡轮增压器哪里有卖」
#: 「哪里能买到车载摄像头」「要采购5万套座椅」: a product, and makers, a place to buy it or
#: a quantity to buy.
_SEEKS_SUPPLIERS = re.compile(
    r"(?:有没有|有无|哪家|哪些|什么|(?<![还也没])有)\s*(?:公司|企业|厂家?|工厂)?\s*(?:在|能|可以|专门)?\s*"
    r"(?:做|生产|制造|造|供应|供货|加工|卖)\S{1,15}?(?:的)?\s*(?:公司|企业|厂家|厂商|工厂|厂|供应商|生产商|制造商)?"
    r"(?=\S*(?:公司|企业|厂|供应商|生产商|制造商|吗|呢|[?？]|$))"
    r"|找\s*(?:一下|一些|几家|一家)?\s*\S{1,20}?(?:厂家|厂商|供应商|生产商|制造商|工厂|配套商)"
    r"|找\s*(?:一下|一些|几家|一家)?\s*(?:做|生产|制造|供应)\S{1,15}?的\s*(?:企业|公司)"
    r"|(?:哪里|哪儿|哪个地方|什么地方)\s*(?:有|能|可以)\s*(?:得)?\s*(?:卖|买到?|采购|供应)"
    r"|(?:哪里|哪儿)\s*有\s*(?:得)?\s*卖"
    r"|(?:要|想|需要|打算|准备)\s*(?:采购|购买|订购|买)\s*[\d一二两三四五六七八九十百千万.]+\s*(?:万)?\s*"
    r"(?:件|套|个|台|只|支|吨|片|米|辆)"
)
_SEEKS_SUPPLIERS_EN = re.compile(
    r"\b(?:who|which (?:companies|firms|factories|suppliers))\s+(?:makes?|produces?|manufactures?|supplies?|sells?)\b"
    r"|\b(?:suppliers?|makers?|manufacturers?|producers?|vendors?)\s+(?:of|for)\b"
    r"|\b(?:any|find|need|want|looking for|recommend|search for)\b.{0,40}?"
    r"\b(?:suppliers?|makers?|manufacturers?|producers?|vendors?|factories)\b"
    r"|\bwhere (?:can|could) (?:i|we) (?:buy|source|get)\b",
    re.IGNORECASE,
)
#: 「想找一位做智能电网的专家」「推荐几位新材料领域的专家」「需要三位评审专家」
_SEEKS_EXPERTS = re.compile(
    r"(?:找|推荐|需要|要|请|物色|有没有)\s*(?:一下|一些|几|[一二两三四五六七八九十\d]+)?\s*(?:位|个|名)?"
    r"\S{0,25}?(?:专家|教授|学者|研究员)"
)
_SEEKS_EXPERTS_EN = re.compile(
    r"\b(?:find|recommend|need|looking for|want|search for)\b.{0,40}?\b(?:experts?|professors?|researchers?)\b",
    re.IGNORECASE,
)
#: An expert search never contacts, asks about the expert database or about one expert shown.
_NOT_AN_EXPERT_SEARCH = re.compile(
    r"联系|对接|邀请|约|这位|那位|第\S{1,3}位|合作|人工|工作人员|客服"
    r"|\b(?:contact|invite|cooperate|work with)\b|\b(?:first|second|third|fourth|fifth|last|this|that)\s+"
    r"(?:expert|professor|one)\b",
    re.IGNORECASE,
)
#: A supplier search names no expert and asks for no person of ours.
_NOT_A_SUPPLIER_SEARCH = re.compile(
    r"专家|教授|学者|人工|工作人员|客服|(?<![a-z])(?:experts?|professors?|staff|human)(?![a-z])", re.IGNORECASE)
#: "the supply-demand platform" names a programme, not a demand to publish.
_PLATFORM_NAME_EN = re.compile(r"supply[\s–-]*(?:and[\s–-]*)?demand", re.IGNORECASE)
#: Neither search is a request to publish or register what the user has.
_OWN_OFFER = re.compile(
    r"我们(?:公司|厂|企业)?(?:也)?(?:是|能|可以|有)?(?:专门)?(?:做|生产|供应)|登记|上架|挂到|入驻"
    r"|\bwe (?:make|produce|manufacture|supply)\b|\bour (?:products?|need|needs|purchase|buying|demand)\b"
    r"|\b(?:publish|post|join the platform|show (?:them|our))\b",
    re.IGNORECASE,
)


def asks_for_suppliers(text: str) -> bool:
    """Whether ``text`` asks for makers or sellers of a product.

    >>> asks_for_suppliers("有没有做激光雷达的公司"), asks_for_suppliers("重庆汽车产量多少")
    (True, False)
    """
    text = normalize_for_nlu(text or "")
    if _OWN_OFFER.search(text) or _NOT_A_SUPPLIER_SEARCH.search(text):
        return False
    return bool(_SEEKS_SUPPLIERS.search(text) or _SEEKS_SUPPLIERS_EN.search(text))


def asks_for_experts(text: str) -> bool:
    """Whether ``text`` asks to find experts (not to contact one already shown).

    >>> asks_for_experts("喂你好我想找一下做氢能方向的专家"), asks_for_experts("联系第二位专家")
    (True, False)
    """
    text = normalize_for_nlu(text or "")
    if _NOT_AN_EXPERT_SEARCH.search(text):
        return False
    return bool(_SEEKS_EXPERTS.search(text) or _SEEKS_EXPERTS_EN.search(text))


def asks_to_publish_demand(text: str) -> bool:
    """Whether ``text`` asks to publish a purchasing demand.

    >>> asks_to_publish_demand("我要发个采购单，买两万个刹车盘"), asks_to_publish_demand("找刹车盘供应商")
    (True, False)
    """
    text = normalize_for_nlu(text or "")
    return bool(_PUBLISH_DEMAND.search(text) or _PUBLISH_DEMAND_EN.search(_PLATFORM_NAME_EN.sub(" ", text)))


def explicit_intent(text: str) -> Optional[str]:
    """The intent ``text`` states in so many words, or None."""
    if text.lstrip().startswith("/"):
        return None  # a button payload names its intent itself
    if asks_to_publish_demand(text):
        return PUBLISH_DEMAND_INTENT
    if asks_for_experts(text):
        return FIND_EXPERTS_INTENT
    if asks_for_suppliers(text):
        return FIND_SUPPLIERS_INTENT
    return None


__all__ = [
    "FIND_EXPERTS_INTENT", "FIND_SUPPLIERS_INTENT", "PUBLISH_DEMAND_INTENT",
    "asks_for_experts", "asks_for_suppliers", "asks_to_publish_demand", "explicit_intent",
]
