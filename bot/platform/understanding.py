"""Understand free Chinese requests for suppliers and experts.

A phrase finder (:class:`PhraseFinder`: character by character, case-insensitive, no
model, no dictionary drift) looks for the platforms' own vocabulary —
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
from typing import Any, Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Set, Tuple

from bot.language import ENGLISH, detect_language
from bot.messages import DEFAULT_LANGUAGE, join_list, user_text
from bot.platform import synonyms
from bot.platform.english import english_label, with_chinese_terms
from bot.platform.snapshot import Snapshot
from bot.segmentation import domain_tagger
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
_BEYOND_PLACE_MARKERS = ("以外也", "之外也", "外地也", "省外也", "地区不限", "不限地区", "不限区域")
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
_UNITS = "件|辆|套|台|片|个|颗|只|吨|支|组|块|根|米|万米"
#: 「需要2万套」「采购5000件」: the quantity needed (read as the capacity a supplier must have).
_QUANTITY_PATTERN = re.compile(_NUMBER + r"\s*(万|千|百万|亿)?\s*(" + _UNITS + r")(?![\u4e00-\u9fff]*(?:以上|起))")
_CAPACITY_UNIT = re.compile(r"(?:万|千|亿)?\s*(" + _UNITS + r")")
#: 「年底前」「3个月内」「6月底之前」: when the user needs the goods.
_DEADLINE_PATTERN = re.compile(
    r"((?:今年|明年)?(?:年底|年末|年内|月底|月末|季度末|本月|下个?月|这个月|春节|国庆|"
    r"\d{1,2}月(?:底|中|初|份)?|[一二三四五六七八九十两\d]+个?(?:月|周|星期|天))\s*(?:前|之前|以前|内|以内))")
#: Words before a place that rule it out (「不要成都的」「除了德阳」), and after it (「成都以外」).
_NOT_PLACE_BEFORE = ("不要", "除了", "除去", "排除", "不含", "不考虑", "不找", "别找", "别要", "去掉", "不包括",
                     "刨除", "不在")
_NOT_PLACE_AFTER = ("以外", "之外", "除外", "不要", "不考虑", "不行", "排除", "不用", "不找", "pass")
_CLAUSE_END = re.compile(r"[，,。；;！!？?\s]")
#: 「德阳也行」: a place added to the accepted ones instead of replacing them.
_ALSO_PLACE_MARKERS = ("也行", "也可以", "也可", "也要", "也考虑", "也看看", "加上", "还有")


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


def capacity_unit(text: str) -> str:
    """The unit of a stated capacity (「年产能10万套以上」 → 套), or ``""``."""
    for pattern in _CAPACITY_PATTERNS:
        match = pattern.search(text)
        if match:
            unit = _CAPACITY_UNIT.match(text, match.end())
            return unit.group(1) if unit else (match.group(3) if pattern.groups == 3 and match.group(3) else "")
    return ""


def parse_quantity(text: str) -> Optional[Tuple[int, str]]:
    """The quantity a request needs (「需要2万套座椅」 → (20000, "套")), or ``None``."""
    match = _QUANTITY_PATTERN.search(text)
    if not match:
        return None
    value = chinese_number(match.group(1))
    if value is None or value <= 0:
        return None
    if match.group(3) in ("个", "家") and match.group(2) is None and value < 100:
        return None  # 「找3个」: how many suppliers, not how many goods
    return int(value * _MULTIPLIERS[match.group(2)]), match.group(3)


def parse_deadline(text: str) -> str:
    """When the goods are needed (「年底前」「3个月内」), as the user said it, or ``""``."""
    match = _DEADLINE_PATTERN.search(text)
    return match.group(1) if match else ""


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
    #: Further places the user accepts (「成都或者德阳」): each ``{"region", "city", "district"}``.
    also_places: List[Dict[str, Optional[str]]] = field(default_factory=list)
    #: Places the user ruled out (「不要成都的」), same shape.
    excluded_places: List[Dict[str, Optional[str]]] = field(default_factory=list)
    #: Unit of the quantity or capacity asked for (套, 件 …), for showing it back.
    unit: str = ""
    #: When the user needs it (「年底前」): shown back; the platform data has no lead times.
    deadline: str = ""
    #: The product as the user named it, when the platform has no such product
    #: (「激光雷达」): matches are then only alternatives.
    missing_product: str = ""
    #: Cross-region options shown with the first page (numbering continues after them).
    cross_shown: int = 0
    #: The product words as the user wrote them (「动力电池包」): the closest product ranks first.
    terms: List[str] = field(default_factory=list)

    @property
    def is_vague(self) -> bool:
        """No product or category understood: ask before searching."""
        return not self.products and not self.categories

    @property
    def places(self) -> List[Dict[str, Optional[str]]]:
        """Every accepted place (empty: anywhere)."""
        first = {"region": self.region, "city": self.city, "district": self.district}
        return ([first] if any(first.values()) else []) + list(self.also_places)

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]) -> "SupplierQuery":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def describe(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The criteria in one line (「汽车座椅、成都或德阳、年产能≥2万套」), in ``language``,
        shown back to the user so that they can correct them."""
        label = english_label if language == ENGLISH else str
        parts = [label(self.missing_product)] if self.missing_product else [label(p) for p in self.products]
        if not self.missing_product:
            parts += [user_text("criteria.category", language, category=label(c[:-2])) if c.endswith("/*")
                      else label(c) for c in self.categories]
        parts += [label(k) for k in self.keywords]
        names = [label(place_name(p)) for p in self.places]
        if names:
            place = join_either(names, language)
            parts.append(user_text("criteria.only_place", language, place=place) if self.strict_location else place)
        if self.excluded_places:
            parts.append(user_text("criteria.exclude_place", language,
                                   places=join_list((label(place_name(p)) for p in self.excluded_places), language)))
        parts += self.certifications
        if self.min_capacity:
            parts.append(user_text("criteria.min_capacity", language,
                                   capacity=format_quantity(self.min_capacity, language),
                                   unit=label(self.unit) if self.unit else self.unit))
        if self.deadline:
            parts.append(user_text("criteria.deadline", language, deadline=self.deadline))
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


def place_name(place: Dict[str, Optional[str]]) -> str:
    """``{"region": "重庆", "district": "璧山区"}`` → ``璧山区``: the most specific part."""
    return place.get("district") or place.get("city") or place.get("region") or ""


def join_either(names: Iterable[str], language: str = DEFAULT_LANGUAGE) -> str:
    """``["成都", "德阳"]`` → ``成都或德阳`` (in English ``Chengdu or Deyang``)."""
    return user_text("list.or_separator", language).join(names)


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

    def compile(self) -> "PhraseFinder":
        return PhraseFinder(self.surfaces)


class _Token(NamedTuple):
    start: int
    end: int
    key: str  # lower case


def _character_tokens(text: str) -> List[_Token]:
    """``text`` as one token per character, lower-cased: a single space after a
    character belongs to it (so ``IATF 16949`` and ``IATF16949`` read alike), any other
    run of white space is a token of its own. (The segmentation of spaCy's blank
    ``zh`` pipeline, which this finder replaced.)"""
    tokens: List[_Token] = []
    position, length = 0, len(text)
    while position < length:
        if text[position].isspace():
            end = position + 1
            while end < length and text[end].isspace():
                end += 1
        else:
            end = position + 1
        tokens.append(_Token(position, end, text[position:end].lower()))
        position = end
        if not text[end - 1].isspace() and position < length and text[position] == " ":
            position += 1  # the space after a character
    return tokens


class PhraseFinder:
    """Finds the surface forms of a vocabulary in text (see :func:`_character_tokens`);
    where found spans overlap, the longest (then the first) wins.

    Surface forms that read alike (``AI`` / ``ai``) are one phrase with the meanings
    of both. A plain dict of lower-cased forms: no spaCy pipeline, string store or
    matcher tables in memory."""

    def __init__(self, surfaces: Dict[str, Set[Key]]) -> None:
        self.meanings: Dict[str, FrozenSet[Key]] = {}
        for surface, meanings in surfaces.items():
            key = "".join(token.key for token in _character_tokens(surface))
            if key == surface:
                key = surface  # the same string object: no second copy of the word
            if key:
                self.meanings[key] = self.meanings.get(key, frozenset()) | frozenset(meanings)
        self.lengths = sorted({len(key) for key in self.meanings})

    def find(self, text: str) -> List[Tuple[int, int, FrozenSet[Key]]]:
        """(start, end, meanings) of each phrase kept, by position in ``text``."""
        tokens = _character_tokens(text)
        keys = "".join(token.key for token in tokens)
        token_at: Dict[int, int] = {}  # offset in ``keys`` -> index of the token starting there
        offset = 0
        for index, token in enumerate(tokens):
            token_at[offset] = index
            offset += len(token.key)
        token_at[offset] = len(tokens)
        found: List[Tuple[int, int, FrozenSet[Key]]] = []  # token ranges [first, after)
        for offset, first in token_at.items():
            for length in self.lengths:
                after = token_at.get(offset + length)
                if offset + length > len(keys):
                    break
                if after is not None and keys[offset:offset + length] in self.meanings:
                    found.append((first, after, self.meanings[keys[offset:offset + length]]))
        # The longest first (the earlier of equally long ones); a span touching a kept one goes.
        found.sort(key=lambda span: (span[1] - span[0], -span[0]), reverse=True)
        taken: Set[int] = set()
        kept = []
        for first, after, meanings in found:
            if first not in taken and after - 1 not in taken:
                kept.append((first, after, meanings))
                taken.update(range(first, after))
        kept.sort()
        return [(tokens[first].start, tokens[after - 1].end, meanings) for first, after, meanings in kept]


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
        self.supplier_vocab, self.district_places = build_supplier_vocabulary(snapshot)
        self.expert_vocab = build_expert_vocabulary(snapshot)
        self.supplier_matcher = self.supplier_vocab.compile()
        self.expert_matcher = self.expert_vocab.compile()
        self.spelling = Spelling(surface for surface, meanings in self.supplier_vocab.surfaces.items()
                                 if any(label in ("PRODUCT", "CATEGORY") for label, _ in meanings))
        self.product_categories = {p.name: p.category for p in snapshot.products}
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

    @staticmethod
    def _mentions(text: str, finder: PhraseFinder) -> List[Mention]:
        return [Mention(start, end, text[start:end], meanings) for start, end, meanings in finder.find(text)]

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

    def _place_of(self, mention: Mention) -> Optional[Dict[str, Optional[str]]]:
        """The place a place mention names, or None (not a place, or 「川渝」: anywhere)."""
        region, city, district, both = self._location([mention])
        if both or not (region or city or district):
            return None
        return {"region": region, "city": city, "district": district}

    def _places(self, text: str, mentions: List[Mention]) -> Tuple[List[Dict[str, Optional[str]]],
                                                                   List[Dict[str, Optional[str]]], bool]:
        """(accepted places, excluded places, "anywhere") named in ``text``.

        Several places are alternatives (「成都或者德阳」); a place inside one already
        named narrows it (「重庆璧山」「四川的，最好是绵阳」); a place after 「不要」「除了」 or before 「以外」 is
        ruled out, and so is one joined to it (「除了成都和重庆」)."""
        accepted: List[Dict[str, Optional[str]]] = []
        excluded: List[Dict[str, Optional[str]]] = []
        anywhere = False
        excluded_end = -10
        for mention in mentions:
            labels = {label for label, _ in mention.meanings}
            if "BOTH" in labels:
                anywhere = True
                continue
            place = self._place_of(mention)
            if place is None:
                continue
            before = _CLAUSE_END.split(text[max(0, mention.start - 4): mention.start])[-1]
            after = _CLAUSE_END.split(text[mention.end: mention.end + 6])[0]
            coordinated = (0 <= mention.start - excluded_end <= 2
                           and set(text[excluded_end:mention.start]) <= set("和、及与或跟,，"))
            if coordinated or any(m in before for m in _NOT_PLACE_BEFORE) or any(m in after for m in _NOT_PLACE_AFTER):
                if not any(m in after for m in ("也", "都")):
                    excluded.append(place)  # 「除了成都和重庆」: both
                    excluded_end = mention.end
                    continue
            outer = next((i for i, p in enumerate(accepted) if _inside(place, p)), None)
            if outer is not None:
                accepted[outer] = place  # 「重庆璧山」「四川那边的…最好是绵阳的」: narrower
            elif any(_inside(p, place) for p in accepted) or place in accepted:
                pass  # 「绵阳…四川的」: already narrower
            else:
                accepted.append(place)
        return accepted, excluded, anywhere

    # -- suppliers ---------------------------------------------------------------
    def parse_supplier_request(self, text: str, previous: Optional[SupplierQuery] = None) -> SupplierQuery:
        """Read a supplier request; with ``previous``, treat ``text`` as a refinement of it.

        A refinement keeps earlier criteria unless the new text replaces them: a new
        product replaces product, category and keywords (place, certificates and
        capacity stay); a new place replaces the old one; certificates add up.
        """
        normalised = self.normalise(text)
        mentions = self._mentions(normalised, self.supplier_matcher)
        goods = _product_heads(normalised, mentions, self.product_categories)
        products = _unique(v for m in goods for v in m.values("PRODUCT"))
        categories = _unique(v for m in goods if not m.values("PRODUCT") for v in m.values("CATEGORY"))
        keywords = _unique(v for m in mentions for v in m.values("KEYWORD"))
        certs = _unique(v for m in mentions for v in m.values("CERT"))
        companies = _unique(v for m in mentions for v in m.values("COMPANY"))
        places, excluded, anywhere = self._places(normalised, mentions)
        if any(marker in normalised for marker in _ANY_PLACE_MARKERS) and not (
                len(places) > 1 and not any(m in normalised for m in _BEYOND_PLACE_MARKERS)):
            places, anywhere = [], True  # 「重庆以外也可以」; but 「内江、自贡哪里都行」 is either of them
        strict = any(marker in normalised for marker in _STRICT_MARKERS)
        capacity, unit = parse_min_capacity(normalised), capacity_unit(normalised)
        quantity = parse_quantity(normalised)
        deadline = parse_deadline(normalised)
        if self._is_more(normalised) and previous is not None:
            return SupplierQuery.from_dict({**previous.to_dict(), "page": previous.page + 1})
        query = SupplierQuery() if previous is None else SupplierQuery.from_dict(previous.to_dict())
        query.page, query.cross_shown = 0, 0
        if products or categories:
            query.products, query.categories, query.keywords = products, categories, keywords
            query.terms = _unique(m.text for m in goods)
            query.missing_product = self.missing_product(normalised, mentions)
        elif keywords:
            query.keywords = _unique([*query.keywords, *keywords])
        if places or anywhere:
            if previous is not None and places and any(m in normalised for m in _ALSO_PLACE_MARKERS):
                places = [*previous.places, *(p for p in places if p not in previous.places)]
            first = places[0] if places else {"region": None, "city": None, "district": None}
            query.region, query.city, query.district = first["region"], first["city"], first["district"]
            query.also_places = places[1:]
            query.strict_location = strict and not anywhere
        elif strict and previous is not None:
            query.strict_location = True
        if excluded:
            query.excluded_places = [*query.excluded_places, *(p for p in excluded if p not in query.excluded_places)]
            kept = [p for p in query.places if p not in excluded]
            first = kept[0] if kept else {"region": None, "city": None, "district": None}
            query.region, query.city, query.district = first["region"], first["city"], first["district"]
            query.also_places = kept[1:]
        query.certifications = _unique([*query.certifications, *certs])
        if capacity or quantity:
            query.min_capacity = capacity or (quantity[0] if quantity else None)
            query.unit = unit or (quantity[1] if quantity else "")
        if deadline:
            query.deadline = deadline
        query.exclude_company_ids = _unique([*query.exclude_company_ids, *companies])
        return query

    def missing_product(self, text: str, mentions: List[Mention]) -> str:
        """The product as the user named it when the platform has no such product
        (「激光雷达」 where only 「雷达」 is known), else ``""``.

        The noun phrase around the product words is read with jieba; characters of
        it that no vocabulary word covers and that are not generic (汽车, 零部件,
        总成 …) make it a different product."""
        goods = [m for m in mentions if m.values("PRODUCT") or m.values("CATEGORY")]
        if not goods:
            return ""
        covered = [(m.start, m.end) for m in mentions]
        phrases: List[Tuple[int, int]] = []
        for start, end in _noun_phrases(text):
            if phrases and text[phrases[-1][1]:start] == "的":  # 「重卡的整车」: one phrase
                start = phrases.pop()[0]
            phrases.append((start, end))
        for start, end in phrases:
            if not any(m.start < end and start < m.end for m in goods):
                continue
            phrase = text[start:end]
            rest = "".join(ch for i, ch in enumerate(phrase, start)
                           if not any(a <= i < b for a, b in covered))
            for generic in _GENERIC_WORDS:
                rest = rest.replace(generic, "")
            if any("\u4e00" <= ch <= "\u9fff" or ch.isalpha() for ch in rest):
                return _strip_generic(phrase)
        return ""

    def suggestion(self, text: str, *, one_off: bool = True) -> Optional[str]:
        """「轮谷」 → 「轮毂」, 「刹车卡前」 → 「刹车卡钳」: the product or category word the
        user probably meant (same pinyin, or one character off), for a request no word
        of which is known."""
        normalised = self.normalise(text)
        found = self.spelling.sounding_like(normalised)
        if found or not one_off:
            return found
        for start, end in _noun_phrases(normalised):
            phrase = _strip_generic(normalised[start:end])
            if len(phrase) >= 3:
                found = self.spelling.one_character_off(phrase)
                if found:
                    return found
        return None

    def unknown_product(self, text: str) -> str:
        """The product-like phrase of a request that names nothing the platform knows
        (「有没有做光刻机的」 → 光刻机), or ``""``."""
        normalised = self.normalise(text)
        english = _english_goods(normalised)
        if english:
            return english
        asked = _REQUESTED_GOODS.search(normalised)
        candidates = [asked.group(1)] if asked else []
        candidates += [normalised[start:end] for start, end in _noun_phrases(normalised)]
        for candidate in candidates:
            places = [m for m in self._mentions(candidate, self.supplier_matcher)
                      if {label for label, _ in m.meanings} & {"REGION", "CITY", "DISTRICT", "BOTH"}]
            candidate = "".join(ch for i, ch in enumerate(candidate) if not any(m.start <= i < m.end for m in places))
            phrase = _strip_generic(_LEADING_WORDS.sub("", candidate))
            if sum("\u4e00" <= ch <= "\u9fff" for ch in phrase) >= 2 and phrase not in _GENERIC_WORDS:
                return phrase
        return ""

    @staticmethod
    def _is_more(text: str) -> bool:
        return any(w in text for w in ("更多", "再来", "换一批", "下一页", "还有吗", "还有别的", "多推荐", "再推荐",
                                       "再看看"))

    def unknown_field(self, text: str) -> str:
        """The field-like phrase of an expert request that names no field, research area
        or honour the expert data knows (「量子通信方向的专家」 → 量子通信), or ``""``."""
        normalised = self.normalise(text)
        asked = _REQUESTED_FIELD.search(normalised)
        candidates = [asked.group(1)] if asked else []
        candidates += [normalised[start:end] for start, end in _noun_phrases(normalised)]
        for candidate in candidates:
            phrase = _LEADING_WORDS.sub("", candidate)
            for generic in _EXPERT_GENERIC_WORDS:
                phrase = phrase.replace(generic, "")
            if sum("\u4e00" <= ch <= "\u9fff" for ch in phrase) >= 2:
                return phrase
        return ""

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
        mentions = self._mentions(normalised, self.expert_matcher)
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


def _inside(place: Dict[str, Optional[str]], outer: Dict[str, Optional[str]]) -> bool:
    """Whether ``place`` lies within ``outer`` (璧山区 in 重庆, 成都 in 四川)."""
    if outer.get("district"):
        return False
    if outer.get("city"):
        return bool(place.get("district")) and place.get("city") == outer["city"]
    return place.get("region") == outer.get("region") and bool(place.get("city") or place.get("district"))


def _product_heads(text: str, mentions: List[Mention], product_categories: Dict[str, str]) -> List[Mention]:
    """Product and category mentions that name the goods wanted.

    Chinese compounds put the head last: in 「新能源汽车动力电池包」 the battery pack is
    wanted, 新能源汽车 only says what it is for. A product word directly followed by
    another one of a different category (nothing, or only 用/的/专用, between them) is
    such a modifier; one of the same category (「EPS转向」) is the more precise word."""
    goods = [m for m in mentions if m.values("PRODUCT") or m.values("CATEGORY")]
    heads: List[Mention] = []
    for mention, following in zip(goods, [*goods[1:], None], strict=False):
        adjacent = (following is not None and following.start - mention.end <= 2
                    and set(text[mention.end: following.start]) <= set("用的专"))
        if adjacent and following is not None and not any(
                _within(a, b) for a in _categories_of(mention, product_categories)
                for b in _categories_of(following, product_categories)):
            continue  # a modifier: 新能源汽车 in 新能源汽车动力电池包
        heads.append(mention)
    return [m for i, m in enumerate(heads) if not (i and _same_family(heads[i - 1], m, product_categories))]


def _categories_of(mention: Mention, product_categories: Dict[str, str]) -> Set[str]:
    return {product_categories.get(p, "") for p in mention.values("PRODUCT")} | set(mention.values("CATEGORY"))


def _within(category: str, outer: str) -> bool:
    return category == outer or (outer.endswith("/*") and category.split("/")[0] == outer[:-2])


def _same_family(first: Mention, second: Mention, product_categories: Dict[str, str]) -> bool:
    """「EPS转向」: the second word only restates the first one's category."""
    return not second.values("PRODUCT") and any(
        _within(a, b) for a in _categories_of(first, product_categories) for b in second.values("CATEGORY"))


#: Words around a product name that do not change which product it is.
_GENERIC_WORDS = sorted("""汽车 车用 车载 整车 新能源汽车 新能源 乘用车 商用车 国产 进口 优质 高端 中高端 专业 靠谱
    大型 小型 知名 品牌 零部件 零件 部件 配件 总成 产品 系统 模块 组件 材料 东西 货 设备 供应商 供货商 厂家 厂商
    工厂 厂子 厂 公司 企业 生产商 制造商 单位 一家 几家 哪家 谁家 的 用 做 生产 供应 提供 制造 加工 批量 相关 类
    方面 这种 那种 这类 一些 有关 急需 需要 采购 求购 寻找 想找 找 要 买 订购 大量 少量 长期 稳定 合格 可靠""".split(),
                        key=len, reverse=True)
_NOUN_FLAGS = ("n", "vn", "an", "eng", "nz", "j", "l", "x", "b", "g")


@functools.lru_cache(maxsize=4096)
def _noun_phrases(text: str) -> Tuple[Tuple[int, int], ...]:
    """(start, end) of each run of nouns in ``text`` (places, numbers and generic
    words like 公司/供应商 end a run)."""
    runs: List[Tuple[int, int]] = []
    position, start = 0, None
    for pair in domain_tagger().lcut(text):
        word, flag = pair.word, pair.flag
        end = position + len(word)
        nounish = (flag.startswith(_NOUN_FLAGS) and not flag.startswith(("ns", "nr", "nt"))
                   and word.strip() and not word.isdigit() and not all(not ch.isalnum() for ch in word)
                   and word not in _RUN_BREAKERS)
        if nounish and start is None:
            start = position
        elif not nounish and start is not None:
            runs.append((start, position))
            start = None
        position = end
    if start is not None:
        runs.append((start, position))
    return tuple(runs)


_RUN_BREAKERS = frozenset("""公司 企业 厂 厂家 厂商 工厂 厂子 供应商 供货商 生产商 制造商 单位 都行 也行 就行 可以
    产能 年产能 需求 数量 价格 认证 资质 联系方式 电话 专家 人 吗 呢 吧 啊""".split())


_WORD = r"[\u4e00-\u9fffA-Za-z0-9]"
#: 「找安全气囊供应商」「有没有做光刻机的」: what is asked for, before the kind of company.
_REQUESTED_GOODS = re.compile(
    r"(?:找|有没有|有没得|谁家|哪家|哪里有|采购|买|需要|要)" + _WORD + r"{0,3}?(?:做|生产|供应|提供)?(" + _WORD
    + r"{2,12}?)的?(?:供应商|供货商|厂家|厂商|生产商|制造商|企业|公司|工厂|厂子|厂|卖家|$|吗|呢|\?|？)")
#: 「找量子计算方向的专家」: the field, before 方向/领域 or the kind of expert.
_REQUESTED_FIELD = re.compile(r"(" + _WORD + r"{2,12}?)(?:方向|领域|专业|行业)?的?(?:专家|教授|老师|学者|研究员)")
_LEADING_WORDS = re.compile(
    r"^(?:我们|我|想|要|找|请|需要|推荐|帮我|一些|几位|几个|几家|一家|一位|\d+[位家个]|做|生产|有没有|有|的)+")

#: An English request once the glossary has put its words into Chinese: the English words
#: still standing before the kind of company ("any LiDAR 供应商") or after it ("供应商 of
#: solar roofs") name a product the glossary does not know.
_ENGLISH_GOODS = re.compile(
    r"((?:[A-Za-z][A-Za-z'-]*\s+){0,4}[A-Za-z][A-Za-z'-]*)\s*供应商"
    r"|供应商\s+(?:of|for|that make|making|producing)\s+((?:[A-Za-z][A-Za-z'-]*\s*){1,5})")
#: English words of a request that name no product.
_ENGLISH_REQUEST_WORDS = frozenset("""
    a an any are can do does find for get give good have i in is it list looking me my need of our please
    recommend reliable search show some that the there these those to us want we which who with you your
    """.split())


def _english_goods(text: str) -> str:
    """The product an English request names in words the glossary does not know
    ("Do you have any LiDAR suppliers?" → LiDAR), or ``""``."""
    for match in _ENGLISH_GOODS.finditer(text):
        words = (match.group(1) or match.group(2) or "").split()
        while words and words[0].lower() in _ENGLISH_REQUEST_WORDS:
            words.pop(0)
        while words and words[-1].lower() in _ENGLISH_REQUEST_WORDS:
            words.pop()
        if words:
            return " ".join(words)
    return ""


#: Words of an expert request that name no field.
_EXPERT_GENERIC_WORDS = sorted("""专家 评审 评委 教授 副教授 老师 研究员 博士 学者 顾问 方向 领域 专业 行业 人才 院士
    高级 职称 正高 副高 技术 项目 大学 学校 单位 一些 几位 几个 这方面 相关 方面 的""".split(), key=len, reverse=True)


def _strip_generic(phrase: str) -> str:
    """The phrase without leading/trailing generic words (「做氢燃料电池的企业」 → 氢燃料电池)."""
    changed = True
    while changed and phrase:
        changed = False
        for generic in _GENERIC_WORDS:
            if len(phrase) > len(generic) and phrase.endswith(generic) and generic not in ("汽车", "新能源"):
                phrase, changed = phrase[: -len(generic)], True
            if len(phrase) > len(generic) and phrase.startswith(generic) and generic in ("的", "做", "一家", "生产",
                                                                                       "供应", "提供", "制造"):
                phrase, changed = phrase[len(generic):], True
    return phrase


def _pinyin(text: str) -> Tuple[str, ...]:
    from bot.pinyin import lazy_pinyin

    return tuple(lazy_pinyin(text))


class Spelling:
    """Product and category words by sound, for 「您是不是要找 轮毂？」."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted({w for w in words if 2 <= len(w) <= 10 and not w.isascii()})
        self.by_sound: Dict[Tuple[str, ...], str] = {}
        for word in sorted(self.words, key=len):
            self.by_sound.setdefault(_pinyin(word), word)

    def sounding_like(self, text: str) -> Optional[str]:
        """The longest known word whose pinyin equals that of some stretch of ``text``."""
        runs = re.findall(r"[\u4e00-\u9fff]+", text)
        for size in range(min(8, max((len(r) for r in runs), default=0)), 1, -1):
            for run in runs:
                sound = _pinyin(run)
                for begin in range(len(run) - size + 1):
                    found = self.by_sound.get(sound[begin: begin + size])
                    if found and found != run[begin: begin + size]:
                        return found
        return None

    def one_character_off(self, phrase: str) -> Optional[str]:
        """A known word of the same length that differs from ``phrase`` in one character."""
        for word in self.words:
            if len(word) == len(phrase) and sum(a != b for a, b in zip(word, phrase, strict=True)) == 1:
                return word
        return None
