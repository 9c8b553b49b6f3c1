"""Whether a message says anything at all.

「asdkjh qwe」「的的的的」「！！！」「🙃🙃🙃」「8848 3721 9527」 are not questions in any
language. Language understanding would still read each as *some* intent (often with
confidence), and the assistant would answer a question nobody asked. The NLU component
:class:`bot.nlu.gibberish.GibberishClassifier` turns such a message into Rasa's
``nlu_fallback``, so that it is answered "not understood" (and counted towards handing
over to staff, see ``actions/conversation.py``) wherever the conversation is.
A message with one real word in it is never gibberish: the assistant's reading of it
decides.
"""
from __future__ import annotations

import re
import unicodedata

from bot.language import is_english_word, is_han, is_known_english_word

_LATIN_WORD = re.compile(r"[A-Za-z]+")
_DIGIT_GROUPS = re.compile(r"\d+")
#: Particles, laughter and onomatopoeia (「的的的的」「哈哈哈」「噼里啪啦咕噜」). A short 「嗯」
#: 「哦」「好的」 answers a question, so only three or more such characters count.
_EMPTY_CHARACTERS = frozenset("的了呢吧吗啊呀嘛哈嘿呵嘻哦噢嗯哇啦咕噜噼里啪嘀嗒咚叮当嘟嘤呜哎唉诶咦喔呃嗷")
_EMPTY_MINIMUM = 3


def is_gibberish(text: str) -> bool:
    """Whether ``text`` holds no word that could be a request.

    >>> is_gibberish("asdkjh qwe"), is_gibberish("的的的的"), is_gibberish("好的"), is_gibberish("16949")
    (True, True, False, False)
    """
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text or text.startswith("/"):
        return False  # nothing sent, or a button payload
    han = [char for char in text if is_han(char)]
    latin = _LATIN_WORD.findall(text)
    digit_groups = _DIGIT_GROUPS.findall(text)
    if any(is_english_word(word) for word in latin):
        return False
    if latin and any(word.isupper() and len(word) > 1 for word in latin):
        return False  # an acronym: IATF, PCB, EPS
    if han:
        return len(han) >= _EMPTY_MINIMUM and all(char in _EMPTY_CHARACTERS for char in han)
    if latin:
        return True  # Latin letters, none of them a word (digits beside them change nothing)
    # Only digits, symbols, emoji: one number may answer a question (a quantity, a list
    # number), several groups of digits with nothing else do not.
    return len(digit_groups) != 1


#: Parts of speech (jieba) that name things without saying anything about them: nouns,
#: places, times, numbers, measure words, colours and other adjectives.
_NAMING_TAGS = frozenset({"n", "nr", "nrt", "ns", "nt", "nz", "ng", "t", "m", "mq", "q", "a", "an"})
#: A heap needs this many words: 「成都天气」 is a terse question, not a heap.
_HEAP_MINIMUM = 3


def is_word_heap(text: str) -> bool:
    """Whether ``text`` is Chinese words strung together with nothing said about them
    (「鹅卵石拖拉机紫色星期八」「苹果香蕉电脑」): three or more nouns, numbers or
    adjectives, and no verb, question word, pronoun or particle. Real words, so not
    gibberish; still no request. Only meant for a message read as out of scope: a heap
    of the platform's own terms is a search.

    >>> is_word_heap("苹果香蕉电脑"), is_word_heap("今天重庆天气怎么样"), is_word_heap("成都天气")
    (True, False, False)
    """
    from bot.segmentation import use_compact_dictionary

    use_compact_dictionary()  # before jieba.posseg is imported: it would read the whole dictionary
    import jieba.posseg

    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text or not all(is_han(char) for char in text):
        return False
    words = list(jieba.posseg.cut(text))
    return len(words) >= _HEAP_MINIMUM and all(pair.flag in _NAMING_TAGS for pair in words)


def knows_no_word(text: str) -> bool:
    """Whether ``text`` is letters only, none of them a word the assistant knows
    (「sdfkjh wqe」 could be English by its letters, but is nothing it was asked before).
    Such a message follows up nothing, though it is not :func:`is_gibberish`.

    >>> knows_no_word("sdfkjh wqe"), knows_no_word("and Sichuan?"), knows_no_word("四川呢")
    (True, False, False)
    """
    text = unicodedata.normalize("NFKC", text or "")
    words = _LATIN_WORD.findall(text)
    return bool(words) and not any(is_han(char) for char in text) and not any(map(is_known_english_word, words))


__all__ = ["is_gibberish", "is_word_heap", "knows_no_word"]

