"""Policy answers in a conversation: follow-ups, focused facts, honest partial answers.

:func:`answer` turns a question (and the entry the conversation was last about) into a
:class:`PolicyAnswer`:

* **Follow-ups.** 「一共多少钱」「投哪些行业」「那四川呢」 name no programme: they are
  about the entry answered last. A question is taken as a new topic only when it names
  something of another entry that the last entry does not mention; otherwise it is read
  against the last entry, and 「那X呢」 swaps X into the previous question (a place for
  a place), so 「重庆汽车去年产量多少 → 那四川呢」 asks for Sichuan's output.
* **Focus.** A question about one attribute (amount, date, sectors, a place) shows the
  facts that state it, not the whole entry.
* **Membership.** 「那新基建算吗」「包括生物医药吗」 is answered yes (with the fact that
  lists it) or "the published material does not mention it".
* **Honesty.** Parts of a question the entry cannot answer (how to apply, who is
  eligible, contacts, deadlines, materials) are named, so the user knows what the
  published material does not cover and can ask staff.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from bot.knowledge.base import KnowledgeBase, PolicyEntry, entry_terms, informative_words
from bot.textnorm import normalize_for_nlu

#: Coverage the rest of a question needs once the parts the material never covers (how
#: to apply, eligibility …) are set aside: the programme must be named clearly.
RETRY_COVERAGE = 0.75

#: Places a 「那X呢」 comparison swaps for one another.
PLACES = ("四川", "重庆", "成都", "川渝", "宜宾", "绵阳", "德阳", "璧山", "九龙坡", "两江")
_PLACE_ALIASES = {"川": "四川", "渝": "重庆", "四川省": "四川", "重庆市": "重庆", "成都市": "成都"}

#: Attributes a question can ask about, with the words that ask and the text of a fact
#: that states the attribute.
ATTRIBUTES: Sequence[Tuple[Tuple[str, ...], "re.Pattern[str]"]] = (
    (("多少钱", "钱", "资金", "金额", "规模", "出资", "多大", "总额", "资助", "支持多少", "投多少", "额度",
      "好多钱"),
     re.compile(r"\d[\d.]*\s*(?:万|亿)?元")),
    (("什么时候", "啥时候", "何时", "哪天", "日期", "时间", "几月", "哪年", "开的", "召开", "举行", "举办"),
     re.compile(r"\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日")),
    (("产量", "多少辆", "生产", "产值"), re.compile(r"\d[\d.]*\s*(?:万辆|辆|亿元|万亿元)")),
    (("哪些方向", "哪些领域", "什么方向", "什么领域", "领域", "方向", "行业", "投哪", "投什么", "投向", "重点",
      "提了什么", "说了什么", "内容", "聚焦"),
     re.compile(r"领域|方向|产业|聚焦|投资于")),
    (("多少家", "几家", "多少个", "几个", "多少名", "多少人", "数量", "好多"),
     re.compile(r"\d+\s*(?:家|个|名|余名|所)")),
    (("谁", "哪个部门", "哪些部门", "哪些单位", "哪家单位", "组织", "牵头", "主办", "发起", "签的"),
     re.compile(r"[局厅委]|公司|大学|中心|高新区")),
)

#: Parts of a question the published material may not cover: (what to call the part,
#: words that ask for it, words a fact must contain to cover it).
ASPECTS: Sequence[Tuple[str, Tuple[str, ...], Tuple[str, ...]]] = (
    ("申请方式", ("怎么申请", "如何申请", "怎样申请", "申请流程", "申请方式", "怎么申报", "如何申报", "申报流程",
               "怎么报名", "如何报名", "怎么参与", "如何参与", "怎么投", "在哪申请", "去哪申请", "去哪里申请",
               "哪里申请", "怎么办理", "如何办理", "找谁申请", "申请渠道"),
     ("申请方式", "申报方式", "申请流程", "申报流程", "报名方式", "申请渠道", "登录", "提交申请")),
    ("申请条件（哪些企业可以申请）", ("小企业", "中小企业", "民营企业", "民营", "小公司", "小微", "能投吗", "能申请吗",
                           "可以申请吗", "能不能申请", "符合条件", "申请条件", "什么条件", "门槛", "资格", "够格",
                           "有资格", "能拿到", "拿得到", "能不能拿"),
     ("申请条件", "申报条件", "适用对象", "申请主体", "中小企业", "门槛")),
    ("联系方式", ("电话", "联系方式", "联系谁", "找谁", "邮箱", "咨询电话", "地址", "在哪里办"),
     ("电话", "联系方式", "邮箱", "地址")),
    ("截止时间", ("截止", "截至什么时候", "什么时候结束", "期限", "还能申请吗", "过期"),
     ("截止", "截至日期", "申报时间")),
    ("所需材料", ("材料", "资料", "准备什么", "提交什么"), ("材料", "资料")),
    ("具体支持金额", ("每家", "每个项目", "每个企业", "能拿多少", "给多少", "补贴多少", "奖励多少"),
     ("每家", "每个项目", "每项", "最高")),
    ("管理机构", ("管理人", "管理机构", "谁管理", "谁来管", "运营方", "管理公司", "基金管理"),
     ("管理人", "管理机构", "运营")),
    ("网址", ("网址", "网站", "链接", "入口", "登录地址", "app", "小程序", "公众号"), ("网址", "网站", "http")),
    ("具体地点", ("具体建在", "建在哪", "选址", "具体在哪", "具体位置"), ("选址", "位于", "建在")),
    ("税收优惠", ("税收", "减税", "免税", "税费", "税收优惠"), ("税",)),
    ("人才落户", ("落户", "户口", "人才引进"), ("落户", "户口")),
    ("补贴标准", ("补贴", "奖励标准", "补助"), ("补贴", "补助")),
)

_COMPARISON = re.compile(r"^(?:那|那么|那个|那要是|要是|如果是|换成|换作)?\s*(.{1,12}?)\s*(?:的)?(?:呢|怎么样|如何)$")
_MEMBERSHIP = (
    re.compile(r"(?:那|那么)?\s*(.{2,12}?)\s*(?:算吗|算不算|算在内吗|在内吗|在里面吗|包括在内吗|属于吗|也算吗|属不属于|在不在|可以吗|行吗|也投吗|投吗)$"),
    re.compile(r"(?:包括|包含|有没有|涵盖)\s*(.{2,12}?)\s*(?:吗|么|嘛)?$"),
)
_FILLER = re.compile(r"^(?:请问|问一下|那|那么|这个|那个|你们|你们的|这|也)+|(?:领域|方向|行业|产业)$")


@dataclass
class PolicyAnswer:
    """What to tell the user about one entry."""

    entry: PolicyEntry
    facts: List[str]  # the facts to show, in the entry's order
    follow_up: bool  # read against the previous entry
    listed_term: Optional[str] = None  # 「新基建」 in 「那新基建算吗」 …
    listed: Optional[bool] = None  # … and whether the entry lists it
    uncovered: List[str] = field(default_factory=list)  # parts the material does not cover

    @property
    def complete(self) -> bool:
        return not self.uncovered and self.listed is not False


def _clean(text: str) -> str:
    text = normalize_for_nlu(text or "").strip()
    return re.sub(r"[\s?？!！。，,.~～]+$", "", text)


def _place(word: str) -> Optional[str]:
    word = _PLACE_ALIASES.get(word, word)
    return word if word in PLACES else None


def comparison_term(question: str) -> Optional[str]:
    """「那四川呢」 → 四川; None when the question is not a bare 「那X呢」."""
    match = _COMPARISON.match(_clean(question))
    if not match or not (question.strip().startswith(("那", "换")) or _clean(question).endswith("呢")):
        return None
    term = _FILLER.sub("", match.group(1)).strip()
    return term or None


def membership_term(question: str) -> Optional[str]:
    """「那新基建算吗」「包括生物医药吗」 → the term asked about, else None."""
    text = _clean(question)
    for pattern in _MEMBERSHIP:
        match = pattern.search(text)
        if match:
            term = _FILLER.sub("", match.group(1)).strip()
            # A listed item (新基建, 生物医药), not a clause (专门的班子负责落实) or a question word.
            if 2 <= len(term) <= 8 and "的" not in term and not any(ch in term for ch in "啥多几什怎哪谁"):
                return term
    return None


def uncovered_aspects(question: str, entry: PolicyEntry) -> List[str]:
    """The parts of ``question`` (how to apply, eligibility …) that no fact of ``entry`` covers."""
    text = _clean(question)
    facts = "".join(entry.facts)
    return [name for name, asking, covering in ASPECTS
            if any(w in text for w in asking) and not any(w in facts for w in covering)]


def focused_facts(entry: PolicyEntry, question: str, *, place: Optional[str] = None) -> List[str]:
    """The facts of ``entry`` that answer ``question`` (all of them when none stands out)."""
    text = _clean(question)
    words = informative_words(text)
    places = [p for p in (place, *(_place(w) for w in words)) if p]
    candidates = list(entry.facts)
    if places:
        in_place = [f for f in candidates if any(p in f for p in places)]
        candidates = in_place or candidates
    scores = []
    for fact in candidates:
        score = sum(1.0 for w in words if len(w) >= 2 and w in fact and not _place(w))
        score += sum(2.0 for asking, states in ATTRIBUTES if any(a in text for a in asking) and states.search(fact))
        scores.append(score)
    best = max(scores, default=0.0)
    if best <= 0:
        return candidates if places and len(candidates) < len(entry.facts) else list(entry.facts)
    return [fact for fact, score in zip(candidates, scores, strict=True) if score >= best]


def _swap_place(previous: str, new_place: str) -> str:
    """The previous question with its place replaced (「重庆汽车产量」 → 「四川汽车产量」)."""
    for place in sorted({*PLACES, *_PLACE_ALIASES}, key=len, reverse=True):
        if place in previous:
            return previous.replace(place, new_place)
    return f"{new_place} {previous}"


def _names_other_topic(question: str, new: PolicyEntry, last: PolicyEntry) -> bool:
    """Whether ``question`` names something of ``new`` that ``last`` does not mention."""
    last_terms = entry_terms(last)
    new_terms = entry_terms(new)
    for word in informative_words(question):
        if len(word) >= 2 and word in new_terms and word not in last_terms and not _place(word):
            return True
    return False


def answer(knowledge_base: KnowledgeBase, question: str, last_entry_id: Optional[str] = None,
           last_question: str = "") -> Optional[PolicyAnswer]:
    """The answer to ``question`` in a conversation last about ``last_entry_id``; None when
    the knowledge base has nothing on it."""
    last = knowledge_base.by_id.get(last_entry_id or "")
    matches = knowledge_base.search(question)
    if not matches and _asks_aspect(question):
        # 「基金小企业能拿吗，去哪申请」: find the programme from the rest of the question;
        # the parts asked about are then reported as not covered.
        matches = [m for m in knowledge_base.search(_without_aspects(question)) if m.coverage >= RETRY_COVERAGE]
    if last is not None:
        comparison = comparison_term(question)
        membership = membership_term(question)
        explicit = matches[0].entry if matches else None
        new_topic = explicit is not None and explicit.id != last.id and _names_other_topic(question, explicit, last)
        if not new_topic:
            place = _place(comparison) if comparison else None
            if place:
                focus = _swap_place(last_question or last.title, place)
                return PolicyAnswer(last, focused_facts(last, focus, place=place), follow_up=True)
            term = membership or comparison
            if term:
                return _membership_answer(last, term, question, follow_up=True)
            if explicit is None or explicit.id == last.id or _asks_attribute(question):
                return _entry_answer(last, question, follow_up=True)
    if not matches:
        return None
    entry = matches[0].entry
    term = membership_term(question)
    if term and term not in entry.title:
        return _membership_answer(entry, term, question, follow_up=False)
    return _entry_answer(entry, question, follow_up=False)


def _asks_aspect(question: str) -> bool:
    text = _clean(question)
    return any(w in text for _, asking, _ in ASPECTS for w in asking)


def _without_aspects(question: str) -> str:
    text = _clean(question)
    for word in sorted((w for _, asking, _ in ASPECTS for w in asking), key=len, reverse=True):
        text = text.replace(word, " ")
    return text


def _asks_attribute(question: str) -> bool:
    text = _clean(question)
    return len(informative_words(text)) <= 3 and any(any(a in text for a in asking) for asking, _ in ATTRIBUTES)


def _entry_answer(entry: PolicyEntry, question: str, *, follow_up: bool) -> PolicyAnswer:
    facts = focused_facts(entry, question) if follow_up else list(entry.facts)
    return PolicyAnswer(entry, facts, follow_up, uncovered=uncovered_aspects(question, entry))


def _membership_answer(entry: PolicyEntry, term: str, question: str, *, follow_up: bool) -> PolicyAnswer:
    stating = [f for f in entry.facts if term in f]
    return PolicyAnswer(entry, stating or list(entry.facts), follow_up, listed_term=term, listed=bool(stating),
                        uncovered=uncovered_aspects(question, entry))
