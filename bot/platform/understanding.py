"""Understand free Chinese requests for suppliers and experts.

A blank spaCy ``zh`` pipeline (character segmentation: no model, no dictionary
drift) runs a ``PhraseMatcher`` whose patterns are the platforms' own vocabulary —
product names, categories, keywords, certificates, regions, cities, districts,
fields, research areas, honours, titles, organisations, company names — plus the
colloquial synonyms of :mod:`bot.platform.synonyms`. Overlapping matches keep the
longest span (``铝合金轮毂`` beats ``铝合金``), so the vocabulary decides what a word
means, and any phrasing around the words works.

Numbers (minimum capacity, panel size) are read with small regular expressions
that understand ``10万``, ``五十万`` and ``3位``.
"""
from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

import spacy
from spacy.matcher import PhraseMatcher
from spacy.util import filter_spans

from bot.language import ENGLISH, detect_language
from bot.messages import DEFAULT_LANGUAGE, join_list, user_text
from bot.platform import synonyms
from bot.platform.english import english_label, with_chinese_terms
from bot.platform.snapshot import Snapshot
from bot.textnorm import normalize_for_nlu

#: Longest request text we analyse (longer text is cut: matching needs the gist).
MAX_REQUEST_CHARS = 500
#: Largest expert panel we assemble in one request.
MAX_PANEL = 20
DEFAULT_PANEL = 5

_STRICT_MARKERS = ("只要", "只看", "只找", "仅限", "仅要", "只限", "必须在", "必须是", "一定要在", "限定",
                   "只考虑", "仅考虑")
#: 「重庆以外也可以」「外地也行」: the place named is not a limit.
_ANY_PLACE_MARKERS = ("以外也", "之外也", "外地也", "哪里都", "哪儿都", "地区不限", "不限地区", "不限区域", "省外也")
_OWN_ORG_MARKERS = ("我们是", "我是", "我们单位", "本单位", "我单位", "我校", "我院", "本校", "本院", "我司",
                    "本公司", "我们公司", "我们学校", "我们医院", "来自", "回避", "排除", "避开", "不要",
                    "除了", "除去", "不含", "不包括", "避免", "我们在", "我在")
_POSITIVE_ORG_MARKERS = ("找", "推荐", "邀请", "需要", "要", "只要", "请")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
_NUMBER = r"(\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+)"
_CAPACITY_PATTERNS = [
    re.compile(r"(?:年产能|产能|年产量|年产|产量|供货能力|供应能力|月产能|月产量|月产)[^\d零〇一二两三四五六七八九十百千]{0,8}"
               + _NUMBER + r"\s*(万|千|百万|亿)?"),
    re.compile(_NUMBER + r"\s*(万|千|百万|亿)?\s*(件|辆|套|台|片|个|颗)?\s*(?:以上|及以上|起|往上)"),
]
_PANEL_PATTERN = re.compile(r"(\d+|[一二两三四五六七八九十]+)\s*(位|名|人|个)")


def chinese_number(text: str) -> Optional[float]:
    """``"五十"`` → 50, ``"3.5"`` → 3.5, ``"一百二十"`` → 120; ``None`` when not a number."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    total, section, digit = 0, 0, None
    for char in text:
        if char in _CN_DIGITS:
            digit = _CN_DIGITS[char]
        elif char in _CN_UNITS:
            unit = _CN_UNITS[char]
            value = 1 if digit is None else digit
            if unit >= 10_000:
                total = (total + section + (digit or 0)) * unit
                section = 0
            else:
                section += value * unit
            digit = None
        else:
            return None
    return float(total + section + (digit or 0))


_MULTIPLIERS = {"万": 10_000, "千": 1000, "百万": 1_000_000, "亿": 100_000_000, None: 1, "": 1}


def parse_min_capacity(text: str) -> Optional[int]:
    """The minimum annual capacity a request asks for (monthly figures ×12), or ``None``."""
    for pattern in _CAPACITY_PATTERNS:
        match = pattern.search(text)
        if match:
            value = chinese_number(match.group(1))
            bare_number = pattern.groups == 3 and not (match.group(2) or match.group(3))
            if value is None or bare_number:  # "10年以上" is not a capacity
                continue
            amount = value * _MULTIPLIERS[match.group(2)]
            if "月产" in match.group(0):
                amount *= 12
            return int(amount)
    return None


def parse_panel_size(text: str) -> Optional[int]:
    """How many experts a request asks for (``五位``, ``3名``, ``8人``), capped at :data:`MAX_PANEL`.

    位/名/人 win over 个, so 「组一个8人的评审组」 means eight.
    """
    candidates = sorted(_PANEL_PATTERN.finditer(text), key=lambda m: m.group(2) == "个")
    for match in candidates:
        value = chinese_number(match.group(1))
        if value and value >= 1:
            return min(int(value), MAX_PANEL)
    return None


# --------------------------------------------------------------------------- queries

@dataclass
class SupplierQuery:
    """What a supplier request asks for. Serialisable (kept in a Rasa slot for refinements)."""

    products: List[str] = field(default_factory=list)  # product names of the export
    categories: List[str] = field(default_factory=list)  # full paths or ``大类/*``
    keywords: List[str] = field(default_factory=list)  # soft preferences (铝合金, 车规级 …)
    region: Optional[str] = None
    city: Optional[str] = None
    district: Optional[str] = None
    certifications: List[str] = field(default_factory=list)
    min_capacity: Optional[int] = None
    exclude_company_ids: List[str] = field(default_factory=list)
    strict_location: bool = False
    page: int = 0

    @property
    def is_vague(self) -> bool:
        """No product or category understood: ask before searching."""
        return not self.products and not self.categories

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> "SupplierQuery":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def describe(self, language: str = DEFAULT_LANGUAGE) -> str:
        """Short summary of the criteria in ``language``, for the reply's first line."""
        label = english_label if language == ENGLISH else str
        parts = [label(p) for p in self.products]
        parts += [user_text("criteria.category", language, category=label(c[:-2])) if c.endswith("/*") else label(c)
                  for c in self.categories]
        parts += [label(k) for k in self.keywords]
        place = self.district or self.city or self.region
        if place:
            parts.append(user_text("criteria.only_place", language, place=label(place)) if self.strict_location
                         else label(place))
        parts += self.certifications
        if self.min_capacity:
            parts.append(user_text("criteria.min_capacity", language,
                                   capacity=format_quantity(self.min_capacity, language)))
        return join_list(parts, language)


@dataclass
class ExpertQuery:
    """What an expert request asks for. Serialisable like :class:`SupplierQuery`."""

    fields: List[str] = field(default_factory=list)
    areas: List[str] = field(default_factory=list)
    honors: List[str] = field(default_factory=list)
    title_levels: List[str] = field(default_factory=list)
    titles: List[str] = field(default_factory=list)
    org_types: List[str] = field(default_factory=list)
    region: Optional[str] = None
    city: Optional[str] = None
    gender: Optional[str] = None
    #: The user's own organisation(s): never recommended (回避).
    exclude_organizations: List[str] = field(default_factory=list)
    #: Organisations the user explicitly asked for (找四川大学的专家).
    include_organizations: List[str] = field(default_factory=list)
    count: int = DEFAULT_PANEL
    page: int = 0

    @property
    def is_vague(self) -> bool:
        return not (self.fields or self.areas or self.honors or self.titles or self.include_organizations)

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> "ExpertQuery":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def describe(self, language: str = DEFAULT_LANGUAGE) -> str:
        """Short summary of the criteria in ``language``, for the reply's first line."""
        label = english_label if language == ENGLISH else str
        parts = [label(p) for p in (*self.areas, *self.fields, *self.honors, *self.titles, *self.title_levels,
                                    *self.org_types)]
        parts += self.include_organizations
        place = self.city or self.region
        if place:
            parts.append(label(place))
        if self.gender:
            parts.append(user_text("criteria.gender", language, gender=label(self.gender)))
        if self.exclude_organizations:
            parts.append(user_text("criteria.avoid", language,
                                   organizations=join_list(self.exclude_organizations, language)))
        return join_list(parts, language)


def format_quantity(value: int, language: str = DEFAULT_LANGUAGE) -> str:
    """``500000`` → ``50万`` (in English ``500,000``); ``1200`` → ``1200``."""
    if language == ENGLISH:
        return f"{value:,}"
    if value >= 100_000_000 and value % 10_000_000 == 0:
        return f"{value / 100_000_000:g}亿"
    if value >= 10_000 and value % 1000 == 0:
        return f"{value / 10_000:g}万"
    return str(value)


# --------------------------------------------------------------------------- vocabulary

Key = Tuple[str, str]  # (label, value)


def _strip_parenthetical(name: str) -> List[str]:
    """``电动助力转向(EPS)`` → ``["电动助力转向", "EPS"]``."""
    match = re.match(r"^(.+?)\s*[(（]\s*(.+?)\s*[)）]$", name)
    return [match.group(1), match.group(2)] if match else []


def _place_aliases(district: str) -> List[str]:
    """``璧山区`` → ``璧山``; never a one-character or city-like stump."""
    for suffix in ("新区", "区", "县", "市"):
        if district.endswith(suffix) and len(district) - len(suffix) >= 2:
            stump = district[: -len(suffix)]
            if stump not in ("市中", "高新"):
                return [stump]
    return []


def _org_aliases(name: str, places: Iterable[str]) -> List[str]:
    """``重庆长安汽车股份有限公司`` → ``重庆长安汽车``, ``长安汽车``."""
    aliases = []
    for suffix in ("股份有限公司", "有限责任公司", "有限公司"):
        if name.endswith(suffix):
            aliases.append(name[: -len(suffix)])
            break
    for alias in list(aliases):
        for place in places:
            if alias.startswith(place) and len(alias) - len(place) >= 2:
                aliases.append(alias[len(place):])
    return aliases


@functools.lru_cache(maxsize=65536)
def _normalised_term(term: str) -> str:
    return normalize_for_nlu(term).strip()


class Vocabulary:
    """Surface forms → meanings, for one kind of request (suppliers or experts)."""

    def __init__(self) -> None:
        self.surfaces: Dict[str, Set[Key]] = defaultdict(set)

    def add(self, surface: str, label: str, value: str) -> None:
        surface = _normalised_term(surface)
        if surface:
            self.surfaces[surface].add((label, value))

    def alias(self, surface: str, target: str) -> bool:
        """Give ``surface`` every meaning of ``target``; False when ``target`` is unknown."""
        meanings = self.surfaces.get(_normalised_term(target))
        if not meanings:
            return False
        for label, value in list(meanings):
            self.add(surface, label, value)
        return True

    def compile(self, nlp) -> PhraseMatcher:
        matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for surface in self.surfaces:
            matcher.add(surface, [nlp.make_doc(surface)])  # match id = the surface form
        return matcher


def _add_places(vocab: Vocabulary, snapshot: Snapshot) -> Dict[str, Set[Tuple[str, str]]]:
    """Regions, cities, districts of the data; returns district → {(region, city)}."""
    district_places: Dict[str, Set[Tuple[str, str]]] = defaultdict(set)
    cities: Dict[str, str] = {}
    for company in snapshot.companies.values():
        cities[company.city] = company.region
        if company.district:
            district_places[company.district].add((company.region, company.city))
    cities.update({expert.city: expert.region for expert in snapshot.experts})
    for region in ("四川", "重庆"):
        vocab.add(region, "REGION", region)
    for surface, region in synonyms.REGION_SYNONYMS.items():
        vocab.add(surface, "REGION", region)
    for surface in synonyms.BOTH_REGIONS:
        vocab.add(surface, "BOTH", "")
    for city, region in cities.items():
        if city != region:
            vocab.add(city, "CITY", city)
            vocab.add(city + "市", "CITY", city)
    for district in district_places:
        vocab.add(district, "DISTRICT", district)
        for stump in _place_aliases(district):
            if stump not in cities:
                vocab.add(stump, "DISTRICT", district)
    return district_places


def build_supplier_vocabulary(snapshot: Snapshot) -> Tuple[Vocabulary, Dict[str, Set[Tuple[str, str]]]]:
    vocab = Vocabulary()
    district_places = _add_places(vocab, snapshot)
    product_names = {p.name for p in snapshot.products}
    categories = {p.category for p in snapshot.products} | {d.category for d in snapshot.demands}
    for name in product_names:
        vocab.add(name, "PRODUCT", name)
        for part in _strip_parenthetical(name):
            vocab.add(part, "PRODUCT", name)
    for category in categories:
        major, _, minor = category.partition("/")
        vocab.add(major, "CATEGORY", f"{major}/*" if minor else major)
        if minor:
            vocab.add(minor, "CATEGORY", category)
            vocab.add(f"{major}{minor}", "CATEGORY", category)
            if minor.endswith("系统") and len(minor) > 3:
                vocab.add(minor[:-2], "CATEGORY", category)
    keywords = {k for p in snapshot.products for k in p.keywords} - product_names
    for keyword in keywords:
        if len(keyword) >= 2 and keyword not in vocab.surfaces:
            vocab.add(keyword, "KEYWORD", keyword)
    for cert in {c for company in snapshot.companies.values() for c in company.certifications}:
        vocab.add(cert, "CERT", cert)
    for surface, cert in synonyms.CERTIFICATION_SYNONYMS.items():
        vocab.add(surface, "CERT", cert)
    for company in snapshot.companies.values():
        vocab.add(company.name, "COMPANY", company.company_id)
    # Colloquial words, then every vocabulary term re-spelled with them (刹车卡钳).
    base_terms = [
        surface
        for surface, meanings in vocab.surfaces.items()
        if any(label in ("PRODUCT", "CATEGORY") for label, _ in meanings)
    ]
    for surface, target in synonyms.PRODUCT_SYNONYMS.items():
        vocab.alias(surface, target)
        if len(target) >= 2:
            for term in base_terms:
                if target in term and term != target:
                    variant = term.replace(target, surface)
                    if variant not in vocab.surfaces:
                        vocab.alias(variant, term)
    return vocab, district_places


def build_expert_vocabulary(snapshot: Snapshot) -> Vocabulary:
    vocab = Vocabulary()
    _add_places(vocab, snapshot)
    for label, attribute in (("FIELD", "fields"), ("AREA", "research_areas"), ("HONOR", "honors")):
        for value in {v for expert in snapshot.experts for v in getattr(expert, attribute)}:
            vocab.add(value, label, value)
    titles = {e.title for e in snapshot.experts if e.title}
    for title in titles:
        vocab.add(title, "TITLE", title)
    for level in {e.title_level for e in snapshot.experts}:
        vocab.add(level, "LEVEL", level)
    organizations = {e.organization for e in snapshot.experts}
    places = sorted({e.city for e in snapshot.experts} | {"四川省", "四川", "重庆"}, key=len, reverse=True)
    for org in organizations:
        vocab.add(org, "ORG", org)
        for alias in _org_aliases(org, places):
            vocab.add(alias, "ORG", org)
    for surface, org in synonyms.ORGANIZATION_ALIASES.items():
        if org in organizations:
            vocab.add(surface, "ORG", org)
    for table in (synonyms.FIELD_SYNONYMS, synonyms.AREA_SYNONYMS, synonyms.HONOR_SYNONYMS,
                  synonyms.TITLE_SYNONYMS):
        for surface, target in table.items():
            vocab.alias(surface, target)
    for surface, levels in synonyms.TITLE_LEVEL_SYNONYMS.items():
        for level in levels:
            vocab.add(surface, "LEVEL", level)
    for surface, org_type in synonyms.ORG_TYPE_SYNONYMS.items():
        vocab.add(surface, "ORG_TYPE", org_type)
    for surface in ("女专家", "女性专家", "女性", "女老师", "女教授"):
        vocab.add(surface, "GENDER", "女")
    for surface in ("男专家", "男性专家", "男性", "男老师", "男教授"):
        vocab.add(surface, "GENDER", "男")
    return vocab


@dataclass
class Mention:
    """A vocabulary word found in the text."""

    start: int  # character offset in the normalised text
    end: int
    text: str
    meanings: FrozenSet[Key]

    def values(self, label: str) -> List[str]:
        return sorted(value for meaning, value in self.meanings if meaning == label)


class RequestParser:
    """Turns request text into :class:`SupplierQuery` / :class:`ExpertQuery` for one snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.nlp = spacy.blank("zh")  # character segmentation: no model, no dictionary
        self.supplier_vocab, self.district_places = build_supplier_vocabulary(snapshot)
        self.expert_vocab = build_expert_vocabulary(snapshot)
        self.supplier_matcher = self.supplier_vocab.compile(self.nlp)
        self.expert_matcher = self.expert_vocab.compile(self.nlp)
        self.city_region = {c.city: c.region for c in snapshot.companies.values()}
        self.city_region.update({e.city: e.region for e in snapshot.experts})

    # -- shared ------------------------------------------------------------------
    @staticmethod
    def normalise(text: str) -> str:
        """The text to read: English names of data terms in Chinese, normalised."""
        text = (text or "")[:MAX_REQUEST_CHARS]
        if detect_language(text) == ENGLISH:
            text = with_chinese_terms(text)
        return normalize_for_nlu(text)

    def _mentions(self, text: str, matcher: PhraseMatcher, vocab: Vocabulary) -> List[Mention]:
        doc = self.nlp.make_doc(text)
        spans = {}
        for match_id, start, end in matcher(doc):
            span = doc[start:end]
            spans[(span.start_char, span.end_char)] = (span, self.nlp.vocab.strings[match_id])
        chosen = filter_spans([span for span, _ in spans.values()])
        mentions = []
        for span in sorted(chosen, key=lambda s: s.start_char):
            surface = spans[(span.start_char, span.end_char)][1]
            mentions.append(Mention(span.start_char, span.end_char, span.text, frozenset(vocab.surfaces[surface])))
        return mentions

    def _location(self, mentions: List[Mention]) -> Tuple[Optional[str], Optional[str], Optional[str], bool]:
        """(region, city, district, both_regions) from place mentions; the last named wins."""
        region = city = district = None
        both = False
        for mention in mentions:
            for label, value in mention.meanings:
                if label == "BOTH":
                    both, region, city, district = True, None, None, None
                elif label == "REGION":
                    region, city, district, both = value, None, None, False
                elif label == "CITY":
                    city, region, district, both = value, self.city_region.get(value), None, False
                elif label == "DISTRICT":
                    places = self.district_places.get(value, set())
                    district, both = value, False
                    if len(places) == 1:
                        region, city = next(iter(places))
                        if region == city:
                            city = None
                    elif city is None:
                        regions = {r for r, _ in places}
                        region = next(iter(regions)) if len(regions) == 1 else region
        return region, city, district, both

    # -- suppliers ---------------------------------------------------------------
    def parse_supplier_request(self, text: str, previous: Optional[SupplierQuery] = None) -> SupplierQuery:
        """Read a supplier request; with ``previous``, treat ``text`` as a refinement of it.

        A refinement keeps earlier criteria unless the new text replaces them: a new
        product replaces product, category and keywords (place, certificates and
        capacity stay); a new place replaces the old one; certificates add up.
        """
        normalised = self.normalise(text)
        mentions = self._mentions(normalised, self.supplier_matcher, self.supplier_vocab)
        products = _unique(v for m in mentions for v in m.values("PRODUCT"))
        categories = _unique(v for m in mentions if not m.values("PRODUCT") for v in m.values("CATEGORY"))
        keywords = _unique(v for m in mentions for v in m.values("KEYWORD"))
        certs = _unique(v for m in mentions for v in m.values("CERT"))
        companies = _unique(v for m in mentions for v in m.values("COMPANY"))
        region, city, district, both = self._location(mentions)
        if any(marker in normalised for marker in _ANY_PLACE_MARKERS):
            region, city, district, both = None, None, None, True
        strict = any(marker in normalised for marker in _STRICT_MARKERS)
        capacity = parse_min_capacity(normalised)
        if self._is_more(normalised) and previous is not None:
            return SupplierQuery.from_dict({**previous.to_dict(), "page": previous.page + 1})
        query = SupplierQuery() if previous is None else SupplierQuery.from_dict(previous.to_dict())
        query.page = 0
        if products or categories:
            query.products, query.categories, query.keywords = products, categories, keywords
        elif keywords:
            query.keywords = _unique([*query.keywords, *keywords])
        if region or city or district or both:
            query.region, query.city, query.district = region, city, district
            query.strict_location = strict and not both
        elif strict and previous is not None:
            query.strict_location = True
        query.certifications = _unique([*query.certifications, *certs])
        if capacity:
            query.min_capacity = capacity
        query.exclude_company_ids = _unique([*query.exclude_company_ids, *companies])
        return query

    @staticmethod
    def _is_more(text: str) -> bool:
        return any(w in text for w in ("更多", "再来", "换一批", "下一页", "还有吗", "还有别的", "多推荐", "再推荐",
                                       "再看看"))

    # -- experts -----------------------------------------------------------------
    def _organization_roles(self, text: str, mentions: List[Mention]) -> Tuple[List[str], List[str]]:
        """(own organisations to avoid, organisations asked for).

        Naming an organisation means "that's us, avoid it" unless the text clearly asks
        for experts *from* it (找四川大学的专家) and nothing marks it as the user's own.
        When in doubt we avoid: a missed recommendation is cheaper than a conflict of
        interest.
        """
        own, wanted = [], []
        for mention in mentions:
            for org in mention.values("ORG"):
                before = text[max(0, mention.start - 12): mention.start]
                after = text[mention.end: mention.end + 2]
                if any(marker in before for marker in _OWN_ORG_MARKERS):
                    own.append(org)
                elif after.startswith("的") and any(m in before[-4:] for m in _POSITIVE_ORG_MARKERS):
                    wanted.append(org)
                else:
                    own.append(org)
        return _unique(own), _unique(o for o in wanted if o not in own)

    def parse_expert_request(self, text: str, previous: Optional[ExpertQuery] = None) -> ExpertQuery:
        """Read an expert request; with ``previous``, treat ``text`` as a refinement."""
        normalised = self.normalise(text)
        mentions = self._mentions(normalised, self.expert_matcher, self.expert_vocab)
        if self._is_more(normalised) and previous is not None:
            return ExpertQuery.from_dict({**previous.to_dict(), "page": previous.page + 1})
        query = ExpertQuery() if previous is None else ExpertQuery.from_dict(previous.to_dict())
        query.page = 0
        fields = _unique(v for m in mentions for v in m.values("FIELD"))
        areas = _unique(v for m in mentions for v in m.values("AREA"))
        if fields or areas:
            query.fields, query.areas = fields, areas
        honors = _unique(v for m in mentions for v in m.values("HONOR"))
        if honors:
            query.honors = honors
        levels = _unique(v for m in mentions for v in m.values("LEVEL"))
        if levels:
            query.title_levels = levels
        titles = _unique(v for m in mentions for v in m.values("TITLE"))
        if titles:
            query.titles = titles
        org_types = _unique(v for m in mentions for v in m.values("ORG_TYPE"))
        if org_types:
            query.org_types = org_types
        genders = _unique(v for m in mentions for v in m.values("GENDER"))
        if genders:
            query.gender = genders[-1]
        region, city, _district, both = self._location(mentions)
        if any(marker in normalised for marker in _ANY_PLACE_MARKERS):
            region, city, both = None, None, True
        if region or city or both:
            query.region, query.city = region, city
        own, wanted = self._organization_roles(normalised, mentions)
        query.exclude_organizations = _unique([*query.exclude_organizations, *own])
        query.include_organizations = [o for o in _unique([*query.include_organizations, *wanted])
                                       if o not in query.exclude_organizations]
        size = parse_panel_size(normalised)
        if size:
            query.count = size
        return query


def _unique(values: Iterable[str]) -> List[str]:
    return list(dict.fromkeys(values))
