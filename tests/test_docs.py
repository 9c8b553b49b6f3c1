"""The documents in docs/ describe what the code really reads and sends."""
from __future__ import annotations

import csv
import re
from typing import Dict, Set

from bot.platform.importer import EXPORT_FILES, FILE_SPECS
from bot.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
DEMO_EXPORT = PROJECT_ROOT / "data_demo" / "platform-export"


def documented_columns() -> Dict[str, Set[str]]:
    """``{file stem: columns}`` from the tables of docs/platform-export-format.md."""
    text = (DOCS / "platform-export-format.md").read_text(encoding="utf-8")
    columns: Dict[str, Set[str]] = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        if not title.endswith(".csv"):
            continue
        names = set()
        for first_cell in re.findall(r"^\| ([a-z_, ]+) \|", body, flags=re.MULTILINE):
            names.update(name.strip() for name in first_cell.split(","))
        names.discard("column")
        columns[title[: -len(".csv")]] = names
    return columns


def test_the_export_format_document_matches_the_demo_export_and_the_importer():
    columns = documented_columns()
    assert set(columns) == set(EXPORT_FILES)
    for name in EXPORT_FILES:
        with open(DEMO_EXPORT / f"{name}.csv", encoding="utf-8-sig", newline="") as handle:
            header = set(next(csv.reader(handle)))
        assert header == columns[name], name
        assert set(FILE_SPECS[name].required_columns) <= columns[name], name


def test_the_payload_document_names_every_key_the_cards_carry(demo_index):
    text = (DOCS / "payloads.md").read_text(encoding="utf-8")
    suppliers = demo_index.find_suppliers("铝合金轮毂").matches
    experts = demo_index.find_experts("智能制造方向的专家").matches
    assert suppliers and experts
    for item in (suppliers[0].payload_item(), experts[0].payload_item()):
        for key in item:
            assert f"`{key}`" in text, key


TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".ini", ".cfg", ".toml", ".sh", ".js", ".html", ".css", ".txt", ".json"}
SKIPPED_FOLDERS = {".git", ".venv", "node_modules", "models", "var", "results", ".cache", "vendor", "__pycache__"}
#: Work-item references and paths of one machine; spelled in pieces so this file passes.
FORBIDDEN = re.compile(
    r"\b(issue|goal of issue|item)\s+#?\d|" + "/" + r"(work|root|home)/|\.\./" + "shared", re.IGNORECASE
)


def test_code_and_docs_speak_of_the_product_only():
    offenders = []
    for path in sorted(PROJECT_ROOT.rglob("*")):
        relative = path.relative_to(PROJECT_ROOT)
        if SKIPPED_FOLDERS & set(relative.parts) or not path.is_file():
            continue
        if path.suffix not in TEXT_SUFFIXES and path.name not in {"Makefile", "run"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
