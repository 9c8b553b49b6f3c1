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
from pypinyin import lazy_pinyin

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
    for section, table in raw.items():
        for term, english in (table or {}).items():
            english_names = [str(name) for name in english or ()]
            if not english_names:
                continue
            if section != "markers":
                labels.setdefault(str(term), english_names[0])
            for name in english_names:
                names.setdefault(_key(name), str(term))
    return labels, names


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
