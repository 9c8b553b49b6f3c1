"""Which language a user writes in: Chinese (the default) or English.

Foreign-invested firms in the circle write English and must get English; everyone
else gets Chinese. The language is read from the script of each message
(:func:`detect_language`): a message in English words switches to English, one
with Chinese sentences switches back, and a message that says nothing about
language (a number, a button payload, 「IATF 16949」, "OK", letters typed at random)
keeps the current one.
The NLU component :class:`bot.nlu.language.LanguageDetector` turns that into the
``language`` entity, mapped to the ``language`` slot that responses and actions
follow; the text channels use the same function for their own sentences.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Any, FrozenSet, Optional

from bot.messages import DEFAULT_LANGUAGE

ENGLISH = "en"
CHINESE = DEFAULT_LANGUAGE

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
#: Latin words that Chinese users type too: they say nothing about the language.
_NEUTRAL_WORDS = frozenset({"ok", "okay", "pdk", "ai", "it", "ic", "cv", "nlp", "iot", "pcb", "oled"})
#: How many Latin letters per Chinese character make a mixed message English
#: ("I need 铝合金轮毂 suppliers in Chongqing" is English; 「要有IATF认证」 is not).
_LETTERS_PER_HAN = 2.0

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Where the assistant's own English words are written: the English names of the data's
#: terms and the English training examples (read once, as plain text).
_VOCABULARY_SOURCES = ("lexicon/english.yml", "data/nlu/en")
#: Common English words beyond the assistant's own vocabulary.
_COMMON_WORDS = frozenset("""
    a about after again all also am an and any are as ask at be because been before being but by can
    could day did do does doing done for from get give go good got had has have he hello help her here hey
    hi him his how i if in into is it its just know let like look make many may me more most much my need
    new no not now of off ok on one only or other our out please say see she should so some tell than thank
    thanks that the their them then there these they thing think this those time to today too up us use
    very want was way we well were what when where which who why will with would yes yet you your
    weather joke news sport music movie food price cost buy sell order company business factory
    """.split())
#: Rows of a keyboard: a word that runs along one (qwerty, fdsa) is typed, not written.
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")
_VOWELS = frozenset("aeiouy")
_CONSONANT_RUN = re.compile(r"[^aeiouy]{5,}")


def is_han(char: str) -> bool:
    """Whether ``char`` is a Chinese character (CJK unified ideographs and their extension A
    and compatibility blocks)."""
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"


@functools.lru_cache(maxsize=1)
def english_vocabulary() -> FrozenSet[str]:
    """Lower-case English words the assistant knows: common words and its own vocabulary."""
    words = set(_COMMON_WORDS)
    for source in _VOCABULARY_SOURCES:
        path = _PROJECT_ROOT / source
        for file in sorted(path.glob("*.yml")) if path.is_dir() else [path]:
            if file.is_file():
                words.update(w.lower() for w in _WORD.findall(file.read_text(encoding="utf-8")))
    return frozenset(words)


def _along_keyboard(word: str) -> bool:
    """「qwer」「fdsa」「zxcvbnm」: three or more keys in a row, either way."""
    return len(word) >= 3 and any(word in row or word in row[::-1] for row in _KEYBOARD_ROWS)


def is_known_english_word(word: str) -> bool:
    """Whether ``word`` (or its singular, without a final s) is in the assistant's vocabulary."""
    word = word.lower()
    return word in english_vocabulary() or (word.endswith("s") and word[:-1] in english_vocabulary())


def is_english_word(word: str) -> bool:
    """Whether ``word`` reads as an English word rather than letters typed at random.

    Words the assistant knows count; an unknown word counts when it could be
    English: it has vowels, no long consonant cluster, no letter three times in a row,
    and does not run along the keyboard ("weather" yes; "asdkjh", "qwe", "vcxz" no).
    """
    word = word.lower()
    if is_known_english_word(word):
        return True
    if len(word) < 3 or _along_keyboard(word) or re.search(r"(.)\1\1", word):
        return False
    vowels = sum(1 for char in word if char in _VOWELS)
    return 0.2 <= vowels / len(word) <= 0.7 and not _CONSONANT_RUN.search(word)


def detect_language(text: Optional[str]) -> Optional[str]:
    """``"en"`` or ``"zh"`` for a message that shows its language, else ``None``.

    >>> detect_language("What can you do?"), detect_language("你们能做什么"), detect_language("16949")
    ('en', 'zh', None)
    """
    if not text or text.startswith("/"):
        return None  # empty, or a button payload (/intent{...}): no language of its own
    text = unicodedata.normalize("NFKC", text)
    han = sum(1 for char in text if is_han(char))
    # Acronyms (IATF, PCB, EPS) are written in Chinese sentences as well.
    words = [w for w in _WORD.findall(text) if not (w.isupper() and len(w) > 1)]
    english_words = [w for w in words if len(w) > 1 and w.lower() not in _NEUTRAL_WORDS and is_english_word(w)]
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

