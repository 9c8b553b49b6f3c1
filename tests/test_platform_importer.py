"""Importer and data layer, on SQLite and on the PostgreSQL server (each test runs on both)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.platform import importer
from bot.platform.db import data_version, session_scope
from bot.platform.importer import ExportFormatError, import_export
from bot.platform.matching import PlatformIndex
from bot.platform.models import Company, Demand, Expert, Product
from bot.settings import PROJECT_ROOT
from tests.platform_fixtures import DEMO_EXPORT, small_export, write_export

TABLES = {"companies": Company, "products": Product, "demands": Demand, "experts": Expert}


def table_state(url: str):
    """Every row of the four imported tables, as plain tuples (including bookkeeping)."""
    state = {}
    with session_scope(url) as session:
        for name, model in TABLES.items():
            columns = list(model.__table__.columns)
            state[name] = sorted(tuple(row) for row in session.execute(select(*columns)))
    return state


def ids(url: str, model, *, retired: bool = False) -> set:
    key = list(model.__table__.primary_key.columns)[0]
    with session_scope(url) as session:
        return set(session.scalars(select(key).where(model.retired.is_(retired))))


def test_full_demo_export_imports_in_seconds_and_reimport_changes_nothing(empty_db_url):
    report = import_export(DEMO_EXPORT, empty_db_url)
    assert report.problems == []
    assert report.counts["experts"].inserted == 30000
    assert report.counts["companies"].inserted == 4000
    assert report.seconds < 60  # "seconds, not minutes" — bench/ has the real figures
    before = table_state(empty_db_url)
    version = _version(empty_db_url)

    again = import_export(DEMO_EXPORT, empty_db_url)
    assert not again.changed
    assert again.counts["experts"].unchanged == 30000
    assert table_state(empty_db_url) == before
    assert _version(empty_db_url) == version


def _version(url: str) -> int:
    with session_scope(url) as session:
        return data_version(session)


def _broken_export(tmp_path: Path) -> tuple[Path, dict]:
    """A small export with one bad row of every kind; returns (dir, good ids per table)."""
    rows = small_export()
    id_columns = (("companies", "company_id"), ("products", "product_id"), ("demands", "demand_id"),
                  ("experts", "expert_id"))
    good = {name: {r[key] for r in rows[name]} for name, key in id_columns}
    template_company = dict(rows["companies"][0])
    template_product = dict(rows["products"][0])
    template_expert = dict(rows["experts"][0])
    # companies.csv: data lines start at line 2; the bad rows are appended after 40 good ones.
    rows["companies"] += [
        {**template_company, "company_id": "C 1!", "name": "坏编号公司"},  # line 42
        {**template_company, "company_id": "C999001", "name": "云南某公司", "region": "云南"},  # line 43
        {**template_company, "company_id": rows["companies"][1]["company_id"], "name": "重复编号公司"},  # line 44
        {**template_company, "company_id": "C999002", "name": "人数不明公司", "employees": "很多"},  # line 45
    ]
    rows["products"] += [
        {**template_product, "product_id": "P999001", "annual_capacity": "大量"},
        {**template_product, "product_id": "P999002", "company_id": "C000404"},
        {**template_product, "product_id": "P999003", "company_id": "C999001"},  # its company was rejected
        {**template_product, "product_id": "", "name": "无编号产品"},
    ]
    rows["experts"].insert(-1, {**template_expert, "expert_id": rows["experts"][5]["expert_id"], "name": "重复专家"})
    directory = write_export(tmp_path / "broken", rows, encodings={"products": "gbk"})
    # experts.csv: cut the file in the middle of its last row (a truncated download).
    experts = directory / "experts.csv"
    text = experts.read_text(encoding="utf-8")
    experts.write_text(text[: text.rstrip("\n").rfind(",", 0, len(text) - 30)], encoding="utf-8")
    good["experts"].discard(rows["experts"][-1]["expert_id"])  # the cut row
    return directory, good


def test_broken_export_imports_every_good_row_and_reports_every_bad_one(empty_db_url, tmp_path):
    directory, good = _broken_export(tmp_path)
    report = import_export(directory, empty_db_url)
    problems = {(p.file, p.line): p.reason for p in report.problems}
    assert "company_id 不合法" in problems[("companies.csv", 42)]
    assert "region 未知" in problems[("companies.csv", 43)]
    assert "company_id 重复" in problems[("companies.csv", 44)] and "第 3 行" in problems[("companies.csv", 44)]
    assert "employees 不是整数" in problems[("companies.csv", 45)]
    n_products = len(good["products"])
    assert "annual_capacity 不是整数" in problems[("products.csv", n_products + 2)]
    assert "未知企业" in problems[("products.csv", n_products + 3)]
    assert "未知企业" in problems[("products.csv", n_products + 4)]
    assert "缺少 product_id" in problems[("products.csv", n_products + 5)]
    expert_problems = [p for p in report.problems if p.file == "experts.csv"]
    assert any("expert_id 重复" in p.reason for p in expert_problems)
    assert any("截断" in p.reason for p in expert_problems)
    assert len(report.problems) == 10
    assert any("GBK" in note and "products.csv" in note for note in report.notes)

    for name, model in TABLES.items():
        assert ids(empty_db_url, model) == good[name], name
    with session_scope(empty_db_url) as session:  # GBK text arrived intact
        product = session.get(Product, sorted(good["products"])[0])
        assert product.name and "\ufffd" not in product.description
        assert session.get(Company, small_export()["companies"][1]["company_id"]).name != "重复编号公司"


def test_newer_export_updates_by_id_retires_missing_rows_and_restores_them(empty_db_url, tmp_path):
    rows = small_export()
    import_export(write_export(tmp_path / "v1", rows), empty_db_url)
    renamed = rows["companies"][0]["company_id"]
    gone_product = rows["products"][0]["product_id"]
    gone_expert = rows["experts"][0]["expert_id"]
    newer = small_export()
    newer["companies"][0]["name"] = "更名后的科技有限公司"
    newer["products"] = [r for r in newer["products"] if r["product_id"] != gone_product]
    newer["experts"] = newer["experts"][1:]
    report = import_export(write_export(tmp_path / "v2", newer), empty_db_url)
    counts = report.counts
    assert (counts["companies"].updated, counts["products"].retired, counts["experts"].retired) == (1, 1, 1)
    assert report.counts["companies"].unchanged == len(rows["companies"]) - 1
    with session_scope(empty_db_url) as session:
        assert session.get(Company, renamed).name == "更名后的科技有限公司"
        assert session.get(Product, gone_product).retired  # kept for history, not matched
        assert session.get(Expert, gone_expert).retired
    index = PlatformIndex.load(empty_db_url)
    assert gone_expert not in {e.expert_id for e in index.experts}
    assert gone_product not in {p.product_id for p in index.snapshot.products}

    restored = import_export(tmp_path / "v1", empty_db_url)
    assert restored.counts["products"].updated == 1 and restored.counts["experts"].updated == 1
    assert gone_expert in ids(empty_db_url, Expert)


def test_a_crash_during_import_leaves_the_previous_data(empty_db_url, tmp_path, monkeypatch):
    rows = small_export()
    import_export(write_export(tmp_path / "v1", rows), empty_db_url)
    before = table_state(empty_db_url)
    newer = small_export()
    for row in newer["companies"]:
        row["description"] = "新版描述"
    newer["experts"] = newer["experts"][:10]
    real_sync = importer._sync_table

    def crash_on_experts(session, name, *args):
        if name == "experts":
            raise RuntimeError("power cut")
        return real_sync(session, name, *args)

    monkeypatch.setattr(importer, "_sync_table", crash_on_experts)
    with pytest.raises(RuntimeError):
        import_export(write_export(tmp_path / "v2", newer), empty_db_url)
    assert table_state(empty_db_url) == before


def test_missing_file_or_column_imports_nothing(empty_db_url, tmp_path):
    rows = small_export()
    directory = write_export(tmp_path / "export", rows)
    (directory / "demands.csv").unlink()
    with pytest.raises(ExportFormatError, match="demands.csv"):
        import_export(directory, empty_db_url)
    assert ids(empty_db_url, Company) == set()

    directory = write_export(tmp_path / "export2", rows)
    lines = (directory / "experts.csv").read_text(encoding="utf-8").split("\n")
    lines[0] = lines[0].replace("organization", "org")
    (directory / "experts.csv").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ExportFormatError, match="organization"):
        import_export(directory, empty_db_url)
    assert ids(empty_db_url, Company) == set()


def test_injection_looking_values_are_stored_as_text(empty_db_url, tmp_path):
    rows = small_export()
    rows["companies"][0]["name"] = "x'); DROP TABLE companies; --"
    rows["companies"][0]["description"] = "' OR '1'='1"
    import_export(write_export(tmp_path / "export", rows), empty_db_url)
    with session_scope(empty_db_url) as session:
        assert session.get(Company, rows["companies"][0]["company_id"]).name == "x'); DROP TABLE companies; --"
    assert len(ids(empty_db_url, Company)) == len(rows["companies"])


@pytest.mark.stack  # runs the CLI
def test_cli_imports_with_summary_and_reports_bad_rows(tmp_path):
    directory, good = _broken_export(tmp_path)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "import-export", str(directory), "--database-url", url],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 1, result.stderr
    assert "companies.csv:43: region 未知" in result.stdout
    assert f"companies: 读取 44 行，新增 {len(good['companies'])}" in result.stdout
    assert "写入数据库" in result.stderr  # the progress bar

    missing = subprocess.run(
        [sys.executable, "-m", "bot", "import-export", str(tmp_path / "nowhere"), "--database-url", url, "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert missing.returncode == 2 and "未导入任何数据" in missing.stderr
