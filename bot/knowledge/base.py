"""The policy knowledge base: loading, retrieval and answer formatting.

Entries live in ``knowledge/policies.yml`` (see the comment at its top), which staff
edit. Retrieval is BM25 over jieba words plus character bigrams, so a question phrased
in a way no training example uses still finds its entry, and an edited entry is found
after a reload without retraining the NLU model. Entries carry English titles and facts
beside the Chinese ones: English questions are matched against those (English words,
lightly stemmed) and answered in English.
"""
from __future__ import annotations

import functools
import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import yaml

from bot.language import ENGLISH
from bot.messages import DEFAULT_LANGUAGE, user_text
from bot.segmentation import domain_tagger, domain_tokenizer, general_idf_table
from bot.textnorm import normalize_for_nlu

logger = logging.getLogger(__name__)

#: Words that say nothing about which programme a question is about.
STOPWORDS = frozenset(
    """的 了 吗 呢 吧 啊 呀 是 有 在 和 与 及 或 对 为 把 被 给 让 向 从 到 就 都 也 还 又 要 想 能 会 可以
    请问 请 问 我 我们 你 你们 他们 它 这 那 这个 那个 哪 哪些 哪个 什么 怎么 怎样 如何 多少 多大 几 几个
    一下 一些 有没有 是不是 知道 了解 告诉 介绍 说说 讲讲 关于 相关 情况 具体 内容 方面 一个 主要 目前 现在
    么 嘛 啥 咋 么样 谁 个 们 等 之 其 该 此 并 而 但 如果 已经 通过 进行
    哪里 哪儿 哪位 哪家 哪座 哪天 哪一天 哪年 哪个月 哪些方面 那家 那支 那份 那边 这边 那位 几所 几家 几项
    一共 总共 一起 以后 之后 最终 最后 后来 什么样 啥样 啥样子 样子 东西 一点 一些 些 里 上 下 后 前 内
    去 来 做 搞 弄 干 开 讲 谈 说 听说 想问 想要 打算 准备 需要 应该 还是 或者 以及 是否 有无
    公司 我司 贵司 单位 企业家
    时候 啥时候 什么时候 何时 多会儿 提了 说了 讲了 谈了 都有 有啥 是啥
    嗯 呃 额 哦 然后 就是 其实 反正 那啥 这样 那样 好多 整得 整得出 里头 多不多 大不大""".split()
)

#: Interrogative characters: a word containing one (投啥, 咋办, 哪些) asks rather than names.
INTERROGATIVES = frozenset("啥咋哪么吗呢吧")
#: English words that say nothing about which programme a question is about.
ENGLISH_STOPWORDS = frozenset(
    """a an the and or of to in on at for by with from about into as is are was were be been being do does did
    done have has had can could will would shall should may might must i me my we our us you your he she it its
    they them their this that these those what which who whom whose when where why how much many any some there
    here please tell know let like want need would also just only than then so if not no yes tell give show
    about ask question questions information info detail details thing things get got one ones""".split()
)

#: How people ask for what the material words otherwise: money (「有好多钱」「多少钱」「经费」)
#: is what the entries call 出资 or a fund's 规模.
_ASKED_AS = dict.fromkeys(("钱", "好多钱", "多少钱", "资金", "经费", "金额", "投多少", "拿多少"), "出资")

#: Part-of-speech tags of the nouns (and abbreviations: 医保) that name what a question is
#: about (not ``ns``: places).
_SUBJECT_TAGS = frozenset({"n", "nz", "vn", "nt", "j"})
#: Nouns that ask for the list of topics rather than name one.
_LIST_WORDS = frozenset(
    "政策 合作 项目 合作项目 哪些项目 清单 列表 目录 方面 内容 信息 问题 资料 东西 情况 范围 主题 话题 "
    "双城经济圈 经济圈 成果 措施 举措 文件".split()
)

#: How much of the best score the runner-up needs to be offered as well.
CLOSE_RUNNER_UP = 0.8
#: Weight of a word jieba's general idf table does not list (compounds like 车企).
UNKNOWN_WORD_IDF = 8.0
#: Minimum share of the question's informative weight an entry must cover.
MIN_COVERAGE = 0.45


class KnowledgeBaseError(ValueError):
    """The knowledge-base file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Source:
    key: str
    name: str
    authors: str
    date: str
    note: str = ""
    #: Where the source can be read online (optional; shown as a link).
    source_url: str = ""
    name_en: str = ""
    authors_en: str = ""

    def citation(self, language: str = DEFAULT_LANGUAGE) -> str:
        """One line naming the source and its date, as shown to users (in ``language``
        where the knowledge base has it)."""
        english = language == ENGLISH and self.name_en
        return user_text("policy.citation", language, name=self.name_en if english else self.name,
                         authors=(self.authors_en or self.authors) if english else self.authors,
                         date=format_date(self.date, language))


@dataclass(frozen=True)
class PolicyEntry:
    id: str
    title: str
    bodies: Tuple[str, ...]
    date: str
    region: str
    keywords: Tuple[str, ...]
    facts: Tuple[str, ...]
    source: Source
    #: A link to this entry's own source text, when it differs from the source's.
    source_url: str = ""
    title_en: str = ""
    keywords_en: Tuple[str, ...] = ()
    facts_en: Tuple[str, ...] = ()

    @property
    def link(self) -> str:
        return self.source_url or self.source.source_url

    def title_in(self, language: str) -> str:
        """The title in ``language`` (Chinese when the entry has no translation)."""
        return self.title_en if language == ENGLISH and self.title_en else self.title

    def facts_in(self, language: str, chosen: Optional[Sequence[str]] = None) -> Tuple[str, ...]:
        """The facts (all, or the ``chosen`` ones of :attr:`facts`) in ``language``
        (Chinese when the entry has no translation)."""
        facts = self.facts if chosen is None else tuple(chosen)
        if language != ENGLISH or not self.facts_en:
            return facts
        english = dict(zip(self.facts, self.facts_en, strict=True))
        return tuple(english.get(fact, fact) for fact in facts)


@dataclass(frozen=True)
class Match:
    entry: PolicyEntry
    score: float
    coverage: float


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def format_date(value: str, language: str = DEFAULT_LANGUAGE) -> str:
    """'2020-06-29' → '2020年6月29日', '2020-12' → '2020年12月', '2019' → '2019年';
    in English '29 June 2020', 'December 2020', '2019'."""
    parts = [int(p) for p in str(value).split("-") if p.isdigit()]
    if language == ENGLISH and parts and all(1 <= p <= 12 for p in parts[1:2]):
        year, rest = str(parts[0]), parts[1:]
        month = [_MONTHS[rest[0] - 1]] if rest else []
        day = [str(rest[1])] if len(rest) > 1 else []
        return " ".join(day + month + [year])
    units = ["年", "月", "日"]
    return "".join(f"{n}{u}" for n, u in zip(parts, units, strict=False)) or str(value)


@functools.lru_cache(maxsize=8192)
def general_idf(word: str) -> float:
    """How informative ``word`` is in general Chinese (jieba's idf table), 2–12."""
    return min(max(general_idf_table().get(word, UNKNOWN_WORD_IDF), 2.0), 12.0)


def _words(text: str) -> List[str]:
    """Informative jieba words of ``text`` (stopwords and punctuation dropped; English
    words stemmed, so that "funds" finds "fund")."""
    text = normalize_for_nlu(text).lower()
    words = (w.strip() for w in domain_tokenizer().lcut(text))
    kept = []
    for word in words:
        if not word or word in STOPWORDS or _is_punct(word) or _asks(word):
            continue
        if word.isascii() and word.isalpha():
            if len(word) < 2 or word in ENGLISH_STOPWORDS:
                continue
            word = _english_stem(word)
        kept.append(word)
    return kept


def _english_stem(word: str) -> str:
    """A light stemmer: plural and verb endings off ("programmes" → "programm",
    "supported" → "support", "industries" → "industri")."""
    for suffix in ("ies", "ing", "ed", "es", "s", "e", "y"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + ("i" if suffix in ("ies", "y") else "")
    return word


def _asks(word: str) -> bool:
    """「投啥」「咋办」「干嘛」: a question word rather than a subject."""
    return len(word) <= 3 and any(ch in INTERROGATIVES for ch in word) and not word.isascii()


def informative_words(text: str) -> List[str]:
    """The words of ``text`` that say what it is about (stopwords and punctuation dropped)."""
    return _words(text)


@functools.lru_cache(maxsize=256)
def entry_terms(entry: "PolicyEntry") -> FrozenSet[str]:
    """Every informative word of an entry (title, keywords, bodies, facts, and their
    English translations) and its keywords."""
    text = " ".join([entry.title, *entry.keywords, *entry.bodies, *entry.facts,
                     entry.title_en, *entry.keywords_en, *entry.facts_en])
    return frozenset(_words(text)) | frozenset(entry.keywords) | frozenset(_words(" ".join(entry.keywords_en)))


def _pieces(word: str) -> List[str]:
    """A Chinese word's characters ('^') and bigrams ('~'), so that 车 finds 汽车 and
    研发项目 finds 联合研发; ASCII words (PDK, 5G) stand for themselves."""
    if word.isascii():
        return []
    pieces = ["^" + ch for ch in word]
    if len(word) > 2:
        pieces += ["~" + word[i : i + 2] for i in range(len(word) - 1)]
    return pieces


def _terms(words: Iterable[str]) -> List[str]:
    words = list(words)
    return words + [p for w in words for p in _pieces(w)]


def _is_punct(word: str) -> bool:
    return all(not ch.isalnum() for ch in word)


class _BM25:
    """Okapi BM25 over small in-memory documents (the KB has tens of entries)."""

    def __init__(self, documents: Sequence[List[str]], k1: float = 1.2, b: float = 0.6):
        self.k1, self.b = k1, b
        self.doc_terms = [Counter(d) for d in documents]
        self.doc_len = [len(d) for d in documents]
        self.avg_len = sum(self.doc_len) / max(len(documents), 1)
        df = Counter(t for d in self.doc_terms for t in d)
        n = len(documents)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def score(self, doc: int, query: Iterable[str]) -> float:
        terms, norm = self.doc_terms[doc], self.k1 * (
            1 - self.b + self.b * self.doc_len[doc] / self.avg_len
        )
        return sum(
            self.idf[t] * terms[t] * (self.k1 + 1) / (terms[t] + norm)
            for t in query
            if terms.get(t)
        )

    def coverage(self, doc: int, words: Sequence[str]) -> float:
        """Share of the question's informative weight that the document contains.

        A word counts when the document has it, or has every one of its characters
        (车 in 汽车). Words weigh by their general-language idf (jieba's table), so
        a question about 公积金 is not "covered" by an entry that merely shares 重庆."""
        terms = self.doc_terms[doc]
        total = covered = 0.0
        for word in words:
            weight = general_idf(word)
            total += weight
            if word in terms or (not word.isascii() and all(p in terms for p in _pieces(word)[: len(word)])):
                covered += weight
        return covered / total if total else 0.0


def _texts(item: dict, key: str, where: str) -> Tuple[str, ...]:
    """The sentences under ``key``; anything else is refused, because a colon and a space
    inside an unquoted YAML line silently make a sentence a mapping, which a user would
    then be shown as ``{'…': '…'}``."""
    values = item.get(key) or []
    if not isinstance(values, list):
        raise KnowledgeBaseError(f"{where}: {key} must be a list of sentences")
    for number, value in enumerate(values, start=1):
        if not isinstance(value, str):
            raise KnowledgeBaseError(
                f"{where}: {key} {number} is not a sentence ({type(value).__name__}); "
                "quote a line that holds ': '"
            )
    return tuple(values)


class KnowledgeBase:
    """The loaded entries and their retrieval index."""

    def __init__(self, entries: Sequence[PolicyEntry]):
        self.entries: Tuple[PolicyEntry, ...] = tuple(entries)
        self.by_id: Dict[str, PolicyEntry] = {e.id: e for e in self.entries}
        self._index = _BM25([self._document_terms(e) for e in self.entries])

    @staticmethod
    def _document_terms(entry: PolicyEntry) -> List[str]:
        # Title, keywords and bodies say what an entry is about: count them twice.
        about = " ".join([entry.title, *entry.keywords, *entry.bodies, entry.title_en, *entry.keywords_en])
        return _terms(_words(about)) * 2 + _terms(_words(" ".join([*entry.facts, *entry.facts_en])))

    @classmethod
    def load(cls, path: Path) -> "KnowledgeBase":
        """Read and validate a knowledge-base YAML file."""
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KnowledgeBaseError(f"knowledge base not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise KnowledgeBaseError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
            raise KnowledgeBaseError(f"{path}: needs top-level 'sources' and 'entries'")
        sources = {}
        for key, value in (raw.get("sources") or {}).items():
            try:
                sources[key] = Source(key=key, **{k: str(v) for k, v in (value or {}).items()})
            except (TypeError, AttributeError) as exc:
                raise KnowledgeBaseError(
                    f"{path}: source {key!r} needs name, authors, date (optional: note, source_url, "
                    f"name_en, authors_en): {exc}"
                ) from exc
        entries, seen = [], set()
        for position, item in enumerate(raw["entries"], start=1):
            where = f"{path}: entry {position}"
            if not isinstance(item, dict):
                raise KnowledgeBaseError(f"{where}: must be a mapping")
            missing = [k for k in ("id", "title", "facts", "source") if not item.get(k)]
            if missing:
                raise KnowledgeBaseError(f"{where}: missing {', '.join(missing)}")
            if item["id"] in seen:
                raise KnowledgeBaseError(f"{where}: duplicate id {item['id']!r}")
            if item["source"] not in sources:
                raise KnowledgeBaseError(f"{where}: unknown source {item['source']!r}")
            facts = _texts(item, "facts", where)
            facts_en = _texts(item, "facts_en", where)
            if facts_en and len(facts_en) != len(item["facts"]):
                raise KnowledgeBaseError(f"{where}: facts_en must translate each of the {len(item['facts'])} facts")
            seen.add(item["id"])
            entries.append(
                PolicyEntry(
                    id=str(item["id"]),
                    title=str(item["title"]),
                    bodies=tuple(str(b) for b in item.get("bodies") or ()),
                    date=str(item.get("date", "")),
                    region=str(item.get("region", "")),
                    keywords=tuple(str(k) for k in item.get("keywords") or ()),
                    facts=facts,
                    source=sources[item["source"]],
                    source_url=str(item.get("source_url") or ""),
                    title_en=str(item.get("title_en") or ""),
                    keywords_en=tuple(str(k) for k in item.get("keywords_en") or ()),
                    facts_en=facts_en,
                )
            )
        return cls(entries)

    @functools.cached_property
    def _all_terms(self) -> FrozenSet[str]:
        return frozenset().union(*(entry_terms(entry) for entry in self.entries))

    def uncovered_subjects(self, text: str) -> List[str]:
        """Nouns of ``text`` that no entry speaks of (「人才落户」「税收」): a question about a
        subject the published material does not cover, not a request for the list of
        topics (「有哪些合作政策」 has none). Places and words that ask for a list do not count."""
        nouns = (word for word, tag in domain_tagger().lcut(normalize_for_nlu(text))
                 if tag in _SUBJECT_TAGS and len(word) >= 2 and word not in _LIST_WORDS)
        return [word for word in dict.fromkeys(nouns) if word not in self._all_terms]

    def search(self, question: str, limit: int = 2) -> List[Match]:
        """Entries that answer ``question``, best first.

        Returns the best entry, plus the runner-up when it scores within
        ``CLOSE_RUNNER_UP`` of the best (the user is offered both); an empty list when
        no entry covers enough of the question.
        """
        words = list(dict.fromkeys(_ASKED_AS.get(word, word) for word in _words(question)))
        if not words:
            return []
        query = list(dict.fromkeys(_terms(words)))
        scored = (
            Match(entry, self._index.score(i, query), self._index.coverage(i, words))
            for i, entry in enumerate(self.entries)
        )
        ranked = sorted((m for m in scored if m.score > 0), key=lambda m: m.score, reverse=True)
        if not ranked or ranked[0].coverage < MIN_COVERAGE:
            return []
        best = ranked[0]
        close = [
            m
            for m in ranked[1:limit]
            if m.score >= CLOSE_RUNNER_UP * best.score and m.coverage >= MIN_COVERAGE
        ]
        return [best, *close]


def format_answer(entry: PolicyEntry, language: str = DEFAULT_LANGUAGE, facts: Optional[Sequence[str]] = None,
                  lead: str = "") -> str:
    """The reply for one entry in ``language``: its title, a lead sentence (if any), its
    facts (or the chosen ones), and its source (with the link when there is one)."""
    lines = [user_text("policy.title", language, title=entry.title_in(language))] + ([lead] if lead else [])
    lines += [user_text("policy.fact", language, fact=fact) for fact in entry.facts_in(language, facts)]
    lines.append(user_text("policy.source", language, citation=entry.source.citation(language)))
    if entry.link:
        lines.append(user_text("policy.source_link", language, url=entry.link))
    return "\n".join(lines)


class KnowledgeBaseFile:
    """A knowledge base that reloads itself when its file changes (no retraining)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._loaded: Optional[Tuple[float, KnowledgeBase]] = None

    def get(self) -> KnowledgeBase:
        mtime = self.path.stat().st_mtime if self.path.exists() else -1.0
        with self._lock:
            if self._loaded is None or self._loaded[0] != mtime:
                try:
                    self._loaded = (mtime, KnowledgeBase.load(self.path))
                except KnowledgeBaseError:
                    if self._loaded is None:
                        raise
                    # A half-saved or broken edit must not take answers offline.
                    logger.exception("keeping the previous knowledge base")
            return self._loaded[1]
