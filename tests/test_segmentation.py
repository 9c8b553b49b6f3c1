"""jieba over the compact dictionary (bot/segmentation.py) segments and tags exactly as jieba
over its own dicts.

The reference is a new ``jieba.Tokenizer`` built from jieba's dictionary file (not from a
cache) and a ``jieba.posseg.POSTokenizer`` over it that reads the file's tags itself; the
compact pair gets the same domain dictionary (``lexicon/jieba``) the same way. Both are
asked every Chinese line of the NLU data, the knowledge base and the lexicon, and random
strings of dictionary words, rare characters, Latin letters, digits and punctuation.
"""
from __future__ import annotations

import functools
import importlib
import io
import json
import os
import random
import re
import stat
import subprocess
import sys
from typing import Any, Callable, Dict, Iterator, List, Tuple

import jieba
import pytest
import yaml

from bot import segmentation
from bot.segmentation import (
    LEXICON_DIR,
    CompactDictionary,
    WordFrequencies,
    WordTags,
    build_compact_dictionary,
    compact_dictionary,
    compact_segmenter,
    load_compact_dictionary,
)
from bot.settings import PROJECT_ROOT

HAN = re.compile(r"[\u4e00-\u9fff]")
#: A tokenizer and a part-of-speech tagger over it.
Segmenter = Tuple[Any, Any]


def dictionary_bytes() -> bytes:
    with jieba.dt.get_dict_file() as file:
        return file.read()


def load_lexicon(tokenizer: jieba.Tokenizer) -> None:
    """The domain dictionary, as :func:`bot.segmentation.domain_tokenizer` and Rasa's
    JiebaTokenizer load it."""
    for path in sorted(LEXICON_DIR.glob("*.txt")):
        tokenizer.load_userdict(str(path))


@pytest.fixture(scope="module")
def stock(tmp_path_factory) -> Segmenter:
    """jieba's own tokenizer and tagger, with the domain dictionary."""
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(tmp_path_factory.mktemp("jieba"))  # read dict.txt, not a cache of it
    tokenizer.initialize()
    load_lexicon(tokenizer)
    tagger = importlib.import_module("jieba.posseg").POSTokenizer(tokenizer)  # reads the tags of dict.txt
    tagger.makesure_userdict_loaded()
    return tokenizer, tagger


@pytest.fixture(scope="module")
def compact() -> Segmenter:
    """A tokenizer and tagger over the compact dictionary, with the domain dictionary."""
    tokenizer, tagger = compact_segmenter(compact_dictionary())
    load_lexicon(tokenizer)
    tagger.makesure_userdict_loaded()
    return tokenizer, tagger


def han_strings(value: Any) -> Iterator[str]:
    """Every string holding a Chinese character in a YAML document."""
    if isinstance(value, str):
        if HAN.search(value):
            yield from (line.removeprefix("- ") for line in value.splitlines() if HAN.search(line))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from han_strings(key)
            yield from han_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from han_strings(item)


def random_texts(count: int) -> List[str]:
    """Strings mixing dictionary and domain words with rare characters, Latin letters,
    digits, punctuation and white space (fixed seed)."""
    rng = random.Random(20240611)
    lines = dictionary_bytes().decode("utf-8").splitlines()
    words = [line.split(" ")[0] for line in rng.sample(lines, 3000)]
    words += [line.split(" ")[0] for path in sorted(LEXICON_DIR.glob("*.txt"))
              for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    pieces: List[Callable[[], str]] = [
        lambda: rng.choice(words),
        lambda: rng.choice(words),
        lambda: rng.choice(words)[: rng.randint(1, 3)],  # a prefix: in the table with frequency 0
        lambda: chr(rng.randint(0x4E00, 0x9FFF)),  # also past jieba's range (9FD5)
        lambda: rng.choice(["IATF", "16949", "3.5", "kW", "EPS", "a", "A1", "#", "&", "-", "_", "%", "+"]),
        lambda: rng.choice(["，", "。", "？", "！", "、", "：", " ", "\n", "\t", "😀", "（", "）"]),
        lambda: rng.choice(["的", "了", "吗", "在", "有", "和", "是", "我们", "需要", "供应商"]),
    ]
    return ["".join(rng.choice(pieces)() for _ in range(rng.randint(1, 12))) for _ in range(count)]


@functools.lru_cache(maxsize=1)
def texts() -> List[str]:
    found: List[str] = []
    for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")):
        found += han_strings(yaml.safe_load(path.read_text(encoding="utf-8")))
    found += han_strings(yaml.safe_load((PROJECT_ROOT / "knowledge" / "policies.yml").read_text(encoding="utf-8")))
    for path in sorted(LEXICON_DIR.glob("*.txt")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        found += lines + [line.split(" ")[0] for line in lines]
    found += ["", " ", "\r\n", "好\ud83d的", "a\x00b中国", "鿖\u9fff中文", "的的的的", "B超检查"]
    return list(dict.fromkeys(found)) + random_texts(400)


def segmentations(segmenter: Segmenter, text: str) -> Dict[str, Any]:
    tokenizer, tagger = segmenter
    return {
        "cut": tokenizer.lcut(text),
        "cut without HMM": tokenizer.lcut(text, HMM=False),
        "cut for search": tokenizer.lcut_for_search(text),
        "tokenize": list(tokenizer.tokenize(text)),
        "tokenize for search": list(tokenizer.tokenize(text, mode="search")),
        "tag": [(pair.word, pair.flag) for pair in tagger.cut(text)],
        "tag without HMM": [(pair.word, pair.flag) for pair in tagger.cut(text, HMM=False)],
    }


def test_the_texts_cover_the_data():
    found = texts()
    assert len(found) > 3000
    assert "我们需要重庆的铝合金轮毂供应商，要有IATF 16949" in found


def test_segmentation_and_tags_are_jiebas_own(stock, compact):
    differences = [(text, name, got, expected)
                   for text in texts()
                   for (name, got), expected in zip(segmentations(compact, text).items(),
                                                    segmentations(stock, text).values(), strict=True)
                   if got != expected]
    assert not differences, f"{len(differences)} differ, the first: {differences[0]}"


def test_the_domain_dictionary_counts_the_same(stock, compact):
    assert compact[0].total == stock[0].total > 60_000_000
    for word in ["成渝地区双城经济圈", "铝合金轮毂", "IATF16949", "轮毂"]:
        assert compact[0].FREQ.get(word) == stock[0].FREQ.get(word)
    for segment in ["轮毂供应商", ("轮毂", "供应商"), "双城经济圈"]:
        assert compact[0].suggest_freq(segment) == stock[0].suggest_freq(segment)


def test_every_word_and_prefix_has_jiebas_frequency(stock, compact):
    """``in``, ``[]`` and ``get`` of the compact prefix table agree with jieba's dict on
    every key, and the table has no other key."""
    expected, table = stock[0].FREQ, compact[0].FREQ
    assert isinstance(table, WordFrequencies)
    wrong = [word for word, frequency in expected.items()
             if word not in table or table[word] != frequency or table.get(word) != frequency]
    assert not wrong, wrong[:10]
    base, _ = jieba.Tokenizer.gen_pfdict(jieba.dt.get_dict_file())
    assert len(compact_dictionary().trie) == len(base)  # so no key of its own either
    for word in ["", "轮毂轮毂轮毂", "\ud83d", "x" * 50, "供应商们", "abc中"]:
        assert (word in table) is (word in expected) is False
        assert table.get(word) is None and table.get(word, 1) == 1
        with pytest.raises(KeyError):
            table[word]


def test_every_word_has_jiebas_tag(stock, compact):
    expected, table = stock[1].word_tag_tab, compact[1].word_tag_tab
    assert isinstance(table, WordTags)
    wrong = [word for word, tag in expected.items() if table.get(word, "x") != tag]
    assert not wrong, wrong[:10]
    for word in stock[0].FREQ:  # prefixes that are no word have no tag
        if word not in expected:
            assert table.get(word, "x") == "x" and table.get(word) is None
    assert table.get("\ud83d", "x") == "x"


def test_words_added_later_take_their_frequency_and_tag():
    tokenizer, tagger = compact_segmenter(compact_dictionary())
    total = tokenizer.total
    assert tokenizer.FREQ.get("轮毂厂") is None
    tokenizer.add_word("轮毂厂", 500, "nz")
    assert tokenizer.FREQ["轮毂厂"] == 500 and tokenizer.total == total + 500
    assert tokenizer.lcut("找轮毂厂") == ["找", "轮毂厂"]
    assert [(pair.word, pair.flag) for pair in tagger.cut("找轮毂厂")] == [("找", "v"), ("轮毂厂", "nz")]
    tokenizer.FREQ["轮毂"] = 7  # a word of dict.txt changed: the added entry counts
    assert tokenizer.FREQ["轮毂"] == tokenizer.FREQ.get("轮毂") == 7


#: A dictionary file of four lines (one word twice) for the tests of the cache.
SMALL_DICTIONARY = "轮毂 50 n\n供应商 30 n\n轮毂厂 5 nz\n轮毂 20 nz\n".encode()


def small(extra: str = "") -> Callable[[], io.BytesIO]:
    """Opens the small dictionary (with ``extra`` lines)."""
    return lambda: io.BytesIO(SMALL_DICTIONARY + extra.encode())


def test_the_compact_dictionary_is_built_once_and_mapped(tmp_path, monkeypatch):
    first = load_compact_dictionary(small(), tmp_path / "cache")
    [built] = (tmp_path / "cache").glob("jieba-*.trie")
    assert first.total == 105 and sorted(first.trie) == ["供", "供应", "供应商", "轮", "轮毂", "轮毂厂"]
    tags, frequencies = WordTags(first), WordFrequencies(first)
    assert (frequencies["轮毂"], tags.get("轮毂"), frequencies["轮"], tags.get("轮", "x")) == (20, "nz", 0, "x")

    def no_building(dictionary: bytes) -> bytes:
        raise AssertionError("built again")

    monkeypatch.setattr(segmentation, "build_compact_dictionary", no_building)
    again = load_compact_dictionary(small(), tmp_path / "cache")
    assert again.total == 105 and WordFrequencies(again)["供应商"] == 30
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == [built.name, "jieba.lock"]


def test_a_cache_file_of_another_dictionary_is_removed(tmp_path):
    load_compact_dictionary(small(), tmp_path)
    load_compact_dictionary(small("轮圈 3 n\n"), tmp_path)
    assert len(list(tmp_path.glob("jieba-*.trie"))) == 1


def test_the_cache_folder_and_its_files_are_owner_only(tmp_path):
    load_compact_dictionary(small(), tmp_path / "cache")
    paths = [tmp_path / "cache", *(tmp_path / "cache").iterdir()]
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in paths}
    assert len(modes) == 3  # the folder, the trie and the lock
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


def test_a_damaged_cache_file_is_built_anew(tmp_path):
    load_compact_dictionary(small(), tmp_path)
    [built] = tmp_path.glob("jieba-*.trie")
    built.write_bytes(built.read_bytes()[:100])
    assert load_compact_dictionary(small(), tmp_path).total == 105  # from memory this time
    assert not built.exists()
    assert len(load_compact_dictionary(small(), tmp_path).trie) == 6 and built.exists()


def test_without_a_writable_cache_folder_it_is_built_in_memory(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    tables = load_compact_dictionary(small(), tmp_path / "file" / "cache")
    assert isinstance(tables, CompactDictionary) and len(tables.trie) == 6


def test_a_bad_dictionary_line_is_refused():
    with pytest.raises(ValueError, match="line 2"):
        build_compact_dictionary("轮毂 5 n\n供应商 7\n".encode())


#: Segments the texts on stdin (JSON) with jieba's default tokenizer and tagger as the
#: action server sets them up: compact, or (``stock``) jieba's own, read before.
PROCESS_SCRIPT = """
import json, sys, threading
import jieba
if sys.argv[1] == "stock":
    jieba.initialize()
    import jieba.posseg
from bot.segmentation import domain_tagger, domain_tokenizer
threads = [threading.Thread(target=domain_tagger) for _ in range(4)]  # actions run in threads
for thread in threads:
    thread.start()
tokenizer, tagger = domain_tokenizer(), domain_tagger()
for thread in threads:
    thread.join()
results = [[tokenizer.lcut(text), [[p.word, p.flag] for p in tagger.cut(text)]] for text in json.load(sys.stdin)]
rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS"))
print(json.dumps({"results": results, "rss_mb": rss / 1024, "tables": [type(tokenizer.FREQ).__name__,
                  type(tagger.word_tag_tab).__name__], "total": tokenizer.total}))
"""


@pytest.mark.stack  # runs the set-up of the servers in fresh interpreters
def test_the_servers_default_segmenter_is_compact_and_segments_alike(tmp_path):
    sample = texts()[::7]
    runs = {}
    for mode in ("stock", "compact"):
        result = subprocess.run(
            [sys.executable, "-c", PROCESS_SCRIPT, mode], input=json.dumps(sample), cwd=PROJECT_ROOT,
            env={**os.environ, "CYBOT_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True, text=True, check=True, timeout=300,
        )
        runs[mode] = json.loads(result.stdout)
    assert runs["stock"]["tables"] == ["dict", "dict"]
    assert runs["compact"]["tables"] == ["WordFrequencies", "WordTags"]
    assert runs["compact"]["total"] == runs["stock"]["total"]
    assert runs["compact"]["results"] == runs["stock"]["results"]
    # jieba's two dicts alone take ~110 MB (the compact file is built in this first run)
    assert runs["compact"]["rss_mb"] < runs["stock"]["rss_mb"] - 60
