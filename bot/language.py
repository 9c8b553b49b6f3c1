"""Which language a user writes in: Chinese (the default) or English.

Foreign-invested firms in the circle write English and must get English; everyone
else gets Chinese. The language is read from the script of each message
(:func:`detect_language`): a message in English words switches to English, one
with Chinese sentences switches back, and a message that says nothing about
language (a number, a button payload, 「IATF 16949」, "OK") keeps the current one.
The NLU component :class:`bot.nlu.language.LanguageDetector` turns that into the
``language`` entity, mapped to the ``language`` slot that responses and actions
follow; the text channels use the same function for their own sentences.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Optional

from bot.messages import DEFAULT_LANGUAGE

ENGLISH = "en"
CHINESE = DEFAULT_LANGUAGE

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
#: Latin words that Chinese users type too: they say nothing about the language.
_NEUTRAL_WORDS = frozenset({"ok", "okay", "pdk", "ai", "it", "ic", "cv", "nlp", "iot", "pcb", "oled"})
#: How many Latin letters per Chinese character make a mixed message English
#: ("I need 铝合金轮毂 suppliers in Chongqing" is English; 「要有IATF认证」 is not).
_LETTERS_PER_HAN = 2.0


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"


def detect_language(text: Optional[str]) -> Optional[str]:
    """``"en"`` or ``"zh"`` for a message that shows its language, else ``None``.

    >>> detect_language("What can you do?"), detect_language("你们能做什么"), detect_language("16949")
    ('en', 'zh', None)
    """
    if not text or text.startswith("/"):
        return None  # empty, or a button payload (/intent{...}): no language of its own
    text = unicodedata.normalize("NFKC", text)
    han = sum(1 for char in text if _is_han(char))
    # Acronyms (IATF, PCB, EPS) are written in Chinese sentences as well.
    words = [w for w in _WORD.findall(text) if not (w.isupper() and len(w) > 1)]
    english_words = [w for w in words if len(w) > 1 and w.lower() not in _NEUTRAL_WORDS]
    letters = sum(len(w) for w in words)
    if han == 0:
        return ENGLISH if english_words else None
    if len(english_words) >= 2 and letters >= _LETTERS_PER_HAN * han:
        return ENGLISH
    return CHINESE


def slot_language(value: Any) -> str:
    """The language a ``language`` slot value stands for (Chinese unless it says English)."""
    return ENGLISH if value == ENGLISH else CHINESE


def tracker_language(tracker: Any) -> str:
    """The conversation's language: the ``language`` slot of a Rasa SDK tracker."""
    return slot_language(tracker.get_slot("language"))


def payload_with_language(payload: str, language: str) -> str:
    """``/greet`` → ``/greet{"language":"en"}`` so that an opening payload sets the
    conversation's language (Chinese, the default, needs nothing)."""
    if language != ENGLISH or not payload.startswith("/") or "{" in payload:
        return payload
    return payload + '{"language":"en"}'

