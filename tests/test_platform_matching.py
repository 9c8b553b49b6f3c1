"""Matching behaviour a user notices: synonyms, places, refinements, experts' rules."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from bot.platform.db import session_scope
from bot.platform.importer import import_export
from bot.platform.matching import PlatformIndex
from bot.platform.models import Company, Expert, Product
from bot.platform.understanding import parse_min_capacity, parse_panel_size
from tests.platform_fixtures import small_export, write_export


@pytest.mark.parametrize("text, product_or_category", [
    ("铝合金轮圈", "铝合金轮毂"), ("轮圈", "车轮/轮毂"), ("刹车卡钳", "制动卡钳"), ("刹车盘", "制动盘"),
    ("刹车", "底盘/制动系统"), ("电池包", "新能源/动力电池"), ("EPS", "电动助力转向(EPS)"),
    ("eps转向", "电动助力转向(EPS)"), ("PCB", "印制电路板(PCB)"), ("线路板", "印制電路板(PCB)".replace("電", "电")),
    ("车规级芯片", "车规级芯片"), ("方向机", "转向机"), ("避震", "减振器"), ("快充桩", "直流充电桩"),
    ("液晶屏", "LCD显示模组"), ("電池包", "新能源/动力电池"),  # traditional characters
])
def test_colloquial_words_find_the_platform_product(demo_index, text, product_or_category):
    query = demo_index.parser.parse_supplier_request(f"找{text}供应商")
    assert product_or_category in query.products + query.categories


def test_places_certificates_and_capacity_are_understood(demo_index):
    query = demo_index.parser.parse_supplier_request(
        "璧山的ＩＡＴＦ１６９４９认证厂家，做铝合金轮毂，年产能五十万件以上"
    )
    assert (query.region, query.district) == ("重庆", "璧山区")
    assert query.certifications == ["IATF 16949"]
    assert query.min_capacity == 500_000
    assert parse_min_capacity("月产能1万套") == 120_000
    assert parse_min_capacity("10年以上经验") is None
    assert parse_panel_size("需要五位评审专家") == 5


def test_chongqing_buyer_sees_marked_sichuan_options_unless_only_chongqing(demo_index):
    result = demo_index.find_suppliers("重庆的铝合金轮毂供应商")
    assert len(result.matches) == 5 and all(m.region == "重庆" for m in result.matches)
    assert result.cross_region and all(m.region == "四川" for m in result.cross_region)
    assert all(m.reasons[0].startswith("跨区域推荐") for m in result.cross_region)

    only = demo_index.find_suppliers("只要重庆的", previous=result.query)
    assert only.query.products == ["铝合金轮毂"] and only.cross_region == []
    assert all(m.region == "重庆" for m in only.matches)


def test_refinements_add_certificates_and_more_pages_without_repeats(demo_index, demo_db_url):
    first = demo_index.find_suppliers("找做刹车卡钳的")
    refined = demo_index.find_suppliers("要有IATF 16949", previous=first.query)
    assert refined.query.products == ["制动卡钳"] and refined.query.certifications == ["IATF 16949"]
    with session_scope(demo_db_url) as session:
        for match in refined.matches:
            assert "IATF 16949" in session.get(Company, match.company_id).certifications
    more = demo_index.find_suppliers("还有更多吗", previous=refined.query)
    assert more.query.page == 1 and len(more.matches) == 5
    assert not {m.company_id for m in more.matches} & {m.company_id for m in refined.matches}


def test_vague_request_needs_clarification(demo_index):
    assert demo_index.find_suppliers("帮我找几家靠谱的供应商").query.is_vague
    assert demo_index.find_experts("帮我找几个专家").query.is_vague


def test_minimum_capacity_is_respected(demo_index, demo_db_url):
    result = demo_index.find_suppliers("磷酸铁锂电池包，年产能100万以上")
    assert result.matches
    assert all(m.annual_capacity >= 1_000_000 for m in result.items)


def test_own_company_is_not_recommended_as_supplier(demo_index):
    first = demo_index.find_suppliers("找铝合金轮毂供应商").matches[0]
    again = demo_index.find_suppliers(f"我们是{first.name}，找铝合金轮毂供应商")
    assert first.company_id not in {m.company_id for m in again.items}


def test_experts_avoid_the_users_organisation_and_its_affiliates(demo_index):
    result = demo_index.find_experts("我是重医的，找10位临床医学方面的专家")
    organisations = {m.organization for m in result.matches}
    assert len(result.matches) == 10
    assert "重庆医科大学" not in organisations and "重庆医科大学附属第一医院" not in organisations


def test_a_panel_is_not_all_from_one_organisation(demo_index):
    for text in ("找5位院士做评审", "需要3位智能芯片方向的专家", "组一个8人的新材料评审组"):
        result = demo_index.find_experts(text)
        assert len(result.matches) == result.query.count
        assert len({m.organization for m in result.matches}) > 1, text


def test_expert_payloads_and_reasons_never_carry_contact_data(demo_index, demo_db_url):
    result = demo_index.find_experts("人工智能领域的院士")
    with session_scope(demo_db_url) as session:
        emails = {session.get(Expert, m.expert_id).email for m in result.matches}
    rendered = json.dumps([m.payload_item() for m in result.matches], ensure_ascii=False)
    assert set(result.matches[0].payload_item()) == {"expert_id", "name", "title", "organization", "reasons"}
    assert not any(email in rendered for email in emails) and "@" not in rendered


def test_fewer_reviews_first_among_equally_good_experts(tmp_path):
    rows = small_export(companies=5, experts=0)
    base = small_export(companies=1, experts=1)["experts"][0]
    profile = {**base, "fields": "智能制造", "research_areas": "工业机器人", "honors": "", "title_level": "正高级",
               "title": "教授", "available": "是", "region": "重庆", "city": "重庆"}
    rows["experts"] = [
        {**profile, "expert_id": "E9000001", "organization": "重庆大学", "review_count": "30"},
        {**profile, "expert_id": "E9000002", "organization": "四川大学", "review_count": "2"},
        {**profile, "expert_id": "E9000003", "organization": "西南大学", "review_count": "11"},
        {**profile, "expert_id": "E9000004", "organization": "重庆大学", "review_count": "0", "available": "否"},
    ]
    url = f"sqlite:///{tmp_path / 'experts.db'}"
    import_export(write_export(tmp_path / "export", rows), url)
    result = PlatformIndex.load(url).find_experts("工业机器人专家")
    assert [m.expert_id for m in result.matches] == ["E9000002", "E9000003", "E9000001"]


@pytest.mark.parametrize("text", [
    "'; DROP TABLE companies; --", "轮毂' OR '1'='1", "1; DELETE FROM experts WHERE 1=1",
    "<script>alert(1)</script>找刹车盘", "\x00\x1b[31m电池包", "轮毂" * 2000,
])
def test_injection_looking_requests_are_harmless(demo_index, demo_db_url, text):
    with session_scope(demo_db_url) as session:
        before = (session.scalar(select(func.count()).select_from(Company)),
                  session.scalar(select(func.count()).select_from(Expert)))
    demo_index.find_suppliers(text)
    demo_index.find_experts(text)
    with session_scope(demo_db_url) as session:
        after = (session.scalar(select(func.count()).select_from(Company)),
                 session.scalar(select(func.count()).select_from(Expert)))
    assert after == before


def test_index_reloads_when_an_import_changes_the_data(tmp_path, monkeypatch):
    from bot.platform import matching

    url = f"sqlite:///{tmp_path / 'reload.db'}"
    rows = small_export()
    import_export(write_export(tmp_path / "v1", rows), url)
    first = matching.get_index(url)
    assert matching.get_index(url) is first  # unchanged data: same index
    rows["products"] = rows["products"][1:]
    import_export(write_export(tmp_path / "v2", rows), url)
    second = matching.get_index(url, wait_for_new_data=True)
    assert second is not first and second.version == first.version + 1

    rows["experts"] = rows["experts"][1:]
    import_export(write_export(tmp_path / "v3", rows), url)
    interim = matching.get_index(url)  # the old index answers while the new one builds
    assert interim.version in (second.version, second.version + 1)
    deadline = time.monotonic() + 60
    while matching.get_index(url).version == second.version and time.monotonic() < deadline:
        time.sleep(0.05)
    assert matching.get_index(url).version == second.version + 1
    matching.forget_index(url)
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Product).where(Product.retired.is_(True))) == 1
