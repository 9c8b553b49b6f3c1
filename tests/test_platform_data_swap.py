"""After an import, a retired row is never offered; the new index replaces the old one whole.

Each test runs on SQLite and on the PostgreSQL server, as the importer tests do.
"""
from __future__ import annotations

import argparse
import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from bot.platform import matching
from bot.platform.cli import cmd_import_export
from bot.platform.db import served_data_version, session_scope
from bot.platform.importer import import_export
from bot.platform.publishing import matching_open_demands
from tests.platform_fixtures import small_export, write_export


@pytest.fixture
def held_rebuild(monkeypatch):
    """Background index rebuilds wait until the test sets the returned event."""
    release = threading.Event()
    load = matching.PlatformIndex.load

    def slow_load(url=None):
        if threading.current_thread().name == "platform-index-rebuild":
            release.wait(30)
        return load(url)

    monkeypatch.setattr(matching.PlatformIndex, "load", staticmethod(slow_load))
    yield release
    release.set()


def supplier_ids(index, text):
    result = index.find_suppliers(text)
    return {m.company_id for m in result.matches + result.cross_region}


def expert_ids(index, text):
    return {m.expert_id for m in index.find_experts(text).matches}


def test_rows_an_import_retires_are_never_offered_while_the_new_index_builds(empty_db_url, tmp_path, held_rebuild):
    url = empty_db_url
    rows = small_export(companies=40, experts=300)
    import_export(write_export(tmp_path / "v1", rows), url)
    matching.forget_index(url)
    old = matching.get_index(url)
    names = [p["name"] for p in rows["products"]]
    wanted = f"找{max(names, key=names.count)}供应商"
    gone_company = sorted(supplier_ids(old, wanted))[0]
    field = old.experts[0].fields[0]
    panel = f"找10位{field}领域的专家"
    gone_expert, busy_expert = sorted(expert_ids(old, panel))[:2]
    demand_company = next(d["company_id"] for d in rows["demands"] if d["company_id"] != gone_company)
    gone_demand = next(d for d in rows["demands"] if d["company_id"] == demand_company)

    rows["companies"] = [c for c in rows["companies"] if c["company_id"] != gone_company]
    rows["products"] = [p for p in rows["products"] if p["company_id"] != gone_company]
    rows["demands"] = [d for d in rows["demands"] if d["company_id"] != gone_company and d is not gone_demand]
    rows["experts"] = [e for e in rows["experts"] if e["expert_id"] != gone_expert]
    for expert in rows["experts"]:
        if expert["expert_id"] == busy_expert:
            expert["available"] = "否"
    report = import_export(write_export(tmp_path / "v2", rows), url)

    served = matching.get_index(url)  # the new index is still being built
    assert served.version == old.version
    assert gone_company not in supplier_ids(served, wanted) and supplier_ids(served, wanted)
    assert {gone_expert, busy_expert}.isdisjoint(expert_ids(served, panel)) and expert_ids(served, panel)
    query = served.parser.parse_supplier_request(gone_demand["category"])
    with session_scope(url) as session:
        offered = {d.demand_id for d in matching_open_demands(session, served, query, "不限",
                                                              today=dt.date(2026, 1, 1), limit=1000)}
        assert gone_demand["demand_id"] not in offered
        assert served_data_version(session) == old.version  # nothing claims the new data yet

    held_rebuild.set()
    deadline = time.monotonic() + 60
    while matching.get_index(url).version != report.data_version and time.monotonic() < deadline:
        time.sleep(0.05)
    new = matching.get_index(url)
    assert new.version == report.data_version and not new.withdrawn  # swapped in whole
    assert gone_company not in new.companies and gone_expert not in {e.expert_id for e in new.experts}
    with session_scope(url) as session:
        assert served_data_version(session) == report.data_version
    matching.forget_index(url)


def import_args(directory: Path, url: str, **options) -> argparse.Namespace:
    values = {"directory": directory, "database_url": url, "quiet": True, "wait": False, "wait_seconds": 30.0}
    return argparse.Namespace(**{**values, **options})


def test_import_command_says_when_the_new_data_is_served(empty_db_url, tmp_path, capsys):
    url = empty_db_url
    rows = small_export(companies=20, experts=50)
    assert cmd_import_export(import_args(write_export(tmp_path / "v1", rows), url)) == 0
    assert "--wait" in capsys.readouterr().out  # without --wait: how to wait for it

    matching.forget_index(url)
    matching.get_index(url)  # an assistant serving the first data
    stop = threading.Event()

    def assistant_following_the_data():
        while not stop.is_set():
            matching.get_index(url)
            time.sleep(0.1)

    follower = threading.Thread(target=assistant_following_the_data, daemon=True)
    follower.start()
    try:
        rows["experts"] = rows["experts"][1:]
        assert cmd_import_export(import_args(write_export(tmp_path / "v2", rows), url, wait=True)) == 0
    finally:
        stop.set()
        follower.join(10)
    assert "已在提供服务" in capsys.readouterr().out
    matching.forget_index(url)

    rows["experts"] = rows["experts"][1:]  # nothing follows the data any more
    status = cmd_import_export(import_args(write_export(tmp_path / "v3", rows), url, wait=True, wait_seconds=0.5))
    assert status == 3 and "动作服务器是否在运行" in capsys.readouterr().err
