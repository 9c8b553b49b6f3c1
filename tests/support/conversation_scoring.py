"""Scoring of the held-out conversation set (tests/data/conversation_quality.yml).

Pure functions over the REST webhook's replies (a list of Rasa messages per turn): no network,
so the scorer itself is tested in the unit tier. The YAML's header documents every expectation
key; this module is its one implementation.

Result items (supplier/expert matches) are judged on their fields; fields an item does not
carry are looked up by id in the demo export the running assistant imported
(``data_demo/platform-export``).
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SET_PATH = PROJECT_ROOT / "tests" / "data" / "conversation_quality.yml"
EXPORT_DIR = PROJECT_ROOT / "data_demo" / "platform-export"

#: Lowest share of cases that must pass, per category.
FLOORS: Dict[str, float] = {
    "policy_fact": 0.92,
    "followup": 0.90,
    "english": 0.85,
    "constraint": 0.85,
    "honesty": 0.85,
    "robustness": 0.85,
    "typo": 0.80,
    "gibberish": 0.90,
    "smalltalk": 0.90,
    "regression": 1.0,
}

EXPECTATION_KEYS = frozenset(
    {"says", "offers", "forbid", "matches", "absent", "partial", "not_covered", "staff", "english",
     "not_understood", "no_results", "suggests", "item_fact", "any"}
)
MATCH_KEYS = frozenset(
    {"kind", "product", "field", "place_in", "place_not", "min_capacity", "certs", "title_level",
     "honor", "org_not", "available", "new_items", "min_items"}
)

# A line saying something is not there / not covered (Chinese and English).
NEGATION = re.compile(
    r"没有|没找到|未找到|未能找到|找不到|查不到|未查到|暂无|暂未|尚无|尚未|无相关|未收录|没收录|不在|"
    r"未提供|未提及|没提到|未说明|没说明|未涉及|不涉及|未包含|不包含|未公布|没公布|未披露|未明确|没明确|"
    r"无法确认|无法提供|不掌握|\bno\b|\bnot\b|n't\b|\bnone\b|\bunable\b|\bcannot\b|\bwithout\b"
)
NOT_UNDERSTOOD = re.compile(
    r"没有理解|没理解|没能理解|不理解|无法理解|没听懂|没看懂|看不懂|不明白|没明白|不太懂|未能识别|无法识别|"
    r"understand|not sure what you mean|didn't get|did not get"
)
HELP_OFFER = re.compile(r"例如|比如|帮助|可以问|您可以|试试|e\.g\.|for example|help|\btry\b")
STAFF = re.compile(r"人工|工作人员|客服|staff|human|agent|colleague")
STAFF_PAYLOAD = ("/handoff", "/request_human")
DID_YOU_MEAN = re.compile(
    r"是不是|是否|您是说|你是说|您是指|是指|您要找的是|您想找的是|您想问的是|did you mean|do you mean"
)
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[a-z]")

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
UNIT_VALUES = {"万亿": 10**12, "亿": 10**8, "万": 10**4}


# ---------------------------------------------------------------- the set


@dataclass
class Turn:
    user: str
    expect: Dict[str, Any]


@dataclass
class Case:
    id: str
    category: str
    turns: List[Turn]
    tags: List[str] = field(default_factory=list)

    @property
    def single(self) -> bool:
        return len(self.turns) == 1


@dataclass
class ConversationSet:
    cases: List[Case]
    variants: Dict[str, List[str]]


@lru_cache(maxsize=None)
def load_set(path: Path = SET_PATH) -> ConversationSet:
    """The set (read once; treat it as read-only)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    cases = []
    for raw in data["cases"]:
        turns_raw = raw.get("turns") or [{"user": raw["user"], "expect": raw.get("expect")}]
        turns = [Turn(user=str(t["user"]), expect=t.get("expect") or {}) for t in turns_raw]
        cases.append(Case(id=raw["id"], category=raw["category"], turns=turns, tags=raw.get("tags", [])))
    variants = {str(k): [str(v) for v in vs] for k, vs in (data.get("variants") or {}).items()}
    return ConversationSet(cases=cases, variants=variants)


# ---------------------------------------------------------------- text


def normalise(text: str) -> str:
    """NFKC, lower case, no thousands separators, no markdown emphasis, no spaces around Chinese."""
    text = unicodedata.normalize("NFKC", text).lower().replace("*", "")
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"(?<=[\u4e00-\u9fff\d.%])\s+(?=[\u4e00-\u9fff])", "", text)
    return re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=\d)", "", text)


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def fact_forms(fact: str, variants: Dict[str, List[str]]) -> List[str]:
    """Every accepted spelling of ``fact`` (normalised): itself, the set's variants, and the usual
    forms of a figure with 万/亿/万亿 or of a date."""
    forms = [fact, *variants.get(fact, [])]
    figure = re.fullmatch(r"(\d+(?:\.\d+)?)(万亿|亿|万)", fact)
    if figure:
        value = float(figure.group(1)) * UNIT_VALUES[figure.group(2)]
        if value == int(value):
            forms.append(str(int(value)))
        for size, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
            if value >= size:
                forms.append(f"{_number(value / size)} {word}")
                if word == "billion":
                    forms.append(f"{_number(value / size)}bn")
                break
    date = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", fact)
    if date:
        year, month = int(date.group(1)), int(date.group(2))
        name = MONTHS[month - 1]
        if date.group(3):
            day = int(date.group(3))
            forms += [f"{year}年{month}月{day}日", f"{month}月{day}日", f"{year}/{month}/{day}",
                      f"{year}.{month}.{day}", f"{name} {day}, {year}", f"{name} {day} {year}",
                      f"{day} {name} {year}", f"{name[:3]} {day}, {year}", f"{day} {name[:3]} {year}",
                      f"{name} {day}", f"{day} {name}", f"{name[:3]} {day}", f"{name[:3]}. {day}"]
        else:
            forms += [f"{year}年{month}月", f"{year}/{month}", f"{year}.{month}", f"{name} {year}",
                      f"{name[:3]} {year}", f"{name[:3]}. {year}"]
    return [normalise(form) for form in dict.fromkeys(forms)]


def contains_fact(text: str, fact: str, variants: Dict[str, List[str]]) -> bool:
    for form in fact_forms(fact, variants):
        pattern = re.escape(form)
        if form[:1].isdigit():
            pattern = r"(?<![\d.])" + pattern
        if form[-1:].isdigit():
            pattern += r"(?!\d)"
        if re.search(pattern, text):
            return True
    return False


# ---------------------------------------------------------------- replies


def reply_texts(messages: Sequence[Dict[str, Any]]) -> List[str]:
    return [str(m["text"]) for m in messages if m.get("text")]


def buttons(messages: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [b for m in messages for b in (m.get("buttons") or []) if isinstance(b, dict)]


def result_items(messages: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The result items of the reply's custom payloads, each with ``_kind`` supplier or expert."""
    items = []
    for message in messages:
        custom = message.get("custom")
        if not isinstance(custom, dict) or not isinstance(custom.get("items"), list):
            continue
        kind_of_list = {"supplier_matches": "supplier", "expert_matches": "expert"}.get(str(custom.get("type")))
        for item in custom["items"]:
            if not isinstance(item, dict):
                continue
            kind = kind_of_list or ("expert" if "expert_id" in item else "supplier" if "company_id" in item else None)
            if kind:
                items.append({**item, "_kind": kind})
    return items


@lru_cache(maxsize=None)
def _export(name: str, key: str) -> Dict[str, Dict[str, str]]:
    with open(EXPORT_DIR / name, encoding="utf-8", newline="") as handle:
        return {row[key]: row for row in csv.DictReader(handle)}


def _split(value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part for part in re.split(r"[;；,，、]", str(value)) if part.strip()]


def resolve(item: Dict[str, Any]) -> Dict[str, Any]:
    """The item's fields, completed from the demo export by id where the payload lacks them."""
    if item["_kind"] == "expert":
        row = _export("experts.csv", "expert_id").get(str(item.get("expert_id")), {})
        return {
            "id": item.get("expert_id"),
            "name": item.get("name") or row.get("name", ""),
            "organization": item.get("organization") or item.get("organisation") or row.get("organization", ""),
            "fields": _split(item.get("fields") or row.get("fields")),
            "research_areas": _split(item.get("research_areas") or row.get("research_areas")),
            "title_level": item.get("title_level") or row.get("title_level", ""),
            "honors": _split(item.get("honors") or row.get("honors")),
            "available": item.get("available", row.get("available")),
            "region": item.get("region") or row.get("region", ""),
            "city": item.get("city") or row.get("city", ""),
            "district": "",
        }
    product = _export("products.csv", "product_id").get(str(item.get("product_id")), {})
    company = _export("companies.csv", "company_id").get(str(item.get("company_id") or product.get("company_id")), {})
    capacity = item.get("annual_capacity", product.get("annual_capacity"))
    return {
        "id": item.get("product_id") or item.get("company_id"),
        "name": item.get("name") or company.get("name", ""),
        "product_name": item.get("product_name") or product.get("name", ""),
        "category": item.get("category") or product.get("category", ""),
        "annual_capacity": int(capacity) if str(capacity or "").isdigit() else None,
        "certifications": _split(item.get("certifications") or company.get("certifications")),
        "region": item.get("region") or company.get("region", ""),
        "city": item.get("city") or company.get("city", ""),
        "district": item.get("district") or company.get("district", ""),
    }


def _has_any(haystack: Iterable[str], terms: Iterable[str]) -> bool:
    text = normalise(" ".join(haystack))
    return any(normalise(term) in text for term in terms)


def subject_matches(item: Dict[str, Any], terms: Sequence[str]) -> bool:
    """The item is the product/field asked for."""
    fields = item.get("fields", []) + item.get("research_areas", [])
    if "product_name" in item:
        fields = [item["product_name"], item["category"]]
    return _has_any(fields, terms)


def violations(item: Dict[str, Any], spec: Dict[str, Any]) -> List[str]:
    """The constraints of ``spec`` that the resolved ``item`` breaks."""
    broken = []
    places = [item["region"], item["city"], item["district"]]
    if spec.get("product") and not subject_matches(item, spec["product"]):
        broken.append(f"product {item.get('product_name')} is not {'/'.join(spec['product'])}")
    if spec.get("field") and not subject_matches(item, spec["field"]):
        broken.append(f"fields {item.get('fields')}{item.get('research_areas')} lack {'/'.join(spec['field'])}")
    if spec.get("place_in") and not any(p and p in place for p in spec["place_in"] for place in places):
        broken.append(f"place {'/'.join(p for p in places if p)} not in {'/'.join(spec['place_in'])}")
    if spec.get("place_not") and any(p in place for p in spec["place_not"] for place in places if place):
        broken.append(f"place {'/'.join(p for p in places if p)} excluded ({'/'.join(spec['place_not'])})")
    if spec.get("min_capacity"):
        capacity = item.get("annual_capacity")
        if capacity is None or capacity < spec["min_capacity"]:
            broken.append(f"capacity {capacity} < {spec['min_capacity']}")
    for cert in spec.get("certs", []):
        if normalise(cert).replace(" ", "") not in [normalise(c).replace(" ", "") for c in item["certifications"]]:
            broken.append(f"lacks certification {cert}")
    if spec.get("title_level") and item.get("title_level") not in spec["title_level"]:
        broken.append(f"title level {item.get('title_level')} not {'/'.join(spec['title_level'])}")
    if spec.get("honor") and spec["honor"] not in item.get("honors", []):
        broken.append(f"honours {item.get('honors')} lack {spec['honor']}")
    if spec.get("org_not") and any(o in item.get("organization", "") for o in spec["org_not"]):
        broken.append(f"organisation {item.get('organization')} excluded")
    if spec.get("available") and item.get("available") not in (True, "是", "true", "yes"):
        broken.append("not available")
    return broken


def is_alternative(item: Dict[str, Any]) -> bool:
    return item.get("alternative") is True


def has_reason(item: Dict[str, Any]) -> bool:
    return bool(item.get("reason") or item.get("reasons"))


# ---------------------------------------------------------------- judging one turn


@dataclass
class Verdict:
    problems: List[str] = field(default_factory=list)
    substitutions: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and not self.substitutions


def english_share(text: str, names: Iterable[str]) -> float:
    """Share of Latin letters among the reply's letters, leaving out the data's own names and
    quoted Chinese titles (a company's registered name is not a language choice)."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        text = text.replace(normalise(name), " ")
    text = re.sub(r"《[^》]*》|「[^」]*」|“[^”]*”", " ", text)
    latin, cjk = len(LATIN.findall(text)), len(CJK.findall(text))
    return latin / (latin + cjk) if latin + cjk else 0.0


def staff_offered(messages: Sequence[Dict[str, Any]], text: str) -> bool:
    for button in buttons(messages):
        title = normalise(str(button.get("title")))
        if str(button.get("payload", "")).startswith(STAFF_PAYLOAD) or STAFF.search(title):
            return True
    return bool(STAFF.search(text))


def judge(
    expect: Dict[str, Any],
    messages: Sequence[Dict[str, Any]],
    previous_items: Sequence[Dict[str, Any]],
    variants: Dict[str, List[str]],
) -> Verdict:
    """Does this turn's reply meet ``expect``? ``previous_items`` is the conversation's last
    result list before this turn (for 「第二家」「还有别的吗」)."""
    verdict = Verdict()
    lines = [normalise(line) for text in reply_texts(messages) for line in text.splitlines() if line.strip()]
    text = "\n".join(lines)
    items = [(raw, resolve(raw)) for raw in result_items(messages)]
    # Lines saying something is missing; "I did not understand" is not an answer about the data.
    gaps = [line for line in lines if NEGATION.search(line) and not NOT_UNDERSTOOD.search(line)]

    if "any" in expect:
        options = [judge(option, messages, previous_items, variants) for option in expect["any"]]
        best = next((o for o in options if o.passed), None)
        if best is None:
            verdict.problems.append(" OR ".join("; ".join(o.problems + o.substitutions) for o in options))
            # A substitution is one whichever reading of the case is taken.
            if all(o.substitutions for o in options):
                verdict.substitutions.extend(options[0].substitutions)
        rest = {k: v for k, v in expect.items() if k != "any"}
        if not rest:
            return verdict
        expect = rest

    for fact in expect.get("says", []):
        alternatives = fact if isinstance(fact, list) else [fact]
        if not any(contains_fact(text, str(a), variants) for a in alternatives):
            verdict.problems.append(f"does not say {' / '.join(map(str, alternatives))}")
    choices = normalise(" ".join(str(b.get("title", "")) for b in buttons(messages)) + "\n" + text)
    for offer in expect.get("offers", []):
        alternatives = offer if isinstance(offer, list) else [offer]
        if not any(normalise(str(a)) in choices for a in alternatives):
            verdict.problems.append(f"offers no choice of {' / '.join(map(str, alternatives))}")
    for banned in expect.get("forbid", []):
        if normalise(str(banned)) in text:
            verdict.problems.append(f"says {banned!r}")

    for raw, item in items:
        if is_alternative(raw) and not has_reason(raw):
            verdict.problems.append(f"alternative {item['id']} carries no reason")

    spec = expect.get("matches")
    if spec:
        kind = spec.get("kind", "supplier")
        listed = [(raw, item) for raw, item in items if raw["_kind"] == kind]
        matching = [(raw, item) for raw, item in listed if not is_alternative(raw)]
        if len(matching) < spec.get("min_items", 1):
            verdict.problems.append(f"{len(matching)} {kind} results (at least {spec.get('min_items', 1)} expected)")
        for _, item in matching:
            broken = violations(item, spec)
            if broken:
                verdict.substitutions.append(f"{item['id']} {item['name']}: {'; '.join(broken)}")
        if spec.get("new_items"):
            before = {resolve(raw)["id"] for raw in previous_items}
            repeated = [item["id"] for _, item in matching if item["id"] in before]
            if repeated:
                verdict.problems.append(f"repeats earlier results {repeated}")

    absent = expect.get("absent")
    if absent:
        terms = [absent["term"], *absent.get("aliases", [])]
        if not any(_has_any([line], terms) for line in gaps):
            verdict.problems.append(f"no line says that {absent['term']} is not in the data")
        for raw, item in items:
            if not is_alternative(raw) and not subject_matches(item, terms):
                subject = item.get("product_name") or "/".join(item.get("research_areas", []))
                verdict.substitutions.append(f"{item['id']} {item['name']} ({subject}) shown for {absent['term']}")

    if expect.get("partial") or expect.get("not_covered"):
        if not gaps:
            verdict.problems.append("does not say what the material does not cover")
    if (expect.get("partial") or expect.get("staff")) and not staff_offered(messages, text):
        verdict.problems.append("offers no staff")
    if expect.get("english"):
        names = [v for _, item in items for k, v in item.items() if isinstance(v, str) and k != "id"]
        share = english_share(text, names)
        if share < 0.6:
            verdict.problems.append(f"not English ({share:.0%} Latin letters)")
    if expect.get("not_understood"):
        if not NOT_UNDERSTOOD.search(text):
            verdict.problems.append("does not say it did not understand")
        elif not (buttons(messages) or HELP_OFFER.search(text)):
            verdict.problems.append("offers no help")
    if (expect.get("not_understood") or expect.get("no_results")) and items:
        verdict.problems.append(f"shows {len(items)} results")
    if expect.get("suggests"):
        term = normalise(expect["suggests"])
        if not any(term in line and DID_YOU_MEAN.search(line) for line in lines):
            verdict.problems.append(f"does not ask 'did you mean {expect['suggests']}?'")
    if expect.get("item_fact"):
        _judge_item_fact(expect["item_fact"], previous_items, text, verdict)
    return verdict


def _judge_item_fact(
    spec: Dict[str, Any], previous_items: Sequence[Dict[str, Any]], text: str, verdict: Verdict
) -> None:
    index, name = spec["index"], spec["field"]
    if len(previous_items) < index:
        verdict.problems.append(f"no item {index} in the previous list")
        return
    value = resolve(previous_items[index - 1]).get(name)
    if value in (None, ""):
        verdict.problems.append(f"item {index} has no {name}")
        return
    forms = [str(value)]
    if isinstance(value, int):
        if value % 10**8 == 0:
            forms.append(f"{_number(value / 10**8)}亿")
        if value >= 10**4:
            forms.append(f"{_number(value / 10**4)}万")
    if not any(contains_fact(text, form, {}) for form in forms):
        verdict.problems.append(f"does not state item {index}'s {name} ({value})")


# ---------------------------------------------------------------- one conversation


@dataclass
class CaseResult:
    case: Case
    failures: List[Dict[str, Any]] = field(default_factory=list)
    substitutions: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and not self.substitutions


def score_case(
    case: Case, replies: Sequence[Optional[Sequence[Dict[str, Any]]]], variants: Dict[str, List[str]]
) -> CaseResult:
    """Judge every turn of ``case`` given the assistant's replies (None: the request failed)."""
    result = CaseResult(case)
    last_items: List[Dict[str, Any]] = []
    for number, (turn, messages) in enumerate(zip(case.turns, replies, strict=True), start=1):
        if messages is None:
            result.failures.append({"turn": number, "user": turn.user, "problems": ["no reply"], "reply": ""})
            continue
        verdict = judge(turn.expect, messages, last_items, variants)
        if not verdict.passed:
            result.failures.append({
                "turn": number,
                "user": turn.user,
                "problems": verdict.problems + [f"silent substitution: {s}" for s in verdict.substitutions],
                "reply": " | ".join(reply_texts(messages))[:300],
            })
        result.substitutions.extend(verdict.substitutions)
        items = result_items(messages)
        if items:
            last_items = items
    return result


def summarise(results: Sequence[CaseResult]) -> Dict[str, Any]:
    """Per-category pass ratios against the floors, failures listed, silent substitutions counted."""
    categories: Dict[str, Dict[str, Any]] = {}
    for result in results:
        entry = categories.setdefault(result.case.category, {
            "cases": 0, "passed": 0, "floor": FLOORS.get(result.case.category), "failures": []})
        entry["cases"] += 1
        if result.passed:
            entry["passed"] += 1
        else:
            entry["failures"].append({"id": result.case.id, "turns": result.failures})
    for entry in categories.values():
        entry["ratio"] = round(entry["passed"] / entry["cases"], 3)
    tags: Dict[str, Dict[str, int]] = {}
    for result in results:
        for tag in result.case.tags:
            counts = tags.setdefault(tag, {"cases": 0, "passed": 0})
            counts["cases"] += 1
            counts["passed"] += result.passed
    substitutions = [{"id": r.case.id, "items": r.substitutions} for r in results if r.substitutions]
    below = [name for name, entry in categories.items()
             if entry["floor"] is not None and entry["ratio"] < entry["floor"]]
    if substitutions:
        below.append("silent_substitutions")
    return {
        "cases": len(results),
        "single_messages": sum(r.case.single for r in results),
        "conversations": sum(not r.case.single for r in results),
        "categories": dict(sorted(categories.items())),
        "tags": dict(sorted(tags.items())),
        "silent_substitution_cases": len(substitutions),
        "silent_substitutions": substitutions,
        "below_floor": below,
    }


def table(summary: Dict[str, Any]) -> str:
    rows = [f"{'category':<12} {'cases':>5} {'passed':>6} {'ratio':>6} {'floor':>6}"]
    for name, entry in summary["categories"].items():
        floor = "" if entry["floor"] is None else f"{entry['floor']:.2f}"
        rows.append(f"{name:<12} {entry['cases']:>5} {entry['passed']:>6} {entry['ratio']:>6.2f} {floor:>6}")
    rows.append("by style: " + ", ".join(f"{tag} {c['passed']}/{c['cases']}" for tag, c in summary["tags"].items()))
    rows.append(f"silent substitutions: {summary['silent_substitution_cases']} cases (must be 0)")
    for name, entry in summary["categories"].items():
        for failure in entry["failures"]:
            for turn in failure["turns"]:
                rows.append(f"  FAIL {name}/{failure['id']} turn {turn['turn']} 「{turn['user']}」: "
                            f"{'; '.join(turn['problems'])} — reply: {turn['reply'][:120]}")
    return "\n".join(rows)
