"""One jieba word segmenter per process, with the domain dictionary.

The knowledge base (words of a question) and the platform's request reader (noun
phrases, with parts of speech) segment alike, so they share jieba's own default
tokenizer and part-of-speech tagger instead of building one each. The domain dictionary
(``lexicon/jieba/*.txt``, the same files the NLU pipeline's ``JiebaTokenizer`` loads
into this same default tokenizer) is added once, on first use.

jieba keeps its general dictionary as Python dicts: the tokenizer's prefix table
(``Tokenizer.FREQ``, 498,000 words and prefixes of words, ~70 MB, in the Rasa server
and the action server) and the tagger's word-to-tag table (``POSTokenizer.word_tag_tab``,
349,000 words, ~50 MB, built when ``jieba.posseg`` is imported; the action server).
:func:`use_compact_dictionary` puts in their place one marisa trie of the same keys with
a frequency and a tag per key (3.7 MB together), in a file under ``<var>/cache`` that
both processes memory-map (so its pages are shared), built once per content of jieba's
dictionary. jieba segments exactly as with its own dicts: its code only looks words up,
and the words it adds (the domain dictionary) go into small dicts on top.

The general-language idf table (jieba's ``analyse/idf.txt``, 270,000 words) is kept as
one sorted string searched by bisection (~5 MB) instead of a dict (~40 MB);
``jieba.analyse`` itself is never imported, since importing it loads that table twice.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import io
import json
import logging
import mmap
import struct
import sys
import threading
from array import array
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import jieba
import marisa_trie

from bot.db import exclusive_lock, private_directory, replace_whole
from bot.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:
    import jieba.posseg

logger = logging.getLogger(__name__)

LEXICON_DIR = PROJECT_ROOT / "lexicon" / "jieba"
#: jieba's table of inverse document frequencies in general Chinese ("word idf" lines).
GENERAL_IDF_FILE = Path(jieba.__file__).parent / "analyse" / "idf.txt"

#: The layout of a compact dictionary file; part of the cache key, so a new layout is built anew.
_LAYOUT = b"jieba-marisa-1"
#: A compact dictionary file starts with this, then the length of its JSON header.
_PREAMBLE = struct.Struct("<8sI")
_MAGIC = b"JIEBAMT1"


def _read_dictionary(dictionary: bytes) -> Tuple[Dict[str, int], Dict[str, str], int]:
    """The prefix table, word-to-tag table and total frequency of a jieba dictionary file
    ("word frequency tag" lines), read as ``Tokenizer.gen_pfdict`` and
    ``POSTokenizer.load_word_tag`` read them."""
    frequencies: Dict[str, int] = {}
    tags: Dict[str, str] = {}
    total = 0
    for number, raw in enumerate(io.BytesIO(dictionary), 1):
        line = raw.strip().decode("utf-8")
        fields = line.split(" ")
        if len(fields) != 3:  # jieba's tagger refuses such a line too
            raise ValueError(f"invalid dictionary entry at line {number}: {line}")
        word, frequency = fields[0], int(fields[1])
        frequencies[word] = frequency  # a word listed twice has its last frequency and tag...
        total += frequency  # ...but both frequencies count in the total
        tags[word] = fields[2]
        for end in range(1, len(word)):
            frequencies.setdefault(word[:end], 0)  # a prefix that is no word
    return frequencies, tags, total


def _packed(values: List[int], typecodes: str) -> array:
    """``values`` as an array of the first of ``typecodes`` that holds them all."""
    for typecode in typecodes[:-1]:
        try:
            return array(typecode, values)
        except OverflowError:
            continue
    return array(typecodes[-1], values)


def build_compact_dictionary(dictionary: bytes) -> bytes:
    """The compact form of a jieba dictionary file: a marisa trie of its words and their
    prefixes, and per key id (the trie's number of a key) the frequency and the tag.

    Layout: magic, header length, JSON header (total frequency, tag names, where each
    section is), then the sections, each 8-byte aligned: frequencies, tag codes (0: a
    prefix, no word; n: the n-th tag name), the trie."""
    frequencies, tags, total = _read_dictionary(dictionary)
    trie = marisa_trie.Trie(frequencies)
    tag_names = sorted(set(tags.values()))
    codes = {name: code for code, name in enumerate(tag_names, 1)}
    key_frequencies = [0] * len(trie)
    key_tags = [0] * len(trie)
    for key, key_id in trie.iteritems():
        key_frequencies[key_id] = frequencies[key]
        tag = tags.get(key)
        key_tags[key_id] = 0 if tag is None else codes[tag]
    header: Dict[str, Any] = {"total": total, "tag_names": tag_names, "keys": len(trie)}
    body = bytearray()
    sections = [("frequencies", _packed(key_frequencies, "Iq")), ("tag_codes", _packed(key_tags, "BH")),
                ("trie", array("B", trie.tobytes()))]
    for name, values in sections:
        body += bytes(-len(body) % 8)
        header[name] = [values.typecode, len(body), len(values) * values.itemsize]
        body += values.tobytes()
    encoded = json.dumps(header).encode("ascii")
    head = _PREAMBLE.pack(_MAGIC, len(encoded)) + encoded
    return head + bytes(-len(head) % 8) + bytes(body)


class CompactDictionary:
    """A compact dictionary (:func:`build_compact_dictionary`) read in place from ``buffer``,
    a memory-mapped file or bytes."""

    def __init__(self, buffer: Union[bytes, mmap.mmap]) -> None:
        view = memoryview(buffer)
        magic, length = _PREAMBLE.unpack_from(view)
        if magic != _MAGIC:
            raise ValueError("not a compact jieba dictionary")
        header = json.loads(bytes(view[_PREAMBLE.size:_PREAMBLE.size + length]))
        start = _PREAMBLE.size + length
        data = view[start + -start % 8:]

        def section(name: str) -> memoryview:
            typecode, offset, size = header[name]
            if offset + size > len(data):
                raise ValueError("truncated compact jieba dictionary")
            return data[offset:offset + size].cast(typecode)

        self.total: int = header["total"]
        self.tag_names: Tuple[Optional[str], ...] = (None, *header["tag_names"])
        self.frequencies = section("frequencies")
        self.tag_codes = section("tag_codes")
        self.trie = marisa_trie.Trie()
        self.trie.map(section("trie"))
        self._buffer = buffer  # the trie reads it in place but keeps no reference to it
        if not len(self.trie) == len(self.frequencies) == len(self.tag_codes) == header["keys"]:
            raise ValueError("damaged compact jieba dictionary")


def load_compact_dictionary(open_dictionary: Callable[[], BinaryIO], cache_dir: Optional[Path]) -> CompactDictionary:
    """The compact form of a jieba dictionary file (``open_dictionary`` opens it).

    Building it takes ~3 s, so it is built once per content of the dictionary, into a file
    of ``cache_dir`` that every process maps (one copy in memory for all of them). Without a
    cache folder, or when it cannot be written, it is built in this process's memory."""
    if cache_dir is not None:
        digest = hashlib.sha256(b"\0".join([_LAYOUT, version("marisa-trie").encode(), sys.byteorder.encode()]) + b"\0")
        with open_dictionary() as file:
            for chunk in iter(functools.partial(file.read, 1 << 16), b""):  # not all 5 MB at once
                digest.update(chunk)
        path = cache_dir / f"jieba-{digest.hexdigest()[:32]}.trie"
        try:
            if not path.exists():
                _write_cache_file(path, open_dictionary)
            with open(path, "rb") as file:
                return CompactDictionary(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
        except ValueError as error:  # damaged (it is renamed into place whole, so not by us)
            logger.warning("Removing the damaged jieba dictionary cache %s: %s", path, error)
            with contextlib.suppress(OSError):
                path.unlink()
        except OSError as error:
            logger.warning("jieba's compact dictionary is built in memory, without a cache file: %s", error)
    tables = CompactDictionary(_build_from(open_dictionary))
    _return_freed_memory()
    return tables


def _build_from(open_dictionary: Callable[[], BinaryIO]) -> bytes:
    with open_dictionary() as file:
        return build_compact_dictionary(file.read())


def _return_freed_memory() -> None:
    """Building leaves ~35 MB of freed heap (marisa's builder, the parsed dictionary) that
    glibc keeps for this process: ``malloc_trim`` gives it back (nothing to do elsewhere)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _write_cache_file(path: Path, open_dictionary: Callable[[], BinaryIO]) -> None:
    """Build the cache file ``path``: under a lock, so that processes starting together
    build it once, and renamed into place whole, so that no process maps half a file."""
    private_directory(path.parent)
    with exclusive_lock(path.parent / "jieba.lock"):
        if path.exists():
            return  # another process built it meanwhile
        built = _build_from(open_dictionary)
        _return_freed_memory()
        replace_whole(path, lambda file: file.write(built))
        for stale in path.parent.glob("jieba-*.trie"):  # built from another jieba version's dictionary
            if stale != path:
                with contextlib.suppress(OSError):
                    stale.unlink()


def _key_id(trie: Any, word: str) -> Optional[int]:
    """``word``'s id in ``trie``, or None when it is no key (a lone surrogate, which
    marisa cannot encode, is in no dictionary file)."""
    try:
        return trie.get(word)
    except UnicodeEncodeError:
        return None


class WordFrequencies:
    """Stands in for jieba's prefix table ``Tokenizer.FREQ`` (a dict), over a
    :class:`CompactDictionary`.

    Its keys are the words and every prefix of a word (a prefix that is no word has
    frequency 0). jieba reads it with ``in``, ``[]`` and ``get``, and writes it with
    ``[]=`` only for words it adds (the domain dictionary, ``del_word``) and their
    prefixes: those go into a small dict that is looked up first."""

    __slots__ = ("_trie", "_frequencies", "_added")

    def __init__(self, tables: CompactDictionary) -> None:
        self._trie = tables.trie
        self._frequencies = tables.frequencies
        self._added: Dict[str, int] = {}

    # ``in`` and ``[]`` run in jieba's inner loop: the trie is asked directly.
    def __contains__(self, word: str) -> bool:
        if word in self._added:
            return True
        try:
            return word in self._trie
        except UnicodeEncodeError:  # a lone surrogate: in no dictionary file
            return False

    def __getitem__(self, word: str) -> int:
        frequency = self._added.get(word)
        if frequency is not None:
            return frequency
        try:
            return self._frequencies[self._trie[word]]  # KeyError when not a key
        except UnicodeEncodeError:
            raise KeyError(word) from None

    def get(self, word: str, default: Optional[int] = None) -> Optional[int]:
        frequency = self._added.get(word)
        if frequency is not None:
            return frequency
        key_id = _key_id(self._trie, word)
        return default if key_id is None else self._frequencies[key_id]

    def __setitem__(self, word: str, frequency: int) -> None:
        self._added[word] = frequency


class WordTags:
    """Stands in for jieba's word-to-tag table ``POSTokenizer.word_tag_tab`` (a dict), over
    a :class:`CompactDictionary`.

    jieba reads it with ``get(word, "x")`` and adds the tags of the words it adds with
    ``update``; those go into a small dict that is looked up first."""

    __slots__ = ("_trie", "_tags", "_names", "_added")

    def __init__(self, tables: CompactDictionary) -> None:
        self._trie = tables.trie
        self._tags = tables.tag_codes
        self._names = tables.tag_names
        self._added: Dict[str, str] = {}

    def get(self, word: str, default: Optional[str] = None) -> Optional[str]:
        tag = self._added.get(word)
        if tag is not None:
            return tag
        key_id = _key_id(self._trie, word)
        if key_id is None:
            return default
        name = self._names[self._tags[key_id]]
        return default if name is None else name  # None: a prefix of a word, no word itself

    def __setitem__(self, word: str, tag: str) -> None:
        self._added[word] = tag

    def update(self, tags: Mapping[str, str]) -> None:
        self._added.update(tags)


@functools.lru_cache(maxsize=1)
def compact_dictionary() -> CompactDictionary:
    """The compact form of the dictionary of jieba's default tokenizer, cached under
    ``<var>/cache``."""
    # The method of the class: while jieba.posseg is imported, the instance's reads nothing.
    open_dictionary = functools.partial(jieba.Tokenizer.get_dict_file, jieba.dt)
    return load_compact_dictionary(open_dictionary, get_settings().var_dir / "cache")


@contextlib.contextmanager
def _tag_table_unread(tokenizer: jieba.Tokenizer) -> Iterator[None]:
    """A ``POSTokenizer`` made over ``tokenizer`` meanwhile reads an empty dictionary
    instead of building its word-to-tag dict from the whole one."""
    tokenizer.get_dict_file = io.BytesIO  # shadows the method, on this instance only
    try:
        yield
    finally:
        del tokenizer.get_dict_file


_install_lock = threading.Lock()
_tokenizer_done = False
_tagger_done = False


def use_compact_dictionary(tagger: bool = True) -> None:
    """Put the compact dictionary into jieba's default tokenizer (``jieba.dt``) and, with
    ``tagger``, its default part-of-speech tagger (``jieba.posseg``, imported now: the
    Rasa server never tags, and the tagger's HMM tables alone take ~12 MB).

    To call before jieba reads its dictionary (its first segmentation or
    ``load_userdict``; importing ``jieba.posseg``). What it has read already is kept:
    it segments the same, only the memory is spent. Idempotent and thread-safe."""
    global _tokenizer_done, _tagger_done
    with _install_lock:
        if not _tokenizer_done:
            with jieba.dt.lock:  # jieba reads its dictionary holding it
                if jieba.dt.initialized:
                    logger.warning("jieba read its dictionary before the compact one was installed: "
                                   "this process keeps jieba's own (~70 MB)")
                else:
                    install_compact_dictionary(jieba.dt, compact_dictionary())
            _tokenizer_done = True
        if tagger and not _tagger_done:
            if "jieba.posseg" in sys.modules:
                logger.warning("jieba.posseg was imported before the compact dictionary was installed: "
                               "this process keeps its word-to-tag table (~50 MB)")
            else:
                with _tag_table_unread(jieba.dt):
                    posseg = importlib.import_module("jieba.posseg")
                posseg.dt.word_tag_tab = WordTags(compact_dictionary())
            _tagger_done = True


def install_compact_dictionary(tokenizer: jieba.Tokenizer, tables: CompactDictionary) -> None:
    """Make ``tokenizer`` (not initialised yet) look words up in ``tables`` instead of
    reading its dictionary: initialised, as jieba would leave it."""
    tokenizer.FREQ = WordFrequencies(tables)
    tokenizer.total = tables.total
    tokenizer.initialized = True


def compact_segmenter(tables: CompactDictionary) -> Tuple[jieba.Tokenizer, jieba.posseg.POSTokenizer]:
    """A new tokenizer and part-of-speech tagger of their own over ``tables`` (to compare
    with jieba's, for instance); jieba's default ones get theirs from
    :func:`use_compact_dictionary`, which this calls first (it imports ``jieba.posseg``)."""
    use_compact_dictionary()
    tokenizer = jieba.Tokenizer()
    install_compact_dictionary(tokenizer, tables)
    with _tag_table_unread(tokenizer):
        segmenter = jieba.posseg.POSTokenizer(tokenizer)
    segmenter.word_tag_tab = WordTags(tables)
    return tokenizer, segmenter


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
    use_compact_dictionary()
    _load_lexicon()
    return jieba.dt


def domain_tagger() -> jieba.posseg.POSTokenizer:
    """jieba's default part-of-speech tagger over :func:`domain_tokenizer`."""
    use_compact_dictionary()
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
