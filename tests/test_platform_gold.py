"""Gold set: supplier and expert requests phrased like users, scored precision@5.

The expected answers are computed from the data with plain SQL filters (the
``expect`` of each request in tests/data/platform_gold.yml), independently of the
matching engine. Floors: precision@5 ≥ 0.9 for suppliers and for experts; zero
conflict-of-interest violations; only available experts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Set

import pytest
import yaml
from sqlalchemy import and_, or_, select

from bot.platform.db import session_scope
from bot.platform.models import Company, Expert, Product

GOLD = yaml.safe_load((Path(__file__).parent / "data" / "platform_gold.yml").read_text(encoding="utf-8"))
PRECISION_FLOOR = 0.9


def _list_contains(column, value: str):
    """``;``-separated list column holds ``value`` (as a whole item)."""
    wrapped = ";" + column + ";"
    return wrapped.like(f"%;{value};%")


def expected_companies(url: str, expect: Dict) -> Set[str]:
    conditions = [Company.retired.is_(False), Product.retired.is_(False)]
    if "product_names" in expect:
        conditions.append(Product.name.in_(expect["product_names"]))
    if "category" in expect:
        conditions.append(Product.category == expect["category"])
    for key in ("region", "city", "district"):
        if key in expect:
            conditions.append(getattr(Company, key) == expect[key])
    for cert in expect.get("certifications", []):
        conditions.append(_list_contains(Company.certifications, cert))
    if "min_capacity" in expect:
        conditions.append(Product.annual_capacity >= expect["min_capacity"])
    statement = (
        select(Company.company_id).join(Product, Product.company_id == Company.company_id).where(and_(*conditions))
    )
    with session_scope(url) as session:
        return set(session.scalars(statement))


def avoided_organizations(url: str, own: str) -> Set[str]:
    with session_scope(url) as session:
        organizations = set(session.scalars(select(Expert.organization).distinct()))
    return {org for org in organizations if own in org or org in own}


def expected_experts(url: str, expect: Dict) -> Set[str]:
    conditions = [Expert.retired.is_(False), Expert.available.is_(True)]
    for key, column in (("fields_any", Expert.fields), ("areas_any", Expert.research_areas),
                        ("honors_any", Expert.honors)):
        if key in expect:
            conditions.append(or_(*[_list_contains(column, v) for v in expect[key]]))
    for key, column in (("title_levels", Expert.title_level), ("titles", Expert.title),
                        ("org_types", Expert.org_type), ("only_orgs", Expert.organization)):
        if key in expect:
            conditions.append(column.in_(expect[key]))
    for key in ("region", "city", "gender"):
        if key in expect:
            conditions.append(getattr(Expert, key) == expect[key])
    if "avoid" in expect:
        conditions.append(Expert.organization.notin_(avoided_organizations(url, expect["avoid"])))
    with session_scope(url) as session:
        return set(session.scalars(select(Expert.expert_id).where(and_(*conditions))))


def precision_at_5(answer: List[str], expected: Set[str], wanted: int = 5) -> float:
    """Share of the top answers that are right; an answer shorter than it could be counts as misses."""
    slots = min(wanted, 5, len(expected))
    if slots == 0:
        return 1.0 if not answer else 0.0
    return sum(1 for item in answer[:slots] if item in expected) / slots


@pytest.fixture(scope="module")
def scored_suppliers(demo_index, demo_db_url):
    rows = []
    for case in GOLD["suppliers"]:
        result = demo_index.find_suppliers(case["text"])
        answer = [m.company_id for m in result.matches]
        expected = expected_companies(demo_db_url, case["expect"])
        rows.append((case["text"], precision_at_5(answer, expected), len(expected), result))
    return rows


@pytest.fixture(scope="module")
def scored_experts(demo_index, demo_db_url):
    rows = []
    for case in GOLD["experts"]:
        result = demo_index.find_experts(case["text"])
        answer = [m.expert_id for m in result.matches]
        expected = expected_experts(demo_db_url, case["expect"])
        rows.append((case, precision_at_5(answer, expected, result.query.count), len(expected), result))
    return rows


def test_gold_set_is_big_enough_and_answerable(scored_suppliers, scored_experts):
    assert len(GOLD["suppliers"]) >= 40 and len(GOLD["experts"]) >= 30
    assert all(n_expected > 0 for _, _, n_expected, _ in scored_suppliers)
    assert all(n_expected > 0 for _, _, n_expected, _ in scored_experts)


def test_supplier_precision_at_5(scored_suppliers):
    misses = [(text, p) for text, p, _, _ in scored_suppliers if p < 1]
    mean = sum(p for _, p, _, _ in scored_suppliers) / len(scored_suppliers)
    assert mean >= PRECISION_FLOOR, f"precision@5 {mean:.3f}; imperfect: {misses}"


def test_expert_precision_at_5(scored_experts):
    misses = [(case["text"], p) for case, p, _, _ in scored_experts if p < 1]
    mean = sum(p for _, p, _, _ in scored_experts) / len(scored_experts)
    assert mean >= PRECISION_FLOOR, f"precision@5 {mean:.3f}; imperfect: {misses}"


def test_no_conflict_of_interest_and_only_available_experts(scored_experts, demo_db_url):
    violations = []
    with session_scope(demo_db_url) as session:
        for case, _, _, result in scored_experts:
            expect = case["expect"]
            avoided = avoided_organizations(demo_db_url, expect["avoid"]) if "avoid" in expect else set()
            for match in result.matches:
                expert = session.get(Expert, match.expert_id)
                assert expert.available, f"{case['text']}: {match.expert_id} is not available"
                if expert.organization in avoided:
                    violations.append((case["text"], match.expert_id, expert.organization))
    assert violations == []


def test_every_supplier_answer_gives_reasons_and_registered_names(scored_suppliers, demo_db_url):
    with session_scope(demo_db_url) as session:
        for text, _, _, result in scored_suppliers:
            assert result.matches, text
            for match in result.items:
                assert session.get(Company, match.company_id).name == match.name
                assert any(r.startswith("产品：") for r in match.reasons)
                assert any(r.startswith("地点：") for r in match.reasons)
