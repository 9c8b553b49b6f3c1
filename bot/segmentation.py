"""One jieba word segmenter per process, with the domain dictionary.

The knowledge base (words of a question) and the platform's request reader (noun
phrases, with parts of speech) segment alike, so they share jieba's own default
tokenizer and part-of-speech tagger instead of building one each: every jieba
tokenizer holds the whole general dictionary (a prefix table of ~350,000 words, ~35 MB)
and every tagger its word-to-tag table (~30 MB). The domain dictionary
(``lexicon/jieba/*.txt``, the same files the NLU pipeline's ``JiebaTokenizer`` loads
into this same default tokenizer) is added once, on first use.

The general-language idf table (jieba's ``analyse/idf.txt``, 270,000 words) is kept as
one sorted string searched by bisection (~5 MB) instead of a dict (~40 MB);
``jieba.analyse`` itself is never imported, since importing it loads that table twice.
"""
from __future__ import annotations

import functools
import threading
from array import array
from pathlib import Path
from typing import List, Tuple

import jieba
import jieba.posseg

from bot.settings import PROJECT_ROOT

LEXICON_DIR = PROJECT_ROOT / "lexicon" / "jieba"
#: jieba's table of inverse document frequencies in general Chinese ("word idf" lines).
GENERAL_IDF_FILE = Path(jieba.__file__).parent / "analyse" / "idf.txt"

_lexicon_lock = threading.Lock()
_lexicon_loaded = False


def _load_lexicon() -> None:
    global _lexicon_loaded
    with _lexicon_lock:
        if not _lexicon_loaded:
            for path in sorted(LEXICON_DIR.glob("*.txt")):
                jieba.load_userdict(str(path))
            _lexicon_loaded = True


def domain_tokenizer() -> jieba.Tokenizer:
    """jieba's default tokenizer with the domain dictionary (product names stay whole)."""
    _load_lexicon()
    return jieba.dt


def domain_tagger() -> jieba.posseg.POSTokenizer:
    """jieba's default part-of-speech tagger over :func:`domain_tokenizer`."""
    _load_lexicon()
    return jieba.posseg.dt


class SortedWordTable:
    """Words with a number each, in one sorted newline-separated string.

    A lookup bisects the line offsets (about 18 string comparisons for 270,000 words);
    a dict of the same words would hold one string object per word."""

    def __init__(self, words_and_values: List[Tuple[str, float]]) -> None:
        words_and_values.sort()
        self._text = "\n".join(word for word, _ in words_and_values)
        self._starts = array("I")
        position = 0
        for word, _ in words_and_values:
            self._starts.append(position)
            position += len(word) + 1
        self._values = array("d", (value for _, value in words_and_values))

    def __len__(self) -> int:
        return len(self._starts)

    def _word(self, index: int) -> str:
        start = self._starts[index]
        end = self._starts[index + 1] - 1 if index + 1 < len(self._starts) else len(self._text)
        return self._text[start:end]

    def get(self, word: str, default: float) -> float:
        """The number of ``word``, or ``default`` when the table does not list it."""
        low, high = 0, len(self._starts)
        while low < high:
            middle = (low + high) // 2
            if self._word(middle) < word:
                low = middle + 1
            else:
                high = middle
        if low < len(self._starts) and self._word(low) == word:
            return self._values[low]
        return default


@functools.lru_cache(maxsize=1)
def general_idf_table() -> SortedWordTable:
    """jieba's general-language idf table, read once."""
    entries = []
    with open(GENERAL_IDF_FILE, encoding="utf-8") as lines:
        for line in lines:
            word, value = line.strip().split(" ")  # as jieba.analyse reads it
            entries.append((word, float(value)))
    return SortedWordTable(entries)
