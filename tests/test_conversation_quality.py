"""Conversation quality on a held-out set: how companies really talk to the assistant.

The set (tests/data/conversation_quality.yml) was written from the source article, the knowledge
base's list of entries and the demo export, never from the training data: see its header. The
stack test plays every conversation through the REST webhook (one sender id each), scores it per
category, prints the table, writes results/conversation_quality.json and holds the floors.
The unit tests keep the set well formed and fair, and the scorer honest.
"""
from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from itertools import islice
from typing import Any, Dict, List, Optional

import pytest

from bot.launcher import Stack
from tests.helpers import send_rest
from tests.support import conversation_scoring as scoring
from tests.support.conversation_scoring import Case, load_set

RESULTS_PATH = scoring.PROJECT_ROOT / "results" / "conversation_quality.json"
#: Conversations played at once (each with its own sender id); the machine has two cores.
PARALLEL_CONVERSATIONS = 3


# ---------------------------------------------------------------- the set itself (unit)


def test_the_set_has_the_size_and_classes_asked_for():
    cases = [c for c in load_set().cases if c.category != "regression"]
    assert sum(c.single for c in cases) >= 150
    assert sum(not c.single for c in cases) >= 40
    assert {c.category for c in load_set().cases} == set(scoring.FLOORS)
    tags = {tag for c in cases for tag in c.tags}
    assert {"traditional", "fullwidth", "voice", "colloquial", "topic_switch"} <= tags


def _training_examples() -> set:
    """Every training example of data/nlu/ (annotations removed), normalised."""
    import re

    examples = set()
    for path in (scoring.PROJECT_ROOT / "data" / "nlu").rglob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            found = re.match(r"\s*- (.+)$", line)
            if found:
                plain = re.sub(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})", r"\1", found.group(1))
                examples.add(scoring.normalise(plain))
    return examples


def test_no_user_message_of_the_set_is_a_training_example():
    """The set stays held out: the assistant was never trained on one of its messages."""
    examples = _training_examples()
    leaked = sorted({turn.user for case in load_set().cases for turn in case.turns
                     if scoring.normalise(turn.user) in examples})
    assert not leaked, f"held-out messages in data/nlu/: {leaked}"


def test_every_case_is_well_formed():
    seen = set()
    for case in load_set().cases:
        assert case.id not in seen, f"{case.id} repeated"
        seen.add(case.id)
        assert any(turn.expect for turn in case.turns), f"{case.id} checks nothing"
        for turn in case.turns:
            expectations = [turn.expect, *turn.expect.get("any", [])]
            for expect in expectations:
                assert set(expect) <= scoring.EXPECTATION_KEYS, f"{case.id}: {set(expect) - scoring.EXPECTATION_KEYS}"
                assert set(expect.get("matches", {})) <= scoring.MATCH_KEYS, f"{case.id}: unknown match key"


@lru_cache(maxsize=None)
def _demo_items(kind: str) -> List[Dict[str, Any]]:
    if kind == "expert":
        return [{"_kind": "expert", "expert_id": key} for key in scoring._export("experts.csv", "expert_id")]
    return [{"_kind": "supplier", "product_id": key} for key in scoring._export("products.csv", "product_id")]


def test_every_requested_result_exists_in_the_demo_data():
    """A case asking for results asks for what the demo data holds (min_items of them)."""
    resolved = {kind: [scoring.resolve(i) for i in _demo_items(kind)] for kind in ("supplier", "expert")}
    for case in load_set().cases:
        for turn in case.turns:
            for expect in [turn.expect, *turn.expect.get("any", [])]:
                spec = expect.get("matches")
                if not spec:
                    continue
                wanted = max(spec.get("min_items", 1), 1)
                meeting = (i for i in resolved[spec.get("kind", "supplier")] if not scoring.violations(i, spec))
                assert len(list(islice(meeting, wanted))) == wanted, f"{case.id}: nothing in the data meets {spec}"


def test_every_missing_subject_is_missing_from_the_demo_data():
    """An honesty case's product or field really is absent, so saying so is the right answer."""
    subjects: Dict[str, List[Dict[str, Any]]] = {"supplier": [], "expert": []}
    for kind, keys in (("supplier", ("product_name", "category")), ("expert", ("fields", "research_areas"))):
        distinct = {tuple(str(scoring.resolve(i)[k]) for k in keys) for i in _demo_items(kind)}
        subjects[kind] = [{"product_name": a, "category": b} if kind == "supplier"
                          else {"fields": [a], "research_areas": [b]} for a, b in distinct]
    for case in load_set().cases:
        for turn in case.turns:
            absent = turn.expect.get("absent")
            if absent and absent["term"] != "院士":
                terms = [absent["term"], *absent.get("aliases", [])]
                found = [i for i in subjects[absent["kind"]] if scoring.subject_matches(i, terms)]
                assert not found, f"{case.id}: {absent['term']} is in the demo data"


# ---------------------------------------------------------------- the scorer (unit)


def _supplier_reply(text: str, *items: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [{"text": text}, {"custom": {"type": "supplier_matches", "items": list(items)}}]


def _product(name: str, **constraints: Any) -> Dict[str, Any]:
    """A demo product with ``name`` meeting ``constraints`` (region/city/min capacity)."""
    for product_id, row in scoring._export("products.csv", "product_id").items():
        item = scoring.resolve({"_kind": "supplier", "product_id": product_id})
        if row["name"] == name and not scoring.violations(item, constraints):
            return {"company_id": row["company_id"], "product_id": product_id, "name": item["name"]}
    raise AssertionError(f"no demo product {name} with {constraints}")


def test_figures_are_accepted_in_every_usual_form():
    variants = load_set().variants
    spellings = ("出资2,000万元", "出资2000万元", "funded with RMB 20 million", "出资两千万元", "出资20000000元")
    for text in spellings:
        assert scoring.contains_fact(scoring.normalise(text), "2000万", variants), text
    assert scoring.contains_fact(scoring.normalise("总规模 300 亿元"), "300亿", variants)
    assert scoring.contains_fact(scoring.normalise("a fund of 30 billion yuan"), "300亿", variants)
    assert scoring.contains_fact(scoring.normalise("2020年4月29日签约"), "2020-04-29", variants)
    assert scoring.contains_fact(scoring.normalise("signed on April 29, 2020"), "2020-04-29", variants)
    assert not scoring.contains_fact(scoring.normalise("2014年"), "14", variants)
    assert not scoring.contains_fact(scoring.normalise("出资200万元"), "2000万", variants)


def test_a_different_product_shown_as_a_match_is_a_silent_substitution():
    radar = _product("毫米波雷达")
    expect = {"absent": {"term": "激光雷达", "kind": "supplier"}}
    silent = scoring.judge(expect, _supplier_reply("平台上没有激光雷达供应商。", radar), [], {})
    assert silent.substitutions and not silent.passed
    labelled = {**radar, "alternative": True, "reason": "同属汽车电子：毫米波雷达"}
    honest = scoring.judge(expect, _supplier_reply("平台上没有激光雷达供应商，以下是相近的产品：", labelled), [], {})
    assert honest.passed, honest.problems
    unlabelled_reasonless = {**radar, "alternative": True}
    assert not scoring.judge(expect, _supplier_reply("没有激光雷达供应商", unlabelled_reasonless), [], {}).passed


def test_a_dropped_exclusion_or_capacity_is_a_silent_substitution():
    spec = {"kind": "supplier", "product": ["轮毂"], "place_in": ["四川"], "place_not": ["成都"], "min_capacity": 20000}
    chengdu = _product("铝合金轮毂", place_in=["成都"], min_capacity=20000)
    deyang = _product("铝合金轮毂", place_in=["德阳"], min_capacity=20000)
    small = _product("铝合金轮毂", place_in=["绵阳"])
    small_item = scoring.resolve({"_kind": "supplier", **small})
    assert scoring.judge({"matches": spec}, _supplier_reply("找到：", deyang), [], {}).passed
    assert scoring.judge({"matches": spec}, _supplier_reply("找到：", deyang, chengdu), [], {}).substitutions
    if small_item["annual_capacity"] < 20000:
        assert scoring.judge({"matches": spec}, _supplier_reply("找到：", small), [], {}).substitutions


def test_a_partial_answer_must_name_the_gap_and_offer_staff():
    expect = {"says": ["300亿"], "partial": True}
    full = [{"text": "基金总规模300亿元。\n公开资料没有说明申请方式，可以联系工作人员。",
             "buttons": [{"title": "转人工", "payload": "/request_human"}]}]
    assert scoring.judge(expect, full, [], {}).passed
    facts_only = [{"text": "基金总规模300亿元。"}]
    assert not scoring.judge(expect, facts_only, [], {}).passed


def test_english_means_mostly_latin_letters_apart_from_the_data_names():
    chinese = [{"text": "双城经济圈发展基金总规模300亿元。"}]
    english = [{"text": "The development fund totals 30 billion yuan (成渝地区双城经济圈发展基金)."}]
    assert not scoring.judge({"english": True}, chinese, [], {}).passed
    assert scoring.judge({"english": True, "says": ["300亿"]}, english, [], {}).passed


def test_gibberish_must_get_not_understood_with_help_and_no_results():
    help_reply = [{"text": "抱歉，我没有理解您的意思。例如可以问「发展基金规模多大」。"}]
    assert scoring.judge({"not_understood": True}, help_reply, [], {}).passed
    refinement = [{"text": "请先告诉我您要找什么，例如「找重庆的铝合金轮毂供应商」。"}]
    assert not scoring.judge({"not_understood": True}, refinement, [], {}).passed


def test_not_understanding_is_not_saying_the_data_lacks_it():
    expect = {"absent": {"term": "轮胎", "kind": "supplier"}}
    assert not scoring.judge(expect, [{"text": "抱歉，我没有理解您的意思：轮胎"}], [], {}).passed
    assert scoring.judge(expect, [{"text": "平台数据中没有轮胎供应商。"}], [], {}).passed
    assert not scoring.judge({"not_covered": True}, [{"text": "抱歉，我没有理解您的意思。"}], [], {}).passed


def test_follow_up_on_an_item_reads_the_previous_list():
    first, second = _product("铝合金轮毂", place_in=["重庆"]), _product("锻造铝合金轮毂", place_in=["重庆"])
    capacity = scoring.resolve({"_kind": "supplier", **second})["annual_capacity"]
    previous = [{**first, "_kind": "supplier"}, {**second, "_kind": "supplier"}]
    spec = {"item_fact": {"index": 2, "field": "annual_capacity"}}
    assert scoring.judge(spec, [{"text": f"第二家年产能 {capacity:,} 件"}], previous, {}).passed
    assert not scoring.judge(spec, [{"text": "请先告诉我您要找什么"}], previous, {}).passed


# ---------------------------------------------------------------- the assistant (stack)


def _play(stack: Stack, case: Case) -> List[Optional[List[Dict[str, Any]]]]:
    sender = f"quality-{case.id}-{uuid.uuid4().hex[:8]}"
    replies: List[Optional[List[Dict[str, Any]]]] = []
    for turn in case.turns:
        try:
            replies.append(send_rest(stack, sender, turn.user, timeout=120))
        except OSError:
            replies.append(None)
    return replies


@pytest.mark.quality
@pytest.mark.timeout(3600)
def test_conversation_quality_floors(assistant, capsys):
    conversation_set = load_set()
    with ThreadPoolExecutor(max_workers=PARALLEL_CONVERSATIONS) as pool:
        replies = list(pool.map(lambda case: _play(assistant, case), conversation_set.cases))
    results = [scoring.score_case(case, case_replies, conversation_set.variants)
               for case, case_replies in zip(conversation_set.cases, replies, strict=True)]
    summary = scoring.summarise(results)
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    with capsys.disabled():
        print("\n" + scoring.table(summary))

    assert summary["silent_substitution_cases"] == 0, summary["silent_substitutions"]
    below = {name: entry["ratio"] for name, entry in summary["categories"].items()
             if entry["ratio"] < entry["floor"]}
    assert not below, f"below the floor: {below} (see {RESULTS_PATH})"
