"""Pinyin of Chinese text without pypinyin's phrase table.

pypinyin reads a heteronym (重: zhong/chong, 长: chang/zhang) by the phrase around it, from a
table of ~47,000 phrases that its import loads into every process (~45 MB resident). The
assistant needs pinyin for two things only: the "did you mean" spelling of product and category
words (bot/platform/understanding.py ``Spelling``) and the English names of places missing from
the glossary (bot/platform/english.py ``english_place``). So pypinyin is loaded here without its
phrase table (``PYPINYIN_NO_PHRASES``) and given instead the readings of the domain vocabulary
(:data:`READINGS_PATH`): each word of it reads exactly as with the full table. Other text reads
by those words and, around them, each character's first reading.

``scripts/pinyin_readings.py`` regenerates the file from the full table (after the vocabulary,
the demo data or pypinyin changed); ``tests/test_pinyin.py`` checks that it is up to date.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable, Dict, List

from bot.settings import PROJECT_ROOT

#: ``word<TAB>syllables with tone marks`` per line, sorted (generated).
READINGS_PATH = PROJECT_ROOT / "lexicon" / "pinyin.txt"
#: What pypinyin's import reads from the environment (pypinyin/constants.py).
_IMPORT_VARIABLES = ("PYPINYIN_NO_PHRASES", "PYPINYIN_NO_DICT_COPY")


def read_readings(text: str) -> Dict[str, List[List[str]]]:
    """The readings file as pypinyin's phrase dictionary (``{"重庆": [["chóng"], ["qìng"]]}``)."""
    readings: Dict[str, List[List[str]]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, syllables = line.split("\t")
            readings[word] = [[syllable] for syllable in syllables.split(" ")]
    return readings


@functools.lru_cache(maxsize=1)
def _converter() -> Callable[[str], List[str]]:
    if "pypinyin.constants" not in sys.modules:  # else loaded with its table: ours agrees with it
        # Read once, on import: no phrase table, and no copy of the character table (~1 MB;
        # nothing here changes it).
        previous = {name: os.environ.get(name) for name in _IMPORT_VARIABLES}
        os.environ.update(dict.fromkeys(_IMPORT_VARIABLES, "1"))
        try:
            import pypinyin.constants  # noqa: F401
        finally:
            for name, value in previous.items():
                if value is None:
                    del os.environ[name]
                else:
                    os.environ[name] = value
    from pypinyin import lazy_pinyin, load_phrases_dict

    load_phrases_dict(read_readings(READINGS_PATH.read_text(encoding="utf-8")))
    return lazy_pinyin


def lazy_pinyin(text: str) -> List[str]:
    """``pypinyin.lazy_pinyin(text)`` (syllables without tones; other characters kept as they
    are), with the domain vocabulary's readings instead of pypinyin's phrase table."""
    return _converter()(text)
