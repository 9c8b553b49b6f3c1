"""Normalisation of Chinese user text before NLU.

Users write in simplified and traditional characters, with full-width Latin letters and
digits from Chinese input methods, and wrap messages in noise (「～～～」, 「！！！」,
emoji, control characters). ``normalize_for_nlu`` maps all of that onto one form
*without changing the text's length*: every character is replaced by exactly one
character, so entity offsets found in the normalised text are valid in the original
message too (and training annotations stay aligned).
"""
from __future__ import annotations

import functools
import unicodedata

from opencc import OpenCC

#: Longest message we process. Longer ones get a clear "please shorten" reply from the
#: channels and are cut here as a last line of defence (only the tail is lost, so
#: offsets of the kept part are unchanged).
MAX_MESSAGE_CHARS = 2000

_NOISE_CATEGORIES = ("P", "S", "Z", "C")  # punctuation, symbols, separators, controls
_KEEP_AT_EDGES = set("%％+＋#＃")  # meaningful at an edge: "30%", "C++", "#3"


@functools.lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def _to_simplified_char(char: str) -> str:
    converted = _t2s().convert(char)
    return converted if len(converted) == 1 else char


def _to_halfwidth_char(char: str) -> str:
    """Full-width ASCII → ASCII; other NFKC changes only when they keep one character."""
    if char == "\u3000":  # ideographic space
        return " "
    if "\uff01" <= char <= "\uff5e":
        return chr(ord(char) - 0xFEE0)
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 else char


def _is_noise(char: str) -> bool:
    return unicodedata.category(char)[0] in _NOISE_CATEGORIES and char not in _KEEP_AT_EDGES


def _normalize_char(char: str) -> str:
    if unicodedata.category(char) == "Cc" or unicodedata.category(char) == "Cf":
        return " "  # control and format characters (zero-width joiners, BOM …)
    return _to_halfwidth_char(_to_simplified_char(char))


def normalize_for_nlu(text: str) -> str:
    """Return ``text`` normalised for NLU, with exactly the same length.

    - traditional → simplified characters (character by character, via OpenCC t2s);
    - full-width → half-width letters, digits and punctuation;
    - control / zero-width characters → spaces;
    - noise at both ends (punctuation, symbols, emoji) → spaces, which tokenizers skip.

    >>> normalize_for_nlu("～～請問ＩＡＴＦ認證！！")
    '  请问IATF认证  '
    """
    chars = [_normalize_char(c) for c in text]
    start = 0
    while start < len(chars) and _is_noise(chars[start]):
        chars[start] = " "
        start += 1
    end = len(chars) - 1
    while end >= start and _is_noise(chars[end]):
        chars[end] = " "
        end -= 1
    return "".join(chars)


def has_meaningful_text(text: str) -> bool:
    """Whether ``text`` holds anything besides whitespace, punctuation, symbols, emoji."""
    return any(not _is_noise(c) for c in normalize_for_nlu(text))
