"""Supplier and expert matching over an in-memory index of the platform data.

``get_index()`` returns the process-wide :class:`PlatformIndex`, built from a
:class:`~bot.platform.snapshot.Snapshot` and rebuilt when the database's
``data_version`` changes (checked at most every ``RELOAD_CHECK_SECONDS``). Matching
itself never touches the database, so a request costs a few milliseconds.

Supplier ranking: how well the product matches (exact product > product family >
sub-category > category), requested keywords, then certificates and capacity as
tie-breakers. Place: results in the requested place come first; unless the user said
"only", up to two strong suppliers from the other half of the Chengdu–Chongqing
circle follow, marked as cross-region options.

Expert ranking: research areas and fields matched, honours, title level; among
equally good experts, fewer reviews first (spreads the load). Only available
experts; never the user's own organisation (or an organisation whose name contains
it or is contained in it, e.g. a university and its affiliated hospital); a panel is
never all from one organisation when another qualified one exists.
"""
from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

from bot.platform.db import data_version, session_scope
from bot.platform.snapshot import CompanyRecord, ExpertRecord, ProductRecord, Snapshot, load_snapshot
from bot.platform.understanding import ExpertQuery, RequestParser, SupplierQuery, format_quantity

PAGE_SIZE = 5
CROSS_REGION_OPTIONS = 2
RELOAD_CHECK_SECONDS = 2.0
OTHER_REGION = {"四川": "重庆", "重庆": "四川"}
_HONOR_WEIGHT = {"院士": 3.0, "国家杰青": 2.0, "国家优青": 1.5, "国务院特殊津贴": 1.0}
_LEVEL_WEIGHT = {"正高级": 1.0, "副高级": 0.5}
_LEVEL_RANK = {"正高级": 3, "副高级": 2, "中级": 1, "初级": 0}

# Product match strengths (see module docstring).
_EXACT_PRODUCT, _PRODUCT_FAMILY, _SUBCATEGORY, _CATEGORY = 10.0, 8.0, 5.0, 3.0


@dataclass
class SupplierMatch:
    """One recommended supplier with the product that matched and why."""

    company_id: str
    name: str
    product_id: str
    product_name: str
    category: str
    region: str
    city: str
    district: str
    certifications: List[str]
    annual_capacity: int
    unit: str
    score: float
    reasons: List[str]
    cross_region: bool = False

    def payload_item(self) -> Dict[str, object]:
        """The card of the ``supplier_matches`` custom payload (issue 3's schema)."""
        return {"company_id": self.company_id, "name": self.name, "product_id": self.product_id,
                "region": self.region, "city": self.city, "reasons": list(self.reasons)}


@dataclass
class SupplierResult:
    query: SupplierQuery
    matches: List[SupplierMatch]  # in the requested place (or anywhere), rank order
    cross_region: List[SupplierMatch]  # marked options from the other region
    total: int  # matches in the requested place, all pages
    notes: List[str] = field(default_factory=list)

    @property
    def items(self) -> List[SupplierMatch]:
        return self.matches + self.cross_region

    @property
    def has_more(self) -> bool:
        return (self.query.page + 1) * PAGE_SIZE < self.total


@dataclass
class ExpertMatch:
    """One recommended expert (public data only: no phone, no e-mail)."""

    expert_id: str
    name: str
    title: str
    title_level: str
    organization: str
    region: str
    city: str
    review_count: int
    score: float
    reasons: List[str]

    def payload_item(self) -> Dict[str, object]:
        """The card of the ``expert_matches`` custom payload (issue 3's schema)."""
        return {"expert_id": self.expert_id, "name": self.name, "title": self.title,
                "organization": self.organization, "reasons": list(self.reasons)}


@dataclass
class ExpertResult:
    query: ExpertQuery
    matches: List[ExpertMatch]
    total: int
    notes: List[str] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return (self.query.page + 1) * self.query.count < self.total


def related_organizations(names: Sequence[str], organizations: Sequence[str]) -> Set[str]:
    """``names`` plus every organisation whose name contains one of them or is contained in one."""
    related = set(names)
    for org in organizations:
        for name in names:
            if name and (name in org or org in name):
                related.add(org)
    return related


class PlatformIndex:
    """Matching over one snapshot of the platform data (immutable once built)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.version = snapshot.version
        self.parser = RequestParser(snapshot)
        self.companies: Dict[str, CompanyRecord] = snapshot.companies
        self.products_by_name: Dict[str, List[ProductRecord]] = defaultdict(list)
        self.products_by_category: Dict[str, List[ProductRecord]] = defaultdict(list)
        self.products_by_major: Dict[str, List[ProductRecord]] = defaultdict(list)
        for product in snapshot.products:
            self.products_by_name[product.name].append(product)
            self.products_by_category[product.category].append(product)
            self.products_by_major[product.major].append(product)
        # Product names containing another one (铝合金轮毂 ⊂ 锻造铝合金轮毂): the family.
        self.product_family: Dict[str, List[str]] = {
            name: [other for other in self.products_by_name if name in other and other != name]
            for name in self.products_by_name
        }
        self.experts: List[ExpertRecord] = [e for e in snapshot.experts if e.available]
        self.experts_by_area: Dict[str, List[int]] = defaultdict(list)
        self.experts_by_field: Dict[str, List[int]] = defaultdict(list)
        self.experts_by_honor: Dict[str, List[int]] = defaultdict(list)
        for position, expert in enumerate(self.experts):
            for area in expert.research_areas:
                self.experts_by_area[area].append(position)
            for value in expert.fields:
                self.experts_by_field[value].append(position)
            for honor in expert.honors:
                self.experts_by_honor[honor].append(position)
        self.organizations = sorted({e.organization for e in snapshot.experts})

    @classmethod
    def load(cls, url: Optional[str] = None) -> "PlatformIndex":
        with session_scope(url) as session:
            return cls(load_snapshot(session))

    # -- suppliers ---------------------------------------------------------------
    def find_suppliers(self, text: str, previous: Optional[SupplierQuery] = None) -> SupplierResult:
        """Understand ``text`` (a refinement of ``previous`` if given) and match suppliers."""
        return self.match_suppliers(self.parser.parse_supplier_request(text, previous))

    def _product_candidates(self, query: SupplierQuery) -> Dict[str, Tuple[float, ProductRecord]]:
        scored: Dict[str, Tuple[float, ProductRecord]] = {}

        def offer(product: ProductRecord, score: float) -> None:
            if product.product_id not in scored or scored[product.product_id][0] < score:
                scored[product.product_id] = (score, product)

        for name in query.products:
            for product in self.products_by_name.get(name, ()):
                offer(product, _EXACT_PRODUCT)
            for other in self.product_family.get(name, ()):
                for product in self.products_by_name[other]:
                    offer(product, _PRODUCT_FAMILY)
        for category in query.categories:
            if category.endswith("/*"):
                for product in self.products_by_major.get(category[:-2], ()):
                    offer(product, _CATEGORY)
            else:
                for product in self.products_by_category.get(category, ()):
                    offer(product, _SUBCATEGORY)
        return scored

    def _in_place(self, company: CompanyRecord, query: SupplierQuery) -> bool:
        if query.district:
            return company.district == query.district and (not query.region or company.region == query.region)
        if query.city:
            return company.city == query.city
        if query.region:
            return company.region == query.region
        return True

    def match_suppliers(self, query: SupplierQuery) -> SupplierResult:
        """Rank suppliers for ``query`` (see the module docstring for the order)."""
        if query.is_vague:
            return SupplierResult(query, [], [], 0)
        excluded = set(query.exclude_company_ids)
        required_certs = set(query.certifications)
        best: Dict[str, Tuple[float, ProductRecord, List[str]]] = {}
        for product_score, product in self._product_candidates(query).values():
            company = self.companies[product.company_id]
            if company.company_id in excluded or not required_certs <= company.certifications:
                continue
            if query.min_capacity and product.annual_capacity < query.min_capacity:
                continue
            matched_keywords = [k for k in query.keywords if k in product.keywords or k in product.name]
            score = (product_score + len(matched_keywords)
                     + 0.2 * len(company.certifications)
                     + 0.1 * math.log10(product.annual_capacity + 1))
            current = best.get(company.company_id)
            if current is None or (-score, product.product_id) < (-current[0], current[1].product_id):
                best[company.company_id] = (score, product, matched_keywords)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
        home = [item for item in ranked if self._in_place(self.companies[item[0]], query)]
        start = query.page * PAGE_SIZE
        page = [self._supplier_match(cid, *rest, query=query) for cid, rest in home[start:start + PAGE_SIZE]]
        cross: List[SupplierMatch] = []
        place_named = query.region or query.city or query.district
        other_region = OTHER_REGION.get(self._query_region(query) or "")
        if place_named and other_region and not query.strict_location and query.page == 0:
            wanted = CROSS_REGION_OPTIONS if len(page) >= PAGE_SIZE else max(CROSS_REGION_OPTIONS, PAGE_SIZE - len(page))
            others = [item for item in ranked if self.companies[item[0]].region == other_region][:wanted]
            cross = [self._supplier_match(cid, *rest, query=query, cross_region=True) for cid, rest in others]
        notes = []
        if not home and place_named:
            notes.append(f"{query.district or query.city or query.region}暂无符合条件的供应商")
        return SupplierResult(query, page, cross, len(home), notes)

    def _query_region(self, query: SupplierQuery) -> Optional[str]:
        if query.region:
            return query.region
        if query.city:
            return self.parser.city_region.get(query.city)
        return None

    def _supplier_match(self, company_id: str, score: float, product: ProductRecord, keywords: List[str],
                        *, query: SupplierQuery, cross_region: bool = False) -> SupplierMatch:
        company = self.companies[company_id]
        certs = sorted(company.certifications, key=lambda c: (c not in query.certifications, c))
        place = " ".join(p for p in dict.fromkeys((company.region, company.city, company.district)) if p)
        reasons = []
        if cross_region:
            reasons.append(f"跨区域推荐：位于{company.region}（川渝协同配套）")
        reasons.append(f"产品：{product.name}（{product.category}）")
        if keywords:
            reasons.append("符合：" + "、".join(keywords))
        reasons.append(f"地点：{place}")
        if certs:
            reasons.append("认证：" + "、".join(certs))
        if product.annual_capacity:
            reasons.append(f"年产能：{format_quantity(product.annual_capacity)}{product.unit}")
        return SupplierMatch(company.company_id, company.name, product.product_id, product.name, product.category,
                             company.region, company.city, company.district, certs, product.annual_capacity,
                             product.unit, round(score, 3), reasons, cross_region)

    # -- experts -----------------------------------------------------------------
    def find_experts(self, text: str, previous: Optional[ExpertQuery] = None) -> ExpertResult:
        """Understand ``text`` (a refinement of ``previous`` if given) and match experts."""
        return self.match_experts(self.parser.parse_expert_request(text, previous))

    def _expert_candidates(self, query: ExpertQuery) -> Sequence[int]:
        if query.areas:
            return sorted({i for area in query.areas for i in self.experts_by_area.get(area, ())})
        if query.fields:
            return sorted({i for f in query.fields for i in self.experts_by_field.get(f, ())})
        if query.honors:
            return sorted({i for h in query.honors for i in self.experts_by_honor.get(h, ())})
        return range(len(self.experts))

    def match_experts(self, query: ExpertQuery) -> ExpertResult:
        """Rank available experts for ``query`` and assemble page ``query.page`` of the panel."""
        if query.is_vague:
            return ExpertResult(query, [], 0)
        avoided = related_organizations(query.exclude_organizations, self.organizations)
        areas, fields, honors = set(query.areas), set(query.fields), set(query.honors)
        levels, titles, org_types = set(query.title_levels), set(query.titles), set(query.org_types)
        wanted_orgs = set(query.include_organizations)
        scored = []
        for position in self._expert_candidates(query):
            expert = self.experts[position]
            if expert.organization in avoided:
                continue
            if honors and honors.isdisjoint(expert.honors):
                continue
            if levels and expert.title_level not in levels:
                continue
            if titles and expert.title not in titles:
                continue
            if org_types and expert.org_type not in org_types:
                continue
            if wanted_orgs and expert.organization not in wanted_orgs:
                continue
            if query.city and expert.city != query.city:
                continue
            if query.region and expert.region != query.region:
                continue
            if query.gender and expert.gender != query.gender:
                continue
            matched_areas = areas.intersection(expert.research_areas)
            if areas and not matched_areas:
                continue
            matched_fields = fields.intersection(expert.fields)
            if fields and not areas and not matched_fields:
                continue
            score = (3 * len(matched_areas) + 2 * len(matched_fields)
                     + sum(_HONOR_WEIGHT.get(h, 0) for h in expert.honors)
                     + _LEVEL_WEIGHT.get(expert.title_level, 0))
            scored.append((-score, expert.review_count, expert.expert_id, position, matched_areas, matched_fields))
        scored.sort()
        panel = _diverse_page([(s[3], self.experts[s[3]].organization) for s in scored], query.count, query.page)
        details = {s[3]: s for s in scored}
        matches = [self._expert_match(position, details[position]) for position in panel]
        return ExpertResult(query, matches, len(scored))

    def _expert_match(self, position: int, detail) -> ExpertMatch:
        expert = self.experts[position]
        negative_score, _reviews, _id, _pos, matched_areas, matched_fields = detail
        reasons = []
        if matched_areas:
            reasons.append("研究方向：" + "、".join(a for a in expert.research_areas if a in matched_areas))
        if matched_fields:
            reasons.append("领域：" + "、".join(f for f in expert.fields if f in matched_fields))
        elif expert.fields:
            reasons.append("领域：" + "、".join(expert.fields))
        reasons.append(f"职称：{expert.title_level}·{expert.title}")
        if expert.honors:
            reasons.append("荣誉：" + "、".join(expert.honors))
        reasons.append(f"地区：{expert.city if expert.city == expert.region else expert.region + expert.city}")
        reasons.append(f"目前可接受邀请，已参与评审 {expert.review_count} 次")
        return ExpertMatch(expert.expert_id, expert.name, expert.title, expert.title_level, expert.organization,
                           expert.region, expert.city, expert.review_count, round(-negative_score, 3), reasons)


def _diverse_page(ranked: List[Tuple[int, str]], size: int, page: int) -> List[int]:
    """Page ``page`` of panels of ``size``, each with at most ⌈size/3⌉ per organisation.

    Panels are filled in rank order; a candidate over its organisation's cap waits for
    the next panel. If a panel cannot be filled under the cap (few organisations
    qualify), it is completed in rank order.
    """
    cap = max(1, math.ceil(size / 3))
    remaining = list(ranked)
    panel: List[int] = []
    for _ in range(page + 1):
        panel, waiting, per_org = [], [], defaultdict(int)
        for position, org in remaining:
            if len(panel) < size and per_org[org] < cap:
                panel.append(position)
                per_org[org] += 1
            else:
                waiting.append((position, org))
        while len(panel) < size and waiting:
            panel.append(waiting.pop(0)[0])
        taken = set(panel)
        remaining = [item for item in remaining if item[0] not in taken]
    return panel


_index_lock = threading.Lock()
_indexes: Dict[str, Tuple[PlatformIndex, float]] = {}


def get_index(url: Optional[str] = None) -> PlatformIndex:
    """The process-wide index of ``url``'s data, rebuilt when ``data_version`` changed."""
    from bot.platform.db import database_url

    key = database_url(url)
    with _index_lock:
        cached = _indexes.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[1] < RELOAD_CHECK_SECONDS:
            return cached[0]
        with session_scope(url) as session:
            version = data_version(session)
            if cached is not None and cached[0].version == version:
                _indexes[key] = (cached[0], now)
                return cached[0]
            index = PlatformIndex(load_snapshot(session))
        _indexes[key] = (index, now)
        return index


def forget_index(url: Optional[str] = None) -> None:
    """Drop the cached index of ``url`` (tests that recreate a database)."""
    from bot.platform.db import database_url

    with _index_lock:
        _indexes.pop(database_url(url), None)
