"""Supplier and expert matching over an in-memory index of the platform data.

``get_index()`` returns the process-wide :class:`PlatformIndex`, built from a
:class:`~bot.platform.snapshot.Snapshot` and rebuilt when the database's
``data_version`` changes (one primary-key read per request). Until the new index is
ready, the old one answers with everything the import withdrew (retired rows,
experts no longer available) filtered out, so a retired row is never offered; the
finished index replaces it in one step. Matching itself never touches the
database, so a request costs a few milliseconds.

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

import copy
import logging
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

from bot.language import ENGLISH
from bot.messages import DEFAULT_LANGUAGE, join_list, user_text
from bot.platform.db import current_data_version, data_version, record_served_version, session_scope
from bot.platform.english import english_label, english_place
from bot.platform.snapshot import (
    CompanyRecord,
    ExpertRecord,
    ProductRecord,
    Snapshot,
    Withdrawn,
    load_snapshot,
    load_withdrawn,
)
from bot.platform.understanding import (
    ExpertQuery,
    RequestParser,
    SupplierQuery,
    format_quantity,
    join_either,
    place_name,
)

PAGE_SIZE = 5
CROSS_REGION_OPTIONS = 2
#: Suppliers of a related product shown when the product asked for is not in the data.
ALTERNATIVES = 3
logger = logging.getLogger(__name__)
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
    #: Why this supplier does not meet the request but is shown anyway (another
    #: region, a related product); empty for a real match.
    alternative_reason: str = ""
    number: int = 0  # its number in the conversation's list (「第二家」)

    def payload_item(self) -> Dict[str, object]:
        """The card of the ``supplier_matches`` custom payload (schema: ``docs/payloads.md``)."""
        item: Dict[str, object] = {
            "number": self.number, "company_id": self.company_id, "name": self.name,
            "product_id": self.product_id, "product_name": self.product_name, "category": self.category,
            "region": self.region, "city": self.city, "district": self.district,
            "certifications": list(self.certifications), "annual_capacity": self.annual_capacity,
            "unit": self.unit, "reasons": list(self.reasons)}
        if self.alternative_reason:
            item.update(alternative=True, reason=self.alternative_reason)
        return item


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

    @property
    def first_number(self) -> int:
        """The number of this page's first supplier: numbering runs on across pages
        (the first page's cross-region options included)."""
        return 1 if self.query.page == 0 else self.query.page * PAGE_SIZE + self.query.cross_shown + 1


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
        """The card of the ``expert_matches`` custom payload (schema: ``docs/payloads.md``)."""
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


def _shared_length(terms: Sequence[str], name: str) -> int:
    """Length of the longest stretch of a requested term found in a product name
    (「动力电池包」 shares 「电池包」 with 「磷酸铁锂电池包」): the closer product ranks first."""
    best = 0
    for term in terms:
        for size in range(min(len(term), len(name)), best, -1):
            if any(term[i:i + size] in name for i in range(len(term) - size + 1)):
                best = size
                break
    return best if best >= 2 else 0


def _label(term: str, language: str) -> str:
    """A term of the data as shown in ``language`` (English labels from the glossary)."""
    return english_label(term) if language == ENGLISH else term


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
        self.expert_columns = ExpertColumns(self.experts)
        self.organizations = sorted({e.organization for e in snapshot.experts})
        #: What later imports withdrew from this snapshot (empty for a fresh index).
        self.withdrawn = Withdrawn()

    def without(self, withdrawn: Withdrawn) -> "PlatformIndex":
        """This index, answering without the ``withdrawn`` rows (shares everything else)."""
        masked = copy.copy(self)
        masked.withdrawn = withdrawn
        return masked

    def offers_company(self, company_id: str) -> bool:
        """Whether ``company_id`` is active in this index (not withdrawn since it was built)."""
        return company_id in self.companies and company_id not in self.withdrawn.companies

    @classmethod
    def load(cls, url: Optional[str] = None) -> "PlatformIndex":
        with session_scope(url) as session:
            return cls(load_snapshot(session))

    # -- suppliers ---------------------------------------------------------------
    def find_suppliers(self, text: str, previous: Optional[SupplierQuery] = None,
                       language: str = DEFAULT_LANGUAGE) -> SupplierResult:
        """Understand ``text`` (a refinement of ``previous`` if given) and match suppliers;
        the reasons are in ``language``."""
        return self.match_suppliers(self.parser.parse_supplier_request(text, previous), language)

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

    @staticmethod
    def _at(company: CompanyRecord, place: Dict[str, Optional[str]]) -> bool:
        if place.get("district"):
            return company.district == place["district"] and (not place.get("region")
                                                             or company.region == place["region"])
        if place.get("city"):
            return company.city == place["city"]
        if place.get("region"):
            return company.region == place["region"]
        return True

    def _in_place(self, company: CompanyRecord, query: SupplierQuery) -> bool:
        """In one of the accepted places (anywhere if none) and in none of the excluded ones."""
        places = query.places
        if places and not any(self._at(company, p) for p in places):
            return False
        return not any(self._at(company, p) for p in query.excluded_places)

    def match_suppliers(self, query: SupplierQuery, language: str = DEFAULT_LANGUAGE) -> SupplierResult:
        """Rank suppliers for ``query`` (see the module docstring for the order)."""
        if query.is_vague:
            return SupplierResult(query, [], [], 0)
        excluded = set(query.exclude_company_ids)
        required_certs = set(query.certifications)
        best: Dict[str, Tuple[float, ProductRecord, List[str]]] = {}
        withdrawn = self.withdrawn
        for product_score, product in self._product_candidates(query).values():
            company = self.companies[product.company_id]
            if product.product_id in withdrawn.products or company.company_id in withdrawn.companies:
                continue
            if company.company_id in excluded or not required_certs <= company.certifications:
                continue
            if query.min_capacity and product.annual_capacity < query.min_capacity:
                continue
            matched_keywords = [k for k in query.keywords if k in product.keywords or k in product.name]
            score = (product_score + len(matched_keywords) + 0.5 * _shared_length(query.terms, product.name)
                     + 0.2 * len(company.certifications)
                     + 0.1 * math.log10(product.annual_capacity + 1))
            current = best.get(company.company_id)
            if current is None or (-score, product.product_id) < (-current[0], current[1].product_id):
                best[company.company_id] = (score, product, matched_keywords)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
        home = [item for item in ranked if self._in_place(self.companies[item[0]], query)]
        if query.missing_product:
            # Not the product asked for: a few clearly labelled alternatives, one page only.
            home = home[:ALTERNATIVES] if query.page == 0 else []
        start = query.page * PAGE_SIZE
        page = [self._supplier_match(cid, *rest, query=query, language=language)
                for cid, rest in home[start:start + PAGE_SIZE]]
        cross: List[SupplierMatch] = []
        place_named = bool(query.places)
        other_region = OTHER_REGION.get(self._query_region(query) or "")
        if place_named and other_region and not query.strict_location and query.page == 0 and not query.missing_product:
            wanted = max(CROSS_REGION_OPTIONS, PAGE_SIZE - len(page))
            others = [item for item in ranked if self.companies[item[0]].region == other_region
                      and not any(self._at(self.companies[item[0]], p) for p in query.excluded_places)][:wanted]
            cross = [self._supplier_match(cid, *rest, query=query, cross_region=True, language=language)
                     for cid, rest in others]
        notes = []
        if not home and place_named:
            place = join_either((_label(place_name(p), language) for p in query.places), language)
            notes.append(user_text("suppliers.none_in_place", language, place=place))
        result = SupplierResult(query, page, cross, len(home), notes)
        if query.page == 0:
            query.cross_shown = len(cross)
        for number, match in enumerate(result.items, start=result.first_number):
            match.number = number
        return result

    def _query_region(self, query: SupplierQuery) -> Optional[str]:
        """The one region all accepted places lie in (None: none named, or both)."""
        regions = {p.get("region") or self.parser.city_region.get(p.get("city") or "") for p in query.places}
        return regions.pop() if len(regions) == 1 else None

    def _supplier_match(self, company_id: str, score: float, product: ProductRecord, keywords: List[str],
                        *, query: SupplierQuery, cross_region: bool = False,
                        language: str = DEFAULT_LANGUAGE) -> SupplierMatch:
        company = self.companies[company_id]
        certs = sorted(company.certifications, key=lambda c: (c not in query.certifications, c))
        places = [english_place(p) if language == ENGLISH else p
                  for p in dict.fromkeys((company.region, company.city, company.district)) if p]
        place = (", " if language == ENGLISH else " ").join(reversed(places) if language == ENGLISH else places)
        reasons = []
        alternative = ""
        if cross_region:
            alternative = user_text("suppliers.reason.cross_region", language,
                                    region=_label(company.region, language))
            reasons.append(alternative)
        elif query.missing_product:
            alternative = user_text("suppliers.reason.alternative", language,
                                    requested=_label(query.missing_product, language),
                                    product=_label(product.name, language))
            reasons.append(alternative)
        reasons.append(user_text("suppliers.reason.product", language, product=_label(product.name, language),
                                 category=_label(product.category, language)))
        if keywords:
            reasons.append(user_text("suppliers.reason.keywords", language,
                                     keywords=join_list([_label(k, language) for k in keywords], language)))
        reasons.append(user_text("suppliers.reason.place", language, place=place))
        if certs:
            reasons.append(user_text("suppliers.reason.certifications", language,
                                     certifications=join_list(certs, language)))
        if product.annual_capacity:
            reasons.append(user_text("suppliers.reason.capacity", language,
                                     capacity=format_quantity(product.annual_capacity, language),
                                     unit=_label(product.unit, language)))
        return SupplierMatch(company.company_id, company.name, product.product_id, product.name, product.category,
                             company.region, company.city, company.district, certs, product.annual_capacity,
                             product.unit, round(score, 3), reasons, cross_region, alternative)

    # -- experts -----------------------------------------------------------------
    def find_experts(self, text: str, previous: Optional[ExpertQuery] = None,
                     language: str = DEFAULT_LANGUAGE) -> ExpertResult:
        """Understand ``text`` (a refinement of ``previous`` if given) and match experts;
        the reasons are in ``language``."""
        return self.match_experts(self.parser.parse_expert_request(text, previous), language)

    def match_experts(self, query: ExpertQuery, language: str = DEFAULT_LANGUAGE) -> ExpertResult:
        """Rank available experts for ``query`` and assemble page ``query.page`` of the panel."""
        if query.is_vague:
            return ExpertResult(query, [], 0)
        avoided = related_organizations(query.exclude_organizations, self.organizations)
        ranked = self.expert_columns.rank(query, avoided)
        if self.withdrawn.experts:
            gone = self.withdrawn.experts
            ranked = np.array([p for p in ranked if self.experts[int(p)].expert_id not in gone], dtype=ranked.dtype)
        panel = _diverse_page(ranked, [self.experts[int(p)].organization for p in ranked[:_DIVERSITY_WINDOW]],
                              query.count, query.page)
        matches = [self._expert_match(int(p), set(query.areas), set(query.fields), language) for p in panel]
        return ExpertResult(query, matches, len(ranked))

    def _expert_match(self, position: int, areas: Set[str], fields: Set[str],
                      language: str = DEFAULT_LANGUAGE) -> ExpertMatch:
        expert = self.experts[position]
        matched_areas = [a for a in expert.research_areas if a in areas]
        matched_fields = [f for f in expert.fields if f in fields]

        def listed(terms: Iterable[str]) -> str:
            return join_list([_label(term, language) for term in terms], language)

        reasons = []
        if matched_areas:
            reasons.append(user_text("experts.reason.research_areas", language, areas=listed(matched_areas)))
        if matched_fields:
            reasons.append(user_text("experts.reason.fields", language, fields=listed(matched_fields)))
        elif expert.fields:
            reasons.append(user_text("experts.reason.fields", language, fields=listed(expert.fields)))
        reasons.append(user_text("experts.reason.title", language, level=_label(expert.title_level, language),
                                 title=_label(expert.title, language)))
        if expert.honors:
            reasons.append(user_text("experts.reason.honors", language, honors=listed(expert.honors)))
        if language == ENGLISH:
            place = join_list([english_place(p) for p in dict.fromkeys((expert.city, expert.region))], language)
        else:
            place = expert.city if expert.city == expert.region else expert.region + expert.city
        reasons.append(user_text("experts.reason.region", language, place=place))
        reasons.append(user_text("experts.reason.available", language, count=expert.review_count))
        score = (3 * len(matched_areas) + 2 * len(matched_fields)
                 + sum(_HONOR_WEIGHT.get(h, 0) for h in expert.honors) + _LEVEL_WEIGHT.get(expert.title_level, 0))
        return ExpertMatch(expert.expert_id, expert.name, expert.title, expert.title_level, expert.organization,
                           expert.region, expert.city, expert.review_count, round(score, 3), reasons)


class ExpertColumns:
    """The available experts as numpy columns: filtering and ranking 300,000 experts takes
    a few vectorised passes instead of a Python loop.

    List attributes (fields, research areas, honours) are bit masks; single-valued ones
    are integer codes. Experts keep their position in ``PlatformIndex.experts`` (sorted
    by id), which is the last tie-breaker.
    """

    def __init__(self, experts: Sequence[ExpertRecord]) -> None:
        self.codes: Dict[str, Dict[str, int]] = defaultdict(dict)
        self.bits: Dict[str, Dict[str, int]] = defaultdict(dict)
        n = len(experts)
        self.fields = np.zeros(n, dtype=np.int64)
        self.areas = np.zeros(n, dtype=np.int64)
        self.honors = np.zeros(n, dtype=np.int64)
        single = ("title_level", "title", "organization", "org_type", "region", "city", "gender")
        self.single = {name: np.zeros(n, dtype=np.int32) for name in single}
        self.reviews = np.zeros(n, dtype=np.int64)
        self.static_score = np.zeros(n, dtype=np.float64)
        for position, expert in enumerate(experts):
            self.fields[position] = self._mask("fields", expert.fields)
            self.areas[position] = self._mask("areas", expert.research_areas)
            self.honors[position] = self._mask("honors", expert.honors)
            for name in single:
                self.single[name][position] = self.codes[name].setdefault(getattr(expert, name), len(self.codes[name]))
            self.reviews[position] = expert.review_count
            self.static_score[position] = (sum(_HONOR_WEIGHT.get(h, 0) for h in expert.honors)
                                           + _LEVEL_WEIGHT.get(expert.title_level, 0))
        self.positions = np.arange(n)

    def _mask(self, kind: str, values: Sequence[str]) -> int:
        mask = 0
        for value in values:
            bit = self.bits[kind].setdefault(value, len(self.bits[kind]))
            if bit >= 63:  # more distinct values than bits: the extras cannot be filtered on
                continue
            mask |= 1 << bit
        return mask

    def _hits(self, column: np.ndarray, kind: str, values: Sequence[str]) -> np.ndarray:
        hits = np.zeros(len(column), dtype=np.int64)
        for value in values:
            bit = self.bits[kind].get(value)
            if bit is not None and bit < 63:
                hits += (column >> bit) & 1
        return hits

    def _any_of(self, name: str, values) -> np.ndarray:
        wanted = [self.codes[name][v] for v in values if v in self.codes[name]]
        return np.isin(self.single[name], wanted)

    def rank(self, query: ExpertQuery, avoided: Set[str]) -> np.ndarray:
        """Positions of the matching experts, best first."""
        area_hits = self._hits(self.areas, "areas", query.areas)
        field_hits = self._hits(self.fields, "fields", query.fields)
        if query.areas:
            keep = area_hits > 0
        elif query.fields:
            keep = field_hits > 0
        else:
            keep = np.ones(len(self.positions), dtype=bool)
        if query.honors:
            keep &= self._hits(self.honors, "honors", query.honors) > 0
        for name, values in (("title_level", query.title_levels), ("title", query.titles),
                             ("org_type", query.org_types), ("organization", query.include_organizations)):
            if values:
                keep &= self._any_of(name, values)
        for name, value in (("city", query.city), ("region", query.region), ("gender", query.gender)):
            if value:
                keep &= self._any_of(name, [value])
        if avoided:
            keep &= ~self._any_of("organization", avoided)
        chosen = self.positions[keep]
        score = 3 * area_hits[chosen] + 2 * field_hits[chosen] + self.static_score[chosen]
        order = np.lexsort((chosen, self.reviews[chosen], -score))  # last key sorts first
        return chosen[order]


#: How many of the best candidates the panel builder looks at (enough for several
#: pages even when one organisation dominates the top of the list).
_DIVERSITY_WINDOW = 2000


def _diverse_page(ranked: Iterable[int], organizations: Sequence[str], size: int, page: int) -> List[int]:
    """Page ``page`` of panels of ``size``, each with at most ⌈size/3⌉ per organisation.

    ``organizations`` belong to the first ``len(organizations)`` ranked experts (the
    window considered). Panels are filled in rank order; a candidate over its
    organisation's cap waits for the next panel. If a panel cannot be filled under the
    cap (few organisations qualify), it is completed in rank order.
    """
    cap = max(1, math.ceil(size / 3))
    remaining = [(int(p), org) for p, org in zip(ranked, organizations, strict=False)]
    panel: List[int] = []
    for _ in range(page + 1):
        panel, waiting = [], []
        per_org: Dict[str, int] = defaultdict(int)
        for position, org in remaining:
            if len(panel) >= size:
                break
            if per_org[org] < cap:
                panel.append(position)
                per_org[org] += 1
            else:
                waiting.append(position)
        while len(panel) < size and waiting:
            panel.append(waiting.pop(0))
        taken = set(panel)
        remaining = [item for item in remaining if item[0] not in taken]
    return panel


@dataclass
class _Served:
    """The index answering for one database, and the ``data_version`` it answers for."""

    index: PlatformIndex
    version: int


_index_lock = threading.Lock()
_served: Dict[str, _Served] = {}
_rebuilding: Set[str] = set()


def _swap_in(key: str, url: Optional[str], index: PlatformIndex) -> PlatformIndex:
    """Make ``index`` the one answering (caller holds ``_index_lock``) unless the data
    moved on meanwhile: then it answers with the newer withdrawals filtered out."""
    current = _served.get(key)
    if current is not None and current.version > index.version:
        index = index.without(current.index.withdrawn)
        _served[key] = _Served(index, current.version)
        return index
    _served[key] = _Served(index, index.version)
    try:
        with session_scope(url) as session:
            record_served_version(session, index.version)
    except Exception:  # bookkeeping for `import-export --wait` only; matching goes on
        logger.warning("could not record the served data version", exc_info=True)
    return index


def _rebuild(key: str, url: Optional[str]) -> None:
    """Build fresh indexes in the background until one is as new as the data; the
    current index keeps answering (with withdrawals filtered) meanwhile."""
    started = time.monotonic()
    try:
        while True:
            index = PlatformIndex.load(url)
            with _index_lock:
                _swap_in(key, url, index)
                if _served[key].version <= index.version:
                    break
        logger.info("platform index of data version %s ready in %.1f s", index.version, time.monotonic() - started)
    except Exception:
        logger.exception("rebuilding the platform index failed; the next request retries")
    finally:
        with _index_lock:
            _rebuilding.discard(key)


def get_index(url: Optional[str] = None, *, wait_for_new_data: bool = False) -> PlatformIndex:
    """The process-wide index of ``url``'s data.

    The first call builds it. Every later call reads ``data_version`` (one primary-key
    read); when it changed, the current index at once stops offering what the import
    withdrew, and a new index is built in a background thread and swapped in when
    complete (a rebuild takes seconds at scale). ``wait_for_new_data`` rebuilds in the
    caller instead (tests, benchmarks).
    """
    from bot.platform.db import database_url

    key = database_url(url)
    with _index_lock:
        current = _served.get(key)
        if current is None:
            return _swap_in(key, url, PlatformIndex.load(url))
        if current_data_version(url) == current.version:
            return current.index
        with session_scope(url) as session:
            version = data_version(session)
            if wait_for_new_data:
                return _swap_in(key, url, PlatformIndex.load(url))
            withdrawn = load_withdrawn(session)
        masked = current.index.without(withdrawn)
        _served[key] = _Served(masked, version)
        if key not in _rebuilding:
            _rebuilding.add(key)
            threading.Thread(target=_rebuild, args=(key, url), name="platform-index-rebuild", daemon=True).start()
        return masked


def forget_index(url: Optional[str] = None) -> None:
    """Drop the cached index of ``url`` (tests that recreate a database)."""
    from bot.platform.db import database_url

    with _index_lock:
        _served.pop(database_url(url), None)
