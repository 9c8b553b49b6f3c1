"""English names of the platform's terms (``lexicon/english.yml``).

Two directions, one table: :func:`english_label` shows a Chinese term of the data
(region, city, category, product, field …) to a user who writes English, and
:func:`with_chinese_terms` rewrites an English request so that the request reader,
which knows the data's Chinese vocabulary, understands it ("aluminium wheels in
Chongqing" → "铝合金轮毂 in 重庆").
"""
from __future__ import annotations

import functools
import re
from typing import Dict, Pattern, Tuple

import yaml

from bot.pinyin import lazy_pinyin
from bot.settings import PROJECT_ROOT

GLOSSARY_PATH = PROJECT_ROOT / "lexicon" / "english.yml"


def _key(name: str) -> str:
    """How a name is looked up: lower case, spaces and hyphens alike ("e-axle" = "e axle")."""
    return " ".join(re.split(r"[\s-]+", name.strip().lower()))


@functools.lru_cache(maxsize=1)
def _glossary() -> Tuple[Dict[str, str], Dict[str, str]]:
    """(Chinese term → English label, lower-case English name → Chinese term)."""
    raw = yaml.safe_load(GLOSSARY_PATH.read_text(encoding="utf-8")) or {}
    labels: Dict[str, str] = {}
    names: Dict[str, str] = {}
    singulars: Dict[str, str] = {}
    for section, table in raw.items():
        for term, english in (table or {}).items():
            english_names = [str(name) for name in english or ()]
            if not english_names:
                continue
            if section != "markers":
                labels.setdefault(str(term), english_names[0])
            for name in english_names:
                names.setdefault(_key(name), str(term))
                if section not in _SPELLED_OUT_SECTIONS:
                    singulars.setdefault(_singular(_key(name)), str(term))
    # "brake caliper" as well as "brake calipers": the pattern adds plural endings, so the
    # plural names of the data's terms are also looked up in the singular (unless the
    # glossary spells that singular out for another term).
    for name, term in singulars.items():
        names.setdefault(name, term)
    return labels, names


#: Sections whose names are request words, not the data's terms: taken only as written
#: ("sets" is a unit, "set" is not).
_SPELLED_OUT_SECTIONS = ("markers", "units")


#: Endings of English words that look plural but are not ("glass", "chassis", "bus").
_NOT_PLURAL = ("ss", "is", "us")


def _singular(name: str) -> str:
    """The name with its last word in the singular ("brake calipers" → "brake caliper",
    "batteries" → "battery", "gearboxes" → "gearbox"); other names unchanged."""
    head, _, last = name.rpartition(" ")
    if len(last) <= 3 or not last.endswith("s") or last.endswith(_NOT_PLURAL) or not last.isalpha():
        return name
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith(("xes", "ches", "shes")):
        last = last[:-2]
    else:
        last = last[:-1]
    return f"{head} {last}" if head else last


@functools.lru_cache(maxsize=1)
def _name_pattern() -> Pattern[str]:
    names = sorted(_glossary()[1], key=len, reverse=True)  # longest first: "aluminium wheels" before "wheels"
    alternatives = "|".join(r"[\s-]+".join(re.escape(word) for word in name.split(" ")) for name in names)
    return re.compile(rf"(?<![A-Za-z])({alternatives})(?:e?s)?(?![A-Za-z])", re.IGNORECASE)


def english_label(term: str) -> str:
    """The English label of a Chinese term; a category path label by label
    (``车轮/轮毂`` → ``Wheels / Wheel hubs``); the term itself when it has none."""
    labels = _glossary()[0]
    if term in labels:
        return labels[term]
    if "/" in term:
        return " / ".join(english_label(part) for part in term.split("/") if part != "*")
    return term


#: Chinese place suffixes and their English words (璧山区 → Bishan District).
_PLACE_SUFFIXES = (("新区", "New Area"), ("区", "District"), ("县", "County"), ("市", ""))


def english_place(place: str) -> str:
    """A region, city or district in English: its glossary label, else its pinyin
    with the kind of place (``巴南区`` → ``Banan District``)."""
    labels = _glossary()[0]
    if place in labels or not place:
        return labels.get(place, place)
    for suffix, word in _PLACE_SUFFIXES:
        if place.endswith(suffix) and len(place) > len(suffix):
            stem = place[: -len(suffix)]
            return " ".join(filter(None, ["".join(lazy_pinyin(stem)).capitalize(), word]))
    return "".join(lazy_pinyin(place)).capitalize()


def with_chinese_terms(text: str) -> str:
    """Replace the English names of the glossary in ``text`` with their Chinese terms."""
    names = _glossary()[1]
    return _name_pattern().sub(lambda match: names[_key(match.group(1))], text)
