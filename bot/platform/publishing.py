"""Publishing through the assistant: a buyer's demand, a supplier's product.

Both are stored for staff (``published_demands`` / ``registered_products``) and
answered at once with matches: suppliers for a demand, open demands for a product.
The small parsers here turn form answers (「1万件」, 「三个月内」, 「重庆优先」) into
values and say what is wrong otherwise.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from sqlalchemy.orm import Session

from bot.language import ENGLISH
from bot.messages import DEFAULT_LANGUAGE, user_text
from bot.platform.english import english_label, with_chinese_terms
from bot.platform.matching import PlatformIndex, SupplierResult
from bot.platform.models import PublishedDemand, RegisteredProduct
from bot.platform.queries import RequestError, open_published_demands
from bot.platform.understanding import _MULTIPLIERS, _NUMBER, SupplierQuery, chinese_number, format_quantity
from bot.textnorm import normalize_for_nlu

DEMAND_PAGE_SIZE = 5
_UNITS = ("件", "辆", "套", "台", "片", "个", "颗", "吨", "只", "米")
_QUANTITY = re.compile(_NUMBER + r"\s*(万|千|百万|亿)?\s*(" + "|".join(_UNITS) + r")?")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_ANY_REGION = ("不限", "都行", "都可以", "无所谓", "川渝", "成渝", "均可", "随便", "没要求", "不要求")


def parse_quantity(text: str) -> Optional[Tuple[int, str]]:
    """``"1万件"`` → ``(10000, "件")``; ``"两百辆"`` → ``(200, "辆")``; unit defaults to 件."""
    match = _QUANTITY.search(normalize_for_nlu(text or ""))
    if not match:
        return None
    value = chinese_number(match.group(1))
    if value is None or value <= 0:
        return None
    return int(value * _MULTIPLIERS[match.group(2)]), match.group(3) or "件"


def parse_deadline(text: str, today: dt.date) -> Optional[dt.date]:
    """A deadline from ``2027-03-01``, ``2027年3月``, ``三个月内``, ``两周内``, ``年底``; ``None`` if unclear."""
    text = normalize_for_nlu(text or "").strip()
    match = re.search(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(\d{1,2})\s*[日号]?|月)?", text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            return None
        day = int(match.group(3)) if match.group(3) else calendar.monthrange(year, month)[1]
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    match = re.search(_NUMBER + r"\s*(?:个)?\s*(天|日|周|星期|个月|月|年)", text)
    if match:
        amount = chinese_number(match.group(1))
        if not amount:
            return None
        days = {"天": 1, "日": 1, "周": 7, "星期": 7, "个月": 30, "月": 30, "年": 365}[match.group(2)]
        return today + dt.timedelta(days=int(amount * days))
    if any(word in text for word in ("年底", "年末", "今年内")):
        return dt.date(today.year, 12, 31)
    if "下个月" in text:
        month = today.month % 12 + 1
        year = today.year + (today.month == 12)
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    return None


def parse_region_preference(text: str) -> Optional[str]:
    """``四川`` / ``重庆`` / ``不限`` from a free answer (Chinese or English); ``None``
    when it names no place."""
    text = normalize_for_nlu(with_chinese_terms(text or ""))
    if any(word in text for word in _ANY_REGION):
        return "不限"
    has_cq = "重庆" in text or "渝" in text
    has_sc = "四川" in text or "川" in text or any(city in text for city in _SICHUAN_CITIES)
    if has_cq and has_sc:
        return "不限"
    if has_cq:
        return "重庆"
    if has_sc:
        return "四川"
    return None


_SICHUAN_CITIES = ("成都", "绵阳", "德阳", "遂宁", "南充", "宜宾", "自贡", "内江", "泸州", "眉山", "乐山", "达州",
                   "广安", "资阳", "雅安", "攀枝花", "广元", "巴中")


def parse_contact(text: str) -> Optional[str]:
    """The answer if it holds a phone number or an e-mail address (so staff can reach back)."""
    text = normalize_for_nlu(text or "").strip()
    if _PHONE.search(text) or _EMAIL.search(text):
        return text[:200]
    return None


_ORGANIZATION_SUFFIXES = ("公司", "集团", "大学", "学院", "研究院", "研究所", "医院", "中心", "厂", "协会", "银行",
                          "局")
_SEPARATORS = re.compile(r"[，,、;；。\s]+")
_SELF_INTRODUCTION = re.compile(r"^(?:我们?是|我们?在|我们?来自|来自|单位是?|公司是?)")


def parse_organization(text: str) -> Optional[str]:
    """The organisation named in an answer (「张伟，重庆大学，13800000000」 → ``重庆大学``), if any."""
    for part in _SEPARATORS.split(normalize_for_nlu(text or "")):
        part = _SELF_INTRODUCTION.sub("", part).removesuffix("的")
        if 2 <= len(part) <= 60 and any(suffix in part for suffix in _ORGANIZATION_SUFFIXES):
            return part
    return None


@dataclass
class DemandMatch:
    """An open demand a supplier's product can serve."""

    demand_id: str  # export id, or ``PD<n>`` for a demand published through the assistant
    title: str
    buyer: str
    category: str
    quantity: int
    unit: str
    target_region: str
    deadline: Optional[dt.date]
    score: float
    reasons: List[str]

    def payload_item(self) -> Dict[str, object]:
        """A card of the ``demand_matches`` custom payload."""
        return {"demand_id": self.demand_id, "title": self.title, "buyer": self.buyer,
                "category": self.category, "target_region": self.target_region,
                "deadline": self.deadline.isoformat() if self.deadline else None, "reasons": list(self.reasons)}


def _demand_category(index: PlatformIndex, query: SupplierQuery) -> str:
    for name in query.products:
        products = index.products_by_name.get(name)
        if products:
            return products[0].category
    for category in query.categories:
        return category.replace("/*", "")
    return ""


def publish_demand(
    session: Session,
    index: PlatformIndex,
    *,
    product: str,
    quantity: Optional[int],
    unit: str,
    target_region: str,
    deadline: Optional[dt.date],
    contact: str,
    company_name: str = "",
    requirements: str = "",
    certifications: Sequence[str] = (),
    sender_id: str = "",
    channel: str = "",
    today: Optional[dt.date] = None,
) -> Tuple[PublishedDemand, SupplierResult]:
    """Store a buyer's demand and return the suppliers that match it (first page):
    in the target region, holding the ``certifications`` the buyer requires."""
    today = today or dt.date.today()
    product = (product or "").strip()
    if not product:
        raise RequestError("publishing.product_missing")
    if quantity is None or quantity <= 0:
        raise RequestError("publishing.quantity_not_positive")
    if target_region not in ("四川", "重庆", "不限"):
        raise RequestError("publishing.region_invalid")
    if deadline is not None and deadline < today:
        raise RequestError("publishing.deadline_past")
    if not parse_contact(contact):
        raise RequestError("publishing.buyer_contact_missing")
    query = index.parser.parse_supplier_request(product)
    if target_region != "不限":
        query.region, query.city, query.district = target_region, None, None
    query.certifications = list(dict.fromkeys([*query.certifications, *certifications]))
    demand = PublishedDemand(
        sender_id=sender_id[:200], channel=channel[:32], company_name=company_name[:200], product=product[:200],
        category=_demand_category(index, query), quantity=quantity, unit=unit[:16], target_region=target_region,
        deadline=deadline, contact=contact[:200], requirements=requirements[:500], status="open",
    )
    session.add(demand)
    session.flush()
    return demand, index.match_suppliers(query)


def register_product(
    session: Session,
    index: PlatformIndex,
    *,
    product: str,
    company_name: str,
    annual_capacity: Optional[int],
    unit: str,
    region: str,
    contact: str,
    city: str = "",
    sender_id: str = "",
    channel: str = "",
    today: Optional[dt.date] = None,
    language: str = DEFAULT_LANGUAGE,
) -> Tuple[RegisteredProduct, List[DemandMatch]]:
    """Store a supplier's product and return the open demands it can serve (their
    reasons in ``language``)."""
    product = (product or "").strip()
    if not product:
        raise RequestError("publishing.product_name_missing")
    if not (company_name or "").strip():
        raise RequestError("publishing.company_missing")
    if region not in ("四川", "重庆"):
        raise RequestError("publishing.supplier_region_invalid")
    if annual_capacity is not None and annual_capacity <= 0:
        raise RequestError("publishing.capacity_not_positive")
    if not parse_contact(contact):
        raise RequestError("publishing.supplier_contact_missing")
    query = index.parser.parse_supplier_request(product)
    row = RegisteredProduct(
        sender_id=sender_id[:200], channel=channel[:32], company_name=company_name.strip()[:200],
        product=product[:200], category=_demand_category(index, query), annual_capacity=annual_capacity,
        unit=unit[:16], region=region, city=city[:32], contact=contact[:200], status="new",
    )
    session.add(row)
    session.flush()
    return row, matching_open_demands(session, index, query, region, today=today, language=language)


def matching_open_demands(
    session: Session,
    index: PlatformIndex,
    query: SupplierQuery,
    supplier_region: str,
    *,
    today: Optional[dt.date] = None,
    limit: int = DEMAND_PAGE_SIZE,
    language: str = DEFAULT_LANGUAGE,
) -> List[DemandMatch]:
    """Open, not expired demands (platform and assistant) for the product in ``query``,
    that accept suppliers from ``supplier_region``; best match and nearest deadline first.
    The reasons (and the titles of demands published through the assistant) are in ``language``."""
    label = english_label if language == ENGLISH else str
    today = today or dt.date.today()
    names = set(query.products)
    categories = {index.products_by_name[n][0].category for n in names if index.products_by_name.get(n)}
    exact_categories = categories | {c for c in query.categories if not c.endswith("/*")}
    majors = {c[:-2] for c in query.categories if c.endswith("/*")}
    candidates = []
    for demand in index.snapshot.demands:
        if demand.demand_id in index.withdrawn.demands or not index.offers_company(demand.company_id):
            continue
        if demand.status == "open" and (demand.deadline is None or demand.deadline >= today):
            company = index.companies.get(demand.company_id)
            candidates.append((demand.demand_id, demand.title, company.name if company else "", demand.category,
                               demand.quantity, demand.unit, demand.target_region, demand.deadline))
    for demand in open_published_demands(session, today):
        candidates.append((f"PD{demand.id}", user_text("demands.published_title", language, product=demand.product),
                           demand.company_name or user_text("demands.published_buyer", language),
                           demand.category, demand.quantity or 0, demand.unit, demand.target_region, demand.deadline))
    matches = []
    for demand_id, title, buyer, category, quantity, unit, target_region, deadline in candidates:
        if target_region not in ("不限", supplier_region):
            continue
        if any(name in title for name in names):
            score, why = 10.0, user_text("demands.reason.same_product", language)
        elif category in exact_categories:
            score, why = 5.0, user_text("demands.reason.same_category", language, category=label(category))
        elif category.partition("/")[0] in majors:
            score, why = 3.0, user_text("demands.reason.same_major", language,
                                        major=label(category.partition("/")[0]))
        else:
            continue
        reasons = [
            why,
            user_text("demands.reason.quantity", language, quantity=format_quantity(quantity, language),
                      unit=label(unit) if unit else unit) if quantity
            else user_text("demands.reason.quantity_open", language),
            user_text("demands.reason.region", language, region=label(target_region)),
            user_text("demands.reason.deadline", language, deadline=deadline.isoformat()) if deadline
            else user_text("demands.reason.no_deadline", language),
        ]
        matches.append(DemandMatch(demand_id, title, buyer, category, quantity, unit, target_region, deadline,
                                   score, reasons))
    matches.sort(key=lambda m: (-m.score, m.deadline or dt.date.max, m.demand_id))
    return matches[:limit]
