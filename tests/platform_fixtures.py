"""Fixtures shared by the platform tests: demo database, small exports, SQLite + PostgreSQL.

tests/conftest.py loads this module as a plugin, so every test module can use its fixtures
by name; test modules import only its helpers. The demo database is built once per process,
so several modules share it.
"""
from __future__ import annotations

import atexit
import csv
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from bot.platform.importer import EXPORT_FILES, import_export
from bot.platform.matching import PlatformIndex
from bot.settings import PROJECT_ROOT

DEMO_EXPORT = PROJECT_ROOT / "data_demo" / "platform-export"


@functools.lru_cache(maxsize=1)
def demo_database_url() -> str:
    """URL of a temporary SQLite database holding the imported demo export."""
    directory = Path(tempfile.mkdtemp(prefix="cybot-platform-demo-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    url = f"sqlite:///{directory / 'platform.db'}"
    report = import_export(DEMO_EXPORT, url)
    assert not report.problems, report.summary()
    return url


@functools.lru_cache(maxsize=1)
def _demo_index() -> PlatformIndex:
    return PlatformIndex.load(demo_database_url())


@pytest.fixture(scope="session")
def demo_db_url() -> str:
    """The demo database (treat as read-only: other tests share it)."""
    return demo_database_url()


@pytest.fixture(scope="session")
def demo_index() -> PlatformIndex:
    """The matching index over the demo data."""
    return _demo_index()


# --------------------------------------------------------------------------- exports & databases

Rows = Dict[str, List[Dict[str, str]]]


def read_export(directory: Path = DEMO_EXPORT) -> Rows:
    """The export's rows as dicts, per file stem."""
    rows = {}
    for name in EXPORT_FILES:
        with open(directory / f"{name}.csv", encoding="utf-8", newline="") as handle:
            rows[name] = list(csv.DictReader(handle))
    return rows


@functools.lru_cache(maxsize=1)
def _sample_rows() -> Rows:
    return read_export()


def small_export(companies: int = 40, experts: int = 300) -> Rows:
    """A consistent slice of the demo export: some companies with their products and demands."""
    sample = _sample_rows()
    chosen = [dict(r) for r in sample["companies"][:companies]]
    ids = {r["company_id"] for r in chosen}
    return {
        "companies": chosen,
        "products": [dict(r) for r in sample["products"] if r["company_id"] in ids],
        "demands": [dict(r) for r in sample["demands"] if r["company_id"] in ids],
        "experts": [dict(r) for r in sample["experts"][:experts]],
    }


def write_export(directory: Path, rows: Rows, encodings: Dict[str, str] | None = None) -> Path:
    """Write ``rows`` as an export (header from the demo export) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    headers = {name: list(_sample_rows()[name][0].keys()) for name in EXPORT_FILES}
    for name in EXPORT_FILES:
        encoding = (encodings or {}).get(name, "utf-8")
        with open(directory / f"{name}.csv", "w", encoding=encoding, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=headers[name], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows[name])
    return directory


def _postgres_database(base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test module, dropped afterwards."""
    from bot.platform.db import scratch_postgres_database

    with scratch_postgres_database(base_url, "cybot_test_platform") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def empty_db_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty platform database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'platform.db'}"
        yield url
        from bot.platform.db import dispose_engine

        dispose_engine(url)
        return
    from tests.services import require_postgres

    yield from _postgres_database(require_postgres())


@pytest.fixture
def platform_url(tmp_path: Path, monkeypatch) -> str:
    """A private copy of the demo database, configured as the platform database."""
    source = Path(demo_database_url()[len("sqlite:///"):])
    target = tmp_path / "platform.db"
    shutil.copy(source, target)
    url = f"sqlite:///{target}"
    monkeypatch.setenv("PLATFORM_DATABASE_URL", url)
    return url
