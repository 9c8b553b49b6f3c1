"""Import the platforms' CSV export (format: ``docs/platform-export-format.md``).

``import_export(directory)`` reads ``companies.csv``, ``products.csv``,
``demands.csv`` and ``experts.csv`` and brings the database in line with them:

* every row that breaks the format is reported with file, line and reason, and every
  good row is still imported;
* the import is one transaction: a crash or a fatal error (missing file, missing
  column) leaves the previous data untouched;
* rows are keyed by the export's ids: unchanged rows are not written (re-importing
  the same export changes nothing), changed rows are updated, rows missing from the
  export are marked ``retired`` (and come back if a later export has them again);
* UTF-8 (with or without BOM) is expected; a file in GBK/GB18030 is decoded as such
  and the report says so;
* duplicate ids: the first good row wins, later ones are reported.

Writes are batched (one ``executemany`` per table and kind of change), so the
30,000-expert sample imports in seconds.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.platform.db import bump_data_version, data_version, session_scope, upgrade_to_head
from bot.platform.models import IMPORTED_MODELS, Company
from bot.settings import get_settings

EXPORT_FILES = ("companies", "products", "demands", "experts")
REGIONS = ("四川", "重庆")
DEMAND_REGIONS = ("四川", "重庆", "不限")
TITLE_LEVELS = ("正高级", "副高级", "中级", "初级")
DEMAND_STATUSES = ("open", "closed")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CERT_PATTERN = re.compile(r"^(IATF|ISO|TS|GB/T|GJB)\s*-?\s*(\d[\d.]*)(.*)$", re.IGNORECASE)
_WRITE_BATCH = 5000


class ExportFormatError(Exception):
    """The export cannot be imported at all (missing file or column); nothing was written."""


class RowError(ValueError):
    """One row breaks the format; the message is the reason shown to the operator."""


@dataclass(frozen=True)
class RowProblem:
    """A rejected row: where it is and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class TableCounts:
    """What an import did to one table."""

    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: int = 0
    rejected: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.retired


@dataclass
class ImportReport:
    """Outcome of :func:`import_export`: per-table counts, rejected rows, notes."""

    counts: Dict[str, TableCounts] = field(default_factory=lambda: {n: TableCounts() for n in EXPORT_FILES})
    problems: List[RowProblem] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    seconds: float = 0.0
    #: The database's ``data_version`` after the import.
    data_version: int = 0

    @property
    def changed(self) -> bool:
        """Whether the import changed any row."""
        return any(c.changed for c in self.counts.values())

    @property
    def rows_read(self) -> int:
        return sum(c.rows_read for c in self.counts.values())

    def summary(self) -> str:
        """Human-readable summary (Chinese, for the operator running the CLI)."""
        lines = []
        for name, c in self.counts.items():
            lines.append(
                f"{name}: 读取 {c.rows_read} 行，新增 {c.inserted}，更新 {c.updated}，"
                f"未变 {c.unchanged}，停用 {c.retired}，拒绝 {c.rejected}"
            )
        lines.extend(f"注意：{note}" for note in self.notes)
        if self.problems:
            lines.append(f"共 {len(self.problems)} 行有问题（未导入）：")
            lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)


# --------------------------------------------------------------------------- fields

def _clean(value: Optional[str]) -> str:
    return (value or "").strip()


def _required(row: Dict[str, str], column: str) -> str:
    value = _clean(row.get(column))
    if not value:
        raise RowError(f"缺少 {column}")
    return value


def _identifier(row: Dict[str, str], column: str) -> str:
    value = _required(row, column)
    if not _ID_PATTERN.match(value):
        raise RowError(f"{column} 不合法：{value!r}")
    return value


def _integer(row: Dict[str, str], column: str, *, required: bool, default: Optional[int] = None) -> Optional[int]:
    raw = unicodedata.normalize("NFKC", _clean(row.get(column))).replace(",", "").replace("_", "")
    if not raw:
        if required:
            raise RowError(f"缺少 {column}")
        return default
    if not raw.isdigit():
        raise RowError(f"{column} 不是整数：{_clean(row.get(column))!r}")
    return int(raw)


def _date(row: Dict[str, str], column: str) -> Optional[dt.date]:
    raw = unicodedata.normalize("NFKC", _clean(row.get(column)))
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise RowError(f"{column} 不是 ISO 日期（YYYY-MM-DD）：{raw!r}") from None


def _choice(value: str, allowed: Sequence[str], column: str) -> str:
    if value not in allowed:
        raise RowError(f"{column} 未知：{value!r}（应为 {'、'.join(allowed)}）")
    return value


def _region(row: Dict[str, str], column: str = "region", allowed: Sequence[str] = REGIONS) -> str:
    value = _clean(row.get(column))
    if value in ("四川省", "重庆市"):
        value = value[:-1]
    if not value:
        raise RowError(f"缺少 {column}")
    return _choice(value, allowed, column)


def _city(row: Dict[str, str], region: str) -> str:
    value = _clean(row.get("city"))
    if value.endswith("市") and len(value) > 2:
        value = value[:-1]
    if not value:
        raise RowError("缺少 city")
    if region == "重庆" and value != "重庆":
        raise RowError(f"重庆的 city 应为“重庆”：{value!r}")
    return value


def _split_list(value: Optional[str]) -> List[str]:
    items = unicodedata.normalize("NFKC", _clean(value)).replace("；", ";").split(";")
    seen: Dict[str, None] = {}
    for item in items:
        item = " ".join(item.split())
        if item:
            seen.setdefault(item, None)
    return list(seen)


def canonical_certification(name: str) -> str:
    """``iatf16949`` → ``IATF 16949``: one spelling per certificate, so filters match."""
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    match = _CERT_PATTERN.match(name)
    if match:
        return f"{match.group(1).upper()} {match.group(2)}{match.group(3)}"
    return name.upper() if name.isascii() else name


def _list_column(row: Dict[str, str], column: str) -> str:
    return ";".join(_split_list(row.get(column)))


# --------------------------------------------------------------------------- rows

def _company(row: Dict[str, str], _known: "KnownIds") -> Dict[str, object]:
    region = _region(row)
    return {
        "company_id": _identifier(row, "company_id"),
        "name": _required(row, "name"),
        "region": region,
        "city": _city(row, region),
        "district": _clean(row.get("district")),
        "industry_chain": _clean(row.get("industry_chain")),
        "role": _clean(row.get("role")),
        "certifications": ";".join(
            dict.fromkeys(canonical_certification(c) for c in _split_list(row.get("certifications")))
        ),
        "employees": _integer(row, "employees", required=False),
        "founded_year": _integer(row, "founded_year", required=False),
        "contact_name": _clean(row.get("contact_name")),
        "contact_phone": _clean(row.get("contact_phone")),
        "contact_email": _clean(row.get("contact_email")),
        "description": _clean(row.get("description")),
    }


def _known_company(row: Dict[str, str], known: "KnownIds") -> str:
    company_id = _identifier(row, "company_id")
    if company_id not in known.companies:
        raise RowError(f"company_id {company_id} 不在 companies.csv 的有效行中（未知企业）")
    return company_id


def _product(row: Dict[str, str], known: "KnownIds") -> Dict[str, object]:
    return {
        "product_id": _identifier(row, "product_id"),
        "company_id": _known_company(row, known),
        "name": _required(row, "name"),
        "category": _required(row, "category"),
        "keywords": _list_column(row, "keywords"),
        "annual_capacity": _integer(row, "annual_capacity", required=False),
        "unit": _clean(row.get("unit")),
        "description": _clean(row.get("description")),
    }


def _demand(row: Dict[str, str], known: "KnownIds") -> Dict[str, object]:
    return {
        "demand_id": _identifier(row, "demand_id"),
        "company_id": _known_company(row, known),
        "title": _required(row, "title"),
        "category": _required(row, "category"),
        "quantity": _integer(row, "quantity", required=False),
        "unit": _clean(row.get("unit")),
        "target_region": _region(row, "target_region", DEMAND_REGIONS),
        "deadline": _date(row, "deadline"),
        "status": _choice(_required(row, "status").lower(), DEMAND_STATUSES, "status"),
        "description": _clean(row.get("description")),
        "published_at": _date(row, "published_at"),
    }


_AVAILABLE = {"是": True, "否": False, "y": True, "n": False, "yes": True, "no": False,
              "true": True, "false": False, "1": True, "0": False}


def _expert(row: Dict[str, str], _known: "KnownIds") -> Dict[str, object]:
    region = _region(row)
    available = _AVAILABLE.get(_required(row, "available").lower())
    if available is None:
        raise RowError(f"available 应为 是/否：{_clean(row.get('available'))!r}")
    return {
        "expert_id": _identifier(row, "expert_id"),
        "name": _required(row, "name"),
        "gender": _clean(row.get("gender")),
        "title_level": _choice(_required(row, "title_level"), TITLE_LEVELS, "title_level"),
        "title": _clean(row.get("title")),
        "organization": _required(row, "organization"),
        "org_type": _clean(row.get("org_type")),
        "region": region,
        "city": _city(row, region),
        "fields": _list_column(row, "fields"),
        "research_areas": _list_column(row, "research_areas"),
        "honors": _list_column(row, "honors"),
        "review_count": _integer(row, "review_count", required=False, default=0),
        "available": available,
        "email": _clean(row.get("email")),
        "phone": _clean(row.get("phone")),
    }


@dataclass
class KnownIds:
    """Ids accepted so far in this export (products and demands must name a known company)."""

    companies: set = field(default_factory=set)


@dataclass(frozen=True)
class FileSpec:
    id_column: str
    required_columns: Tuple[str, ...]
    parse: Callable[[Dict[str, str], KnownIds], Dict[str, object]]
    unique_columns: Tuple[str, ...] = ()


FILE_SPECS: Dict[str, FileSpec] = {
    "companies": FileSpec("company_id", ("company_id", "name", "region", "city"), _company, ("name",)),
    "products": FileSpec("product_id", ("product_id", "company_id", "name", "category"), _product),
    "demands": FileSpec(
        "demand_id", ("demand_id", "company_id", "title", "category", "target_region", "status"), _demand
    ),
    "experts": FileSpec(
        "expert_id", ("expert_id", "name", "title_level", "organization", "region", "city", "available"), _expert
    ),
}


# --------------------------------------------------------------------------- reading

def _decode(path: Path, notes: List[str]) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        notes.append(f"{path.name} 既不是 UTF-8 也不是 GBK：无法解码的字符已替换，含替换字符的行被拒绝")
        return data.decode("utf-8", errors="replace")
    notes.append(f"{path.name} 是 GBK/GB18030 编码（应为 UTF-8），已按 GBK 读取")
    return text


def count_rows(directory: Path) -> int:
    """Number of data lines in the export (for the progress bar)."""
    total = 0
    for name in EXPORT_FILES:
        path = directory / f"{name}.csv"
        if path.exists():
            total += max(0, path.read_bytes().count(b"\n") - 1)
    return total


@dataclass
class ParsedFile:
    rows: Dict[str, Dict[str, object]]
    rows_read: int


def parse_file(
    directory: Path,
    name: str,
    known: KnownIds,
    problems: List[RowProblem],
    notes: List[str],
    on_row: Callable[[], object] = lambda: None,
) -> ParsedFile:
    """Read and validate one export file; bad rows go to ``problems``."""
    spec = FILE_SPECS[name]
    path = directory / f"{name}.csv"
    filename = path.name
    if not path.is_file():
        raise ExportFormatError(f"导出目录 {directory} 缺少 {filename}")
    text = _decode(path, notes)
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = [unicodedata.normalize("NFKC", h).strip().lower() for h in next(reader)]
    except StopIteration:
        raise ExportFormatError(f"{filename} 是空文件（没有表头）") from None
    missing = [c for c in spec.required_columns if c not in header]
    if missing:
        raise ExportFormatError(f"{filename} 缺少列：{', '.join(missing)}")
    ends_mid_row = bool(text) and not text.endswith(("\n", "\r"))

    rows: Dict[str, Dict[str, object]] = {}
    first_line: Dict[Tuple[str, object], int] = {}
    rows_read = 0
    line = reader.line_num
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(RowProblem(filename, start, f"CSV 格式错误：{error}"))
            line = reader.line_num
            continue
        line = reader.line_num
        if not record or not any(cell.strip() for cell in record):
            continue
        rows_read += 1
        on_row()
        try:
            if len(record) != len(header):
                truncated = ends_mid_row and line == text.count("\n") + 1
                hint = "（文件在此处中断，疑似被截断）" if truncated else ""
                raise RowError(f"应有 {len(header)} 列，实际 {len(record)} 列{hint}")
            if any("\ufffd" in cell for cell in record):
                raise RowError("含无法解码的字符")
            values = spec.parse(dict(zip(header, record, strict=True)), known)
            row_id = str(values[spec.id_column])
            for column in (spec.id_column,) + spec.unique_columns:
                key = (column, values[column])
                if key in first_line:
                    raise RowError(f"{column} 重复：{values[column]}（第 {first_line[key]} 行已有）")
        except RowError as error:
            problems.append(RowProblem(filename, start, str(error)))
            continue
        for column in (spec.id_column,) + spec.unique_columns:
            first_line[(column, values[column])] = start
        rows[row_id] = values
    if ends_mid_row:
        notes.append(f"{filename} 末尾没有换行符：最后一行可能不完整，请核对")
    if name == "companies":
        known.companies = set(rows)
    return ParsedFile(rows, rows_read)


# --------------------------------------------------------------------------- writing

def _chunks(items: List, size: int = _WRITE_BATCH) -> Iterable[List]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _sync_table(session: Session, name: str, parsed: ParsedFile, counts: TableCounts, now: dt.datetime) -> None:
    """Bring table ``name`` in line with the parsed rows: insert new, update changed,
    retire missing; unchanged rows are not written."""
    model = IMPORTED_MODELS[name]
    table = model.__table__
    spec = FILE_SPECS[name]
    id_col = table.c[spec.id_column]
    data_columns = [c.name for c in table.columns
                    if c.name not in (spec.id_column, "retired", "imported_at")]
    existing = {
        row[0]: (row[1], tuple(row[2:]))
        for row in session.execute(select(id_col, table.c.retired, *[table.c[c] for c in data_columns]))
    }

    inserts, updates = [], []
    for row_id, values in parsed.rows.items():
        current = existing.get(row_id)
        if current is None:
            inserts.append({**values, "retired": False, "imported_at": now})
            continue
        retired, stored = current
        if retired or stored != tuple(values[c] for c in data_columns):
            updates.append({f"b_{k}": v for k, v in values.items()})
        else:
            counts.unchanged += 1
    to_retire = [row_id for row_id, (retired, _) in existing.items()
                 if not retired and row_id not in parsed.rows]

    for batch in _chunks(inserts):
        session.execute(table.insert(), batch)
    if updates:
        statement = (
            update(table)
            .where(id_col == bindparam(f"b_{spec.id_column}"))
            .values({c: bindparam(f"b_{c}") for c in data_columns} | {"retired": False, "imported_at": now})
        )
        for batch in _chunks(updates):
            session.execute(statement, batch)
    for batch in _chunks(to_retire, 500):
        session.execute(update(table).where(id_col.in_(batch)).values(retired=True, imported_at=now))
    counts.inserted, counts.updated, counts.retired = len(inserts), len(updates), len(to_retire)


def import_export(directory: Path | str, url: Optional[str] = None, *, progress: bool = False) -> ImportReport:
    """Import the export in ``directory`` into the platform database (one transaction).

    Raises :class:`ExportFormatError` (nothing written) when a file or a required
    column is missing; every other problem is a rejected row in the report.
    ``progress`` shows a tqdm bar on stderr.
    """
    import time

    started = time.perf_counter()
    directory = Path(directory)
    report = ImportReport()
    upgrade_to_head(url)
    known = KnownIds()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count_rows(directory), unit="行", desc="读取导出", file=sys.stderr)
    tick = bar.update if bar is not None else (lambda: None)
    try:
        parsed = {}
        for name in EXPORT_FILES:
            parsed[name] = parse_file(directory, name, known, report.problems, report.notes, on_row=tick)
            counts = report.counts[name]
            counts.rows_read = parsed[name].rows_read
            counts.rejected = parsed[name].rows_read - len(parsed[name].rows)
        if bar is not None:
            bar.set_description("写入数据库")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        with session_scope(url) as session:
            for name in EXPORT_FILES:
                _sync_table(session, name, parsed[name], report.counts[name], now)
            report.data_version = bump_data_version(session) if report.changed else data_version(session)
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - started
    return report


def demo_export_dir() -> Path:
    """The demo export shipped with the project (a copy of the platforms' sample)."""
    return get_settings().platform_demo_export_dir


def ensure_demo_data(url: Optional[str] = None, *, progress: bool = False) -> Optional[ImportReport]:
    """Migrate the database and import the shipped demo export if it holds no company.

    Returns the import report, or ``None`` when data was already there. Called by
    ``python -m bot run`` so that a fresh checkout answers matching requests.
    """
    upgrade_to_head(url)
    with session_scope(url) as session:
        if session.execute(select(func.count()).select_from(Company)).scalar_one():
            return None
    return import_export(demo_export_dir(), url, progress=progress)
