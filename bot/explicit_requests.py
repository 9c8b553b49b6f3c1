"""Requests that users state in so many words, whatever else the message says.

「我们要发布一个采购需求：5000件保险杠，供应商要在重庆」 names a product, a place and a
date like a supplier search does, and the classifier may read it as one (or as nothing it
knows). The words 「发布…采购需求」「发个采购单」「挂个求购」 "post a purchase order" leave no
doubt: the user wants to publish a demand. :class:`bot.nlu.explicit_requests.ExplicitRequestClassifier`
sets such a message's intent, and the demand form then takes the product, quantity and the
rest from the same message.
"""
from __future__ import annotations

import re
from typing import Optional

from bot.textnorm import normalize_for_nlu

#: The intent of a request to publish a purchasing demand (data/nlu/publishing.yml).
PUBLISH_DEMAND_INTENT = "publish_demand"

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


def asks_to_publish_demand(text: str) -> bool:
    """Whether ``text`` asks to publish a purchasing demand.

    >>> asks_to_publish_demand("我要发个采购单，买两万个刹车盘"), asks_to_publish_demand("找刹车盘供应商")
    (True, False)
    """
    text = normalize_for_nlu(text or "")
    return bool(_PUBLISH_DEMAND.search(text) or _PUBLISH_DEMAND_EN.search(text))


def explicit_intent(text: str) -> Optional[str]:
    """The intent ``text`` states in so many words, or None."""
    if text.lstrip().startswith("/"):
        return None  # a button payload names its intent itself
    return PUBLISH_DEMAND_INTENT if asks_to_publish_demand(text) else None


__all__ = ["PUBLISH_DEMAND_INTENT", "asks_to_publish_demand", "explicit_intent"]
